// The shared connect helper of `noc` against a real MQTT 3.1.1-only broker (aedes, the
// demo's embedded broker, in-process): without --mqtt-version it falls back from 5 to
// 3.1.1 and says so in one line; --mqtt-version forces either, without fallback. And
// against Mosquitto (MQTT 5): no fallback, nothing said.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { brokerConfig, closeClient, connect, refusedVersion, settleVersion } from '../../noc/mqtt.js';
import { Failure } from '../../cli-kit/index.js';
import { startAedes, startBroker, type TestBroker } from '../helpers/broker.js';

let aedes: TestBroker;
let url: string;
before(async () => {
  aedes = await startAedes();
  url = aedes.url;
});
after(() => aedes.close());

const cfgFor = (u: string, extra: Record<string, string> = {}) => {
  const said: string[] = [];
  const cfg = brokerConfig({ broker: u, 'connect-timeout': 5, ...extra }, {}, (l) => void said.push(l));
  return { cfg, said };
};

test('refusedVersion: CONNACK 1 (3.1.1) and 132 (5) mean "not this protocol"; other refusals do not', () => {
  assert.equal(refusedVersion(Object.assign(new Error('x'), { code: 1 })), true);
  assert.equal(refusedVersion(Object.assign(new Error('x'), { code: 132 })), true);
  for (const code of [4, 5, 134, 135, 'ECONNREFUSED', undefined])
    assert.equal(refusedVersion(Object.assign(new Error('x'), { code })), false);
});

test('no --mqtt-version: a 3.1.1-only broker refuses 5, noc connects with 3.1.1 and says so in one line', async () => {
  const { cfg, said } = cfgFor(url);
  assert.equal(cfg.versionForced, false);
  const client = await connect(cfg);
  try {
    assert.equal(client.connected, true);
    assert.equal(client.options.protocolVersion, 4);
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(said[0]!, /refused MQTT 5 \(.*protocol version.*\); connected with MQTT 3\.1\.1/i);
    // It works: a round trip through the broker.
    await client.subscribeAsync('t/x', { qos: 1 });
    const got = new Promise<string>((r) => client.once('message', (_t, p) => r(p.toString())));
    await client.publishAsync('t/x', 'hello', { qos: 1 });
    assert.equal(await got, 'hello');
  } finally {
    await closeClient(client);
  }
});

test('the fallback drops MQTT 5 properties (a persistent session of noc events) and keeps reconnecting with 3.1.1', async () => {
  const { cfg, said } = cfgFor(url);
  const client = await connect(cfg, {
    clientId: 'fallback-events',
    clean: false,
    reconnectPeriod: 500,
    properties: { sessionExpiryInterval: 3600 },
  });
  try {
    assert.equal(client.options.protocolVersion, 4);
    assert.equal(client.options.properties, undefined);
    assert.equal(client.options.reconnectPeriod, 500);
    assert.equal(said.length, 1);
  } finally {
    await closeClient(client);
  }
});

test('--mqtt-version 5 forces 5: refused, one error line that says why, no fallback', async () => {
  const { cfg, said } = cfgFor(url, { 'mqtt-version': '5' });
  assert.equal(cfg.versionForced, true);
  await assert.rejects(
    connect(cfg),
    (err: unknown) =>
      err instanceof Failure && /cannot connect to mqtt:\/\/127\.0\.0\.1:\d+: .*protocol version/i.test(err.message),
  );
  assert.deepEqual(said, []);
});

test('--mqtt-version 3.1.1 forces 3.1.1: connects at once, nothing said', async () => {
  const { cfg, said } = cfgFor(url, { 'mqtt-version': '3.1.1' });
  const client = await connect(cfg);
  assert.equal(client.options.protocolVersion, 4);
  assert.deepEqual(said, []);
  await closeClient(client);
});

test('settleVersion (noc simulate): finds 3.1.1 once, then forces it for every box', async () => {
  const { cfg, said } = cfgFor(url);
  const settled = await settleVersion(cfg);
  assert.equal(settled.options.protocolVersion, 4);
  assert.equal(settled.versionForced, true);
  assert.equal(said.length, 1);
  const client = await connect(settled);
  assert.equal(said.length, 1, 'no second notice');
  await closeClient(client);
});

test('a refusal that is not about the version is not retried with 3.1.1', async () => {
  const { cfg, said } = cfgFor('mqtt://127.0.0.1:1'); // nothing listens on port 1
  await assert.rejects(
    connect(cfg),
    (err: unknown) => err instanceof Failure && /connection refused/.test(err.message),
  );
  assert.deepEqual(said, []);
});

test('a broker that speaks 5 (Mosquitto): connected with 5, nothing said', async (t) => {
  const broker = await startBroker();
  try {
    if (!broker.supportsV5)
      return t.skip(
        'mosquitto not installed: only it speaks MQTT 5 here (apt-get install mosquitto; under CI=true a missing mosquitto is a failure, not a skip)',
      );
    const { cfg, said } = cfgFor(broker.url);
    const client = await connect(cfg);
    assert.equal(client.options.protocolVersion, 5);
    assert.deepEqual(said, []);
    await closeClient(client);
  } finally {
    await broker.close();
  }
});
