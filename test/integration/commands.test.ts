// Signed commands end to end (contract §4) through a real Mosquitto: every action, the
// refusals (expired, replayed, wrong target, unknown key, bad signature, unparseable),
// one result per command, at most once across a restart, restart/reboot under a
// service manager, and the emergency path with real mpg123 (paced output).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import mqtt from 'mqtt';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { DEFAULT_ROOT, deviceFilter, deviceTopic, groupTopic, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { makeKey, sign, forge, type TestKey } from '../helpers/signer.js';
import { spawnAgent, writeConfig } from '../helpers/agent-process.js';
import { audioTools, makeTone } from '../helpers/audio.js';
import { parseConfig, type ConfigInput } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import { Agent } from '../../agent/compose/agent.js';
import { SimBoard } from '../../agent/adapters/sim-board.js';

const tools = audioTools();
const noAudio =
  tools.mpg123 && tools.sox && tools.lame ? false : 'needs mpg123, sox and lame (apt-get install mpg123 sox lame)';
if (noAudio && process.env.CI === 'true') throw new Error(String(noAudio));

const centreKey = makeKey('centre-2026');
const strangerKey = makeKey('stranger');
let broker: TestBroker;
let server: Server;
let base = '';
let tone: Buffer = Buffer.alloc(0);
before(async () => {
  broker = await startBroker();
  if (!noAudio) tone = readFileSync(makeTone({ seconds: 3 }));
  server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': tone.length });
    res.end(tone);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  await broker.close();
  server.close();
});

function command(
  deviceId: string,
  action: string,
  args: Record<string, unknown> = {},
  over: Record<string, unknown> = {},
) {
  return {
    type: 'command',
    id: randomUUID(),
    issuedAt: new Date(Date.now() - 1000).toISOString(),
    expiresAt: new Date(Date.now() + 300_000).toISOString(),
    target: { devices: [deviceId] },
    action,
    args,
    ...over,
  };
}

let n = 0;
function configFor(dir: string, deviceId: string, over: Partial<ConfigInput> = {}): ConfigInput {
  return {
    deviceId,
    groups: ['c26734'],
    mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1', reconnect: { minS: 1, maxS: 2 } },
    trustedKeys: [{ kid: centreKey.kid, publicKey: centreKey.publicKey }],
    stateDir: join(dir, 'state'),
    cacheDir: join(dir, 'cache'),
    heartbeatS: 5,
    hardware: { ampWarmUpMs: 500, ampHoldMs: 300 },
    audio: { player: noAudio ? 'stand-in' : 'mpg123', output: 'paced' },
    outbox: { synchronous: 'normal' },
    ...over,
  };
}

async function rig() {
  const deviceId = `cmd-box-${++n}`;
  const dir = tempDir('cmd');
  const board = new SimBoard();
  const config = parseConfig(configFor(dir, deviceId));
  const agent = new Agent({ config, log: createLogger({ level: 'silent', pretty: false }), board });
  const centre = await Watcher.connect(broker.url, [deviceFilter(DEFAULT_ROOT, deviceId)]);
  await agent.start();
  await centre.waitFor((m) => m.topic.endsWith('/status') && m.json().online === true, 10_000, 'birth');
  const pub = mqtt.connect(broker.url);
  await new Promise((r) => pub.once('connect', r));
  const send = async (
    doc: Record<string, unknown> | string,
    key: TestKey = centreKey,
    topic = deviceTopic(DEFAULT_ROOT, deviceId, 'cmd'),
  ) => {
    const payload = typeof doc === 'string' ? doc : await sign(doc, key, { typ: 'loa-command+json' });
    await pub.publishAsync(topic, payload, { qos: 1 });
  };
  const results = () =>
    centre.messages.filter((m) => m.topic === deviceTopic(DEFAULT_ROOT, deviceId, 'cmd/result')).map((m) => m.json());
  const result = (cmdId: string, ms = 10_000) =>
    centre.waitUntil(() => results().find((r) => r.cmdId === cmdId), ms, `result of ${cmdId}`);
  const events = (type: string) =>
    centre.messages
      .filter((m) => m.topic.endsWith('/events'))
      .map((m) => m.json())
      .filter((e) => e.type === type);
  return {
    deviceId,
    dir,
    agent,
    board,
    centre,
    send,
    result,
    results,
    events,
    config,
    async close(stopAgent = true) {
      if (stopAgent) await agent.stop();
      await pub.endAsync();
      await centre.client.endAsync();
    },
  };
}

test('ping answers with the full birth and heartbeat; one result per command', async () => {
  const r = await rig();
  const c = command(r.deviceId, 'ping');
  await r.send(c);
  const res = await r.result(c.id);
  assert.equal(res.ok, true);
  const body = res.result as { birth: Record<string, unknown>; heartbeat: Record<string, unknown> };
  assert.equal(body.birth.bootId, r.agent.bootId);
  assert.equal(body.birth.online, true);
  assert.equal(body.heartbeat.state, 'idle');
  assert.equal(typeof res.ts, 'string');
  await new Promise((res2) => setTimeout(res2, 300));
  assert.equal(r.results().filter((x) => x.cmdId === c.id).length, 1);
  await r.close();
});

test('refusals: expired, replayed, wrong target, unknown key, bad signature, wrong typ, invalid args; unparseable is an event', async () => {
  const r = await rig();
  const expired = command(
    r.deviceId,
    'ping',
    {},
    { issuedAt: new Date(Date.now() - 600_000).toISOString(), expiresAt: new Date(Date.now() - 1000).toISOString() },
  );
  await r.send(expired);
  assert.deepEqual(((await r.result(expired.id)).error as { code: string }).code, 'expired');

  const once = command(r.deviceId, 'volume', { level: 30 });
  await r.send(once);
  assert.equal((await r.result(once.id)).ok, true);
  await r.send(once);
  await r.centre.waitUntil(
    () => (r.results().filter((x) => x.cmdId === once.id).length === 2 ? true : undefined),
    10_000,
    'second result',
  );
  const second = r.results().filter((x) => x.cmdId === once.id)[1]!;
  assert.equal(second.ok, false);
  assert.equal((second.error as { code: string }).code, 'duplicate');

  const other = command('someone-else', 'ping');
  await r.send(other);
  assert.equal(((await r.result(other.id)).error as { code: string }).code, 'target');

  const stranger = command(r.deviceId, 'ping');
  await r.send(stranger, strangerKey);
  assert.equal(((await r.result(stranger.id)).error as { code: string }).code, 'unknown-key');

  const forged = command(r.deviceId, 'volume', { level: 100 });
  await r.send(forge(forged, { alg: 'EdDSA', kid: centreKey.kid, typ: 'loa-command+json' }));
  assert.equal(((await r.result(forged.id)).error as { code: string }).code, 'signature');
  // The forged id reserved nothing: the real command with that id still runs.
  await r.send(forged);
  await r.centre.waitUntil(
    () => r.results().find((x) => x.cmdId === forged.id && x.ok === true),
    10_000,
    'genuine command after the forgery',
  );

  const asSchedule = command(r.deviceId, 'ping');
  await r.send(await sign(asSchedule, centreKey)); // typ loa-schedule+json on a command topic
  assert.equal(((await r.result(asSchedule.id)).error as { code: string }).code, 'invalid');

  const badArgs = command(r.deviceId, 'volume', { level: 250 });
  await r.send(badArgs);
  const bad = await r.result(badArgs.id);
  assert.equal((bad.error as { code: string }).code, 'invalid');
  assert.match(String((bad.error as { message: string }).message), /args\.level/);

  await r.send('this is not a JWS at all');
  const ev = await r.centre.waitUntil(() => r.events('cmd.rejected')[0], 10_000, 'cmd.rejected event');
  assert.equal(ev.reason, 'invalid');
  assert.equal(r.agent.heartbeat !== undefined, true);
  await r.close();
});

test('a group command runs; volume persists across a restart; sync and selftest answer', async () => {
  const r = await rig();
  const vol = command(r.deviceId, 'volume', { level: 40 }, { target: { groups: ['c26734'] } });
  await r.send(vol, centreKey, groupTopic(DEFAULT_ROOT, 'c26734', 'cmd'));
  assert.equal((await r.result(vol.id)).ok, true);
  await r.centre.waitUntil(
    () =>
      r.centre.messages
        .filter((m) => m.topic.endsWith('/heartbeat'))
        .map((m) => m.json())
        .find((h) => h.volume === 40),
    10_000,
    'heartbeat volume 40',
  );

  const sync = command(r.deviceId, 'sync');
  await r.send(sync);
  const s = await r.result(sync.id);
  assert.equal(s.ok, true);
  assert.ok((s.result as Record<string, unknown>).cache);

  const st = command(r.deviceId, 'selftest');
  await r.send(st);
  const t = await r.result(st.id, 15_000);
  assert.equal(t.ok, true);
  const checks = (t.result as { checks: { name: string; ok: boolean }[] }).checks;
  assert.ok(
    checks.some((c) => c.name === 'cache' && c.ok),
    JSON.stringify(checks),
  );
  assert.ok(checks.some((c) => c.name === 'board'));

  // A new agent on the same state directory: same volume, and the id is still remembered.
  await r.agent.stop();
  const again = new Agent({
    config: r.config,
    log: createLogger({ level: 'silent', pretty: false }),
    board: new SimBoard(),
  });
  await again.start();
  const hb = await again.heartbeat.snapshot();
  assert.equal(hb.volume, 40);
  await r.centre.waitUntil(() => (again.link.connected ? true : undefined), 10_000, 'reconnected');
  const before = r.results().length;
  await r.send(vol, centreKey, groupTopic(DEFAULT_ROOT, 'c26734', 'cmd'));
  const dup = await r.centre.waitUntil(
    () =>
      r
        .results()
        .slice(before)
        .find((x) => x.cmdId === vol.id),
    10_000,
    'result after restart',
  );
  assert.equal((dup.error as { code: string }).code, 'duplicate');
  await again.stop();
  await r.close(false);
});

test('emergency play (stream, priority 100) starts fast, preempts, and stop ends it', { skip: noAudio }, async () => {
  const r = await rig();
  const normal = command(r.deviceId, 'play', {
    source: { kind: 'stream', url: `${base}/normal.mp3` },
    durationS: 30,
    priority: 50,
  });
  await r.send(normal);
  assert.equal((await r.result(normal.id)).ok, true);
  const t0 = Date.now();
  const alarm = command(r.deviceId, 'play', {
    source: { kind: 'stream', url: `${base}/alarm.mp3` },
    durationS: 30,
    priority: 100,
    volume: 100,
  });
  await r.send(alarm);
  const res = await r.result(alarm.id);
  assert.equal(res.ok, true, JSON.stringify(res));
  assert.equal((res.result as { state: string }).state, 'started');
  const ms = Date.parse(String((res.result as { startedAt: string }).startedAt)) - t0;
  assert.ok(ms < 3000, `emergency audio ${ms} ms after the command was published`);
  const started = await r.centre.waitUntil(
    () => r.events('play.started').find((e) => e.cmdId === alarm.id),
    10_000,
    'play.started with cmdId',
  );
  assert.equal(started.itemId, alarm.id);
  assert.equal(started.docId, null);
  assert.equal(started.priority, 100);
  const pre = await r.centre.waitUntil(
    () => r.events('play.interrupted').find((e) => e.cmdId === normal.id),
    10_000,
    'normal preempted',
  );
  assert.equal(pre.reason, 'preempted');
  assert.equal(r.board.state().amp, true);

  const stop = command(r.deviceId, 'stop');
  await r.send(stop);
  const sres = await r.result(stop.id);
  assert.deepEqual(sres.result, { stopped: 1 });
  const intr = await r.centre.waitUntil(
    () => r.events('play.interrupted').find((e) => e.cmdId === alarm.id),
    10_000,
    'alarm stopped',
  );
  assert.equal(intr.reason, 'stopped');
  await r.centre.waitUntil(() => (r.board.state().amp ? undefined : true), 5000, 'amp off after stop');
  await r.close();
});

test(
  'play of a file: the media are fetched and verified first, then played; a wrong hash fails the command',
  { skip: noAudio },
  async () => {
    const r = await rig();
    const sha = createHash('sha256').update(tone).digest('hex');
    const media = [{ id: 'alert', url: `${base}/alert.mp3`, sha256: sha, bytes: tone.length }];
    const c = command(r.deviceId, 'play', { source: { kind: 'file', media: ['alert'] }, media, priority: 75 });
    await r.send(c);
    const res = await r.result(c.id, 20_000);
    assert.equal(res.ok, true, JSON.stringify(res));
    await r.centre.waitUntil(() => r.events('play.finished').find((e) => e.cmdId === c.id), 15_000, 'file finished');
    assert.ok(r.events('media.cached').some((e) => e.sha256 === sha));

    const wrong = command(
      r.deviceId,
      'play',
      {
        source: { kind: 'file', media: ['x'] },
        media: [{ id: 'x', url: `${base}/x.mp3`, sha256: 'a'.repeat(64), bytes: tone.length }],
      },
      { expiresAt: new Date(Date.now() + 4000).toISOString() },
    );
    await r.send(wrong);
    const wres = await r.result(wrong.id, 15_000);
    assert.equal(wres.ok, false);
    assert.equal((wres.error as { code: string }).code, 'media');
    await r.close();
  },
);

test('restart and reboot: refused without a service manager', async () => {
  const r = await rig();
  for (const action of ['restart', 'reboot']) {
    const c = command(r.deviceId, action);
    await r.send(c);
    const res = await r.result(c.id);
    assert.equal(res.ok, false);
    assert.equal((res.error as { code: string }).code, 'unsupported');
  }
  await r.close();
});

test('under systemd: restart answers, stops cleanly and exits 75; reboot silences and writes the request file', async () => {
  const deviceId = `cmd-proc-${++n}`;
  const dir = tempDir('cmd-proc');
  const run = join(dir, 'run');
  const cfg = writeConfig(dir, configFor(dir, deviceId, { audio: { player: 'stand-in' } }));
  const centre = await Watcher.connect(broker.url, [deviceFilter(DEFAULT_ROOT, deviceId)]);
  const pub = mqtt.connect(broker.url);
  await new Promise((res) => pub.once('connect', res));
  const env = { INVOCATION_ID: 'test-invocation', RUNTIME_DIRECTORY: run };
  const results = () => centre.messages.filter((m) => m.topic.endsWith('/cmd/result')).map((m) => m.json());

  let agent = spawnAgent(['--config', cfg], env);
  await agent.waitForLog(/birth published/, 20_000);
  const restart = command(deviceId, 'restart');
  await pub.publishAsync(
    deviceTopic(DEFAULT_ROOT, deviceId, 'cmd'),
    await sign(restart, centreKey, { typ: 'loa-command+json' }),
    { qos: 1 },
  );
  const code = await agent.exited();
  assert.equal(code, 75, agent.output().slice(-2000));
  const res = await centre.waitUntil(() => results().find((x) => x.cmdId === restart.id), 10_000, 'restart result');
  assert.equal(res.ok, true);
  await centre.waitUntil(
    () => centre.messages.find((m) => m.topic.endsWith('/status') && m.json().reason === 'shutdown'),
    10_000,
    'clean death',
  );

  agent = spawnAgent(['--config', cfg], env);
  await agent.waitForLog(/birth published/, 20_000);
  const reboot = command(deviceId, 'reboot');
  await pub.publishAsync(
    deviceTopic(DEFAULT_ROOT, deviceId, 'cmd'),
    await sign(reboot, centreKey, { typ: 'loa-command+json' }),
    { qos: 1 },
  );
  const rb = await centre.waitUntil(() => results().find((x) => x.cmdId === reboot.id), 10_000, 'reboot result');
  assert.equal(rb.ok, true);
  await centre.waitUntil(
    () => (existsSync(join(run, 'reboot-request')) ? true : undefined),
    10_000,
    'reboot request file',
  );
  assert.match(readFileSync(join(run, 'reboot-request'), 'utf8'), /reboot requested/);
  // The restart command was remembered across the restart: sending it again is a duplicate.
  await pub.publishAsync(
    deviceTopic(DEFAULT_ROOT, deviceId, 'cmd'),
    await sign(restart, centreKey, { typ: 'loa-command+json' }),
    { qos: 1 },
  );
  await centre.waitUntil(
    () => (results().filter((x) => x.cmdId === restart.id).length === 2 ? true : undefined),
    10_000,
    'duplicate restart',
  );
  assert.equal((results().filter((x) => x.cmdId === restart.id)[1]!.error as { code: string }).code, 'duplicate');
  assert.equal(await agent.term(), 0);
  await pub.endAsync();
  await centre.client.endAsync();
});
