// The MQTT link on its own against a real broker: the Link contract (the one the fake
// in test/fakes/fake-link.ts passes too), subscriptions come back after a broker restart
// that lost every session, and reconnection waits per the backoff.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mqtt } from '../../cli-kit/mqtt-lib.js';
import { createRequire } from 'node:module';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { MqttLink, topicMatches } from '../../agent/adapters/mqtt-link.js';
import { createLogger } from '../../agent/log.js';
import { linkContract, type CentreMessage } from '../contract/link.contract.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker(); // not persistent: a restart forgets every session
});
after(async () => {
  await broker.close();
});

function link(clientId: string, backoff = { minMs: 300, maxMs: 600 }) {
  return new MqttLink({
    url: broker.url,
    clientId,
    insecureSkipVerify: false,
    version: broker.supportsV5 ? 5 : '3.1.1',
    keepaliveS: 30,
    sessionExpiryS: 86_400,
    connectTimeoutS: 5,
    backoff,
    will: { topic: `t/${clientId}/status`, payload: '{"online":false}' },
    log: createLogger({ level: 'silent', pretty: false }),
  });
}

async function publishFromCentre(topic: string, payload: string, retain = false): Promise<void> {
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  await c.publishAsync(topic, payload, { qos: 1, retain });
  await c.endAsync();
}

linkContract('MqttLink', async (prefix) => {
  const l = link(`contract-${prefix.split('/').pop()}`, { minMs: 100, maxMs: 300 });
  // The centre: a plain mqtt.js client that saw everything under the prefix since now.
  const centre = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const seen: CentreMessage[] = [];
  centre.on('message', (topic, payload, packet) =>
    seen.push({ topic, payload: payload.toString('utf8'), retain: packet.retain }),
  );
  await centre.subscribeAsync(`${prefix}/#`, { qos: 1 });
  return {
    link: l,
    publish: (topic, payload, opts) => publishFromCentre(topic, payload, opts?.retain ?? false),
    received: (filter) => seen.filter((m) => topicMatches(filter, m.topic)),
    outage: () => broker.stop(),
    restore: () => broker.start(),
    close: async () => {
      await l.stop();
      await centre.endAsync(true);
    },
  };
});

function until<T>(check: () => T | undefined, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const i = setInterval(() => {
      const v = check();
      if (v !== undefined) {
        clearInterval(i);
        resolve(v);
      } else if (Date.now() - t0 > ms) {
        clearInterval(i);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 20);
  });
}

test('subscriptions are renewed after a broker restart that lost the session', async () => {
  const l = link('resub-box');
  const got: string[] = [];
  const ups: boolean[] = [];
  l.on('up', ({ sessionPresent }) => ups.push(sessionPresent));
  l.subscribe(['loa/v1/d/resub-box/cmd'], (_t, payload) => got.push(payload.toString()));
  l.start();
  try {
    await until(() => (ups.length >= 1 ? true : undefined), 10_000, 'first connection');
    await new Promise((r) => setTimeout(r, 200));
    await publishFromCentre('loa/v1/d/resub-box/cmd', 'one');
    await until(() => (got.includes('one') ? true : undefined), 5000, 'message before restart');

    await broker.stop();
    await until(() => (l.connected ? undefined : true), 5000, 'link to notice');
    await assert.rejects(
      l.publish('x', 'y', { qos: 1, retain: false }),
      (e: Error & { code?: string }) => e.code === 'MQTT_OFFLINE',
    );
    await broker.start();
    await until(() => (ups.length >= 2 ? true : undefined), 10_000, 'reconnection');
    assert.equal(ups[1], false, 'the restarted broker kept no session');
    await new Promise((r) => setTimeout(r, 200));
    await publishFromCentre('loa/v1/d/resub-box/cmd', 'two');
    await until(() => (got.includes('two') ? true : undefined), 5000, 'message after restart');
  } finally {
    await l.stop();
  }
});

test('while the broker is down, retries are spaced by the backoff, not a fixed period', async () => {
  await broker.stop();
  const l = link('backoff-box');
  const attempts: number[] = [];
  l.on('down', () => attempts.push(Date.now()));
  l.start();
  try {
    await until(() => (attempts.length >= 5 ? true : undefined), 15_000, '5 failed attempts');
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    // minMs 300, maxMs 600: every gap is below 600 ms plus connection time, and they vary.
    for (const g of gaps) assert.ok(g < 600 + 500, `gap ${g} ms`);
    assert.ok(new Set(gaps.map((g) => Math.round(g / 25))).size > 1, `jittered gaps ${gaps.join(', ')}`);
  } finally {
    await l.stop();
    await broker.start();
  }
});

test('the link keeps mqtt-packet from pre-building a Buffer for each of the 65,536 packet ids (6 MB of heap)', async () => {
  const l = link('no-write-cache');
  const up = new Promise<void>((r) => l.once('up', () => r()));
  l.start();
  await up;
  await l.publish('t/no-write-cache/x', 'y', { qos: 1, retain: false });
  // The copy of mqtt-packet that mqtt.js itself loaded.
  const packet = createRequire(createRequire(import.meta.url).resolve('mqtt'))('mqtt-packet') as {
    writeToStream: { cacheNumbers: boolean };
  };
  assert.equal(packet.writeToStream.cacheNumbers, false);
  await l.stop();
});
