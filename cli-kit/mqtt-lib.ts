// mqtt.js, loaded with require() rather than an ES import. Measured on the 2-core machine
// (Node 20, issue 27): `import mqtt from 'mqtt'` costs 215 ms of CPU and 125 ms of wall
// time, require('mqtt') 87 ms and 69 ms. An ES import of a CommonJS package has each
// module its entry re-exports lexed for named exports, and mqtt's entry re-exports a
// dozen. Every start of the agent, noc and loa-provision paid it. Types still come from
// `import type … from 'mqtt'`. Not in cli-kit/index.ts: only what connects loads it.
import { createRequire } from 'node:module';

export const mqtt = createRequire(import.meta.url)('mqtt') as typeof import('mqtt');
