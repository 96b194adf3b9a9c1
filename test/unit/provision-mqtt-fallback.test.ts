// loa-provision's broker connection against a real MQTT 3.1.1-only broker (aedes, the
// demo's embedded broker, in-process): a config that asks for MQTT 5 (the default)
// falls back to 3.1.1 with one line that says what it means for the agent; `check`
// fails the broker line (the agent does not fall back); --mqtt-version forces either.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { parseConfig } from '../../agent/config.js';
import { BrokerError, closeClient, connectBroker, forceVersion, targetFromConfig } from '../../provisioning/broker.js';
import { checkBroker } from '../../provisioning/checks.js';
import { main } from '../../provisioning/cli.js';
import { memoryIo } from '../../provisioning/io.js';
import { writeConfig } from '../helpers/agent-process.js';
import { startAedes, type TestBroker } from '../helpers/broker.js';
import { tempDir } from '../helpers/tmp.js';
import { say, type Text } from '../../provisioning/text.js';

/** What the report, the JSON and the tests read: the English of a Text. */
const en = (t: Text) => say('en', t);

let aedes: TestBroker;
let url: string;
before(async () => {
  aedes = await startAedes();
  url = aedes.url;
});
after(() => aedes.close());

const config = (version?: '3.1.1' | 5) =>
  parseConfig({
    deviceId: 'fb-box',
    mqtt: { url, ...(version ? { version } : {}) },
    stateDir: '/tmp/x',
    cacheDir: '/tmp/y',
  });

test('config asks for MQTT 5 (the default): refused, connected with 3.1.1, one line saying what the agent needs', async () => {
  const t = targetFromConfig(config());
  const said: string[] = [];
  const c = await connectBroker(t, { timeoutMs: 5000, onFallback: (l) => void said.push(en(l)) });
  try {
    assert.equal(c.version, '3.1.1');
    assert.match(c.refusedV5 ?? '', /protocol version/i);
    assert.equal(c.client.options.protocolVersion, 4);
    assert.equal(said.length, 1);
    assert.match(
      said[0]!,
      /^loa-provision: mqtt:\/\/127\.0\.0\.1:\d+ refused MQTT 5 \(.*\); connected with MQTT 3\.1\.1; the agent's config asks for MQTT 5 and would be refused too: loa-provision init --mqtt-version 3\.1\.1$/,
    );
  } finally {
    await closeClient(c.client);
  }
});

test('config says 3.1.1: connects at once, nothing said', async () => {
  const said: string[] = [];
  const c = await connectBroker(targetFromConfig(config('3.1.1')), {
    timeoutMs: 5000,
    onFallback: (l) => void said.push(en(l)),
  });
  assert.deepEqual([c.version, c.refusedV5, said], ['3.1.1', undefined, []]);
  await closeClient(c.client);
});

test('--mqtt-version 5 forces 5: the MQTT stage fails with the version hint, no fallback', async () => {
  const t = forceVersion(targetFromConfig(config('3.1.1')), '5');
  const said: string[] = [];
  await assert.rejects(
    connectBroker(t, { timeoutMs: 5000, onFallback: (l) => void said.push(en(l)) }),
    (err: unknown) => {
      assert.ok(err instanceof BrokerError);
      assert.equal(err.failure.stage, 'mqtt');
      assert.match(en(err.failure.detail), /does not speak MQTT 5 \(CONNACK 1\)/);
      return true;
    },
  );
  assert.deepEqual(said, []);
  assert.throws(() => forceVersion(t, '4'), /--mqtt-version must be 5 or 3\.1\.1/);
});

test('check: the broker line fails when only 3.1.1 works and the config asks for 5 (the agent would be refused)', async () => {
  const r = await checkBroker(targetFromConfig(config()), { timeoutMs: 5000, clockSynced: true });
  try {
    assert.equal(r.outcome.status, 'fail', JSON.stringify(r.outcome));
    assert.match(en(r.outcome.detail), /MQTT 3\.1\.1 as fb-box\.provision .*MQTT 5 was refused/);
    assert.match(en(r.outcome.hint ?? ''), /loa-provision init --mqtt-version 3\.1\.1/);
    assert.ok(r.connected, 'the connection is kept (check --publish still sends its report)');
  } finally {
    if (r.connected) await closeClient(r.connected.client);
  }
  const ok = await checkBroker(targetFromConfig(config('3.1.1')), { timeoutMs: 5000, clockSynced: true });
  assert.equal(ok.outcome.status, 'ok');
  await closeClient(ok.connected!.client);
});

test('loa-provision show against the demo broker with no flag: exit 0, the fallback said on stderr', async () => {
  const dir = tempDir('prov-fallback');
  const path = writeConfig(dir, {
    deviceId: 'fb-box',
    mqtt: { url },
    stateDir: `${dir}/state`,
    cacheDir: `${dir}/cache`,
  });
  const io = memoryIo(new PassThrough());
  assert.equal(await main(['show', '--config', path], io), 0, io.errOut() + io.out());
  assert.match(io.errOut(), /refused MQTT 5 .*connected with MQTT 3\.1\.1/);
  assert.equal(
    io
      .errOut()
      .split('\n')
      .filter((l) => /refused MQTT 5/.test(l)).length,
    1,
  );
  const forced = memoryIo(new PassThrough());
  assert.equal(await main(['show', '--config', path, '--mqtt-version', '3.1.1'], forced), 0, forced.errOut());
  assert.doesNotMatch(forced.errOut(), /refused/);
});
