// `npm start`: the agent on its embedded default, with no setup. An in-process MQTT
// broker (aedes, MQTT 3.1.1) on 127.0.0.1, the simulated board, a state directory
// under the system temp dir, and a "centre" that prints what the box sends, so a
// newcomer sees birth, heartbeats and events scroll by.
import { createServer, type Server } from 'node:net';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { generateKeyPairSync } from 'node:crypto';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { CompactSign } from 'jose';
import { parseConfig, type Config } from './config.js';
import { LoaError } from './errors.js';
import type { Logger } from './log.js';

export interface Demo {
  config: Config;
  stop(): Promise<void>;
}

export async function startDemo(log: Logger, port = 1883): Promise<Demo> {
  const broker = await Aedes.createBroker();
  const server = createServer((socket) => {
    socket.setNoDelay(true); // FINDINGS: aedes answers in 88 ms per round trip without it
    broker.handle(socket);
  });
  const actualPort = await listen(server, port).catch(() => listen(server, 0));
  const stateDir = join(tmpdir(), 'loa-demo');
  mkdirSync(stateDir, { recursive: true });
  // The demo is its own centre: a signing key made now, trusted by the box's config.
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const kid = 'demo-centre';
  const config = parseConfig({
    deviceId: 'demo-box-01',
    groups: ['all', 'p79', 'c26734'],
    site: { communeName: 'Demo commune', communeCode: '26734', lat: 10.7769, lon: 106.7009, installer: 'npm start' },
    mqtt: { url: `mqtt://127.0.0.1:${actualPort}`, version: '3.1.1', reconnect: { minS: 1, maxS: 10 } },
    stateDir: join(stateDir, 'state'),
    cacheDir: join(stateDir, 'cache'),
    heartbeatS: 10,
    trustedKeys: [{ kid, publicKey: publicKey.export({ format: 'jwk' }).x! }],
    hardware: { board: 'sim' },
  });
  // A signed schedule, retained on the commune's group topic: a relay every minute and,
  // 45 s from now, an emergency bulletin that preempts it.
  const now = Date.now();
  const doc = {
    type: 'schedule',
    id: 'demo-c26734',
    version: Math.floor(now / 1000), // newer on every run: the box's anti-replay accepts it
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 86_400_000).toISOString(),
    target: { groups: ['c26734'] },
    timezone: 'Asia/Ho_Chi_Minh',
    items: [
      { id: 'relay-every-minute', source: { kind: 'line' }, cron: '* * * * *', durationS: 30, priority: 50 },
      { id: 'typhoon-warning', source: { kind: 'line' }, at: new Date(Math.ceil((now + 45_000) / 1000) * 1000).toISOString(), durationS: 20, priority: 100 },
    ],
  };
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(doc)))
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'loa-schedule+json' })
    .sign(privateKey);
  const centre = mqtt.connect(`mqtt://127.0.0.1:${actualPort}`, { clientId: 'demo-centre', protocolVersion: 4 });
  const clog = log.child({ mod: 'centre' });
  centre.on('connect', () => {
    centre.subscribe(`${config.topicRoot}/d/#`);
    centre.publish(`${config.topicRoot}/g/c26734/schedule`, jws, { qos: 1, retain: true });
  });
  centre.on('message', (topic, payload) => {
    const text = payload.toString();
    clog.info({ topic, bytes: payload.length }, text.length > 160 ? `${text.slice(0, 157)}...` : text);
  });
  log.info(
    { port: actualPort, stateDir },
    `demo broker on mqtt://127.0.0.1:${actualPort}; watch with: mosquitto_sub -p ${actualPort} -t '${config.topicRoot}/#' -v`,
  );
  return {
    config,
    async stop() {
      await centre.endAsync();
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(new LoaError('DEMO_BROKER', `cannot listen on 127.0.0.1:${port}: ${err.message}`, { cause: err }));
    };
    const onListening = () => {
      server.off('error', onError);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, '127.0.0.1');
  });
}
