// The anchor of `npm run bench -- memory wear`: the least an agent can be, a node process
// that only connects mqtt.js and logs with pino, run with the same V8 flags as the built
// agent against the same Mosquitto. Plain JavaScript (no build, no tsx), like dist/.
//   node <flags> bench/bare.mjs <broker url> <client id> [heartbeat s] [no-write-cache]
// `no-write-cache`: with mqtt.js's writeCache off, as the agent has it (adapters/mqtt-link.ts),
// for a stricter anchor than the library's defaults.
// Like the agent: MQTT 5 with a persistent session, a retained birth, a subscription,
// and a small QoS 0 heartbeat every [heartbeat s] (so the wire and the logs compare).
import mqtt from 'mqtt';
import { pino } from 'pino';

const [url, clientId, hb = '30', cache] = process.argv.slice(2);
const log = pino({ name: 'bare', base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
const status = `bare/${clientId}/status`;
const client = mqtt.connect(url, {
  clientId,
  clean: false,
  protocolVersion: 5,
  keepalive: 60,
  properties: { sessionExpiryInterval: 3600 },
  ...(cache === 'no-write-cache' ? { writeCache: false } : {}),
  will: { topic: status, payload: Buffer.from('{"online":false}'), qos: 1, retain: true },
});
client.on('connect', () => {
  log.info({ url }, 'mqtt connected');
  client.subscribe([`bare/${clientId}/cmd`], { qos: 1 });
  client.publish(status, JSON.stringify({ online: true, at: new Date().toISOString() }), { qos: 1, retain: true });
});
client.on('error', (err) => log.error({ err }, 'mqtt error'));
setInterval(
  () => {
    if (client.connected)
      client.publish(
        `bare/${clientId}/heartbeat`,
        JSON.stringify({ ts: new Date().toISOString(), uptimeS: Math.round(process.uptime()) }),
        { qos: 0 },
      );
  },
  Number(hb) * 1000,
);
process.on('SIGTERM', () => client.end(false, () => process.exit(0)));
