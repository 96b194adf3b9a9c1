// Signed commands end to end (contract §4) through a real Mosquitto: ping, the refusals
// (expired, replayed, wrong target, unknown key, bad signature, unparseable), one result
// per command, at most once across a restart, group commands, restart/reboot with and
// without a service manager. Plays with real mpg123: commands-play.test.ts; the rig:
// commands-rig.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { mqtt } from '../../cli-kit/mqtt-lib.js';
import { DEFAULT_ROOT, deviceFilter, deviceTopic, groupTopic, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { sign, forge } from '../helpers/signer.js';
import { spawnAgent, writeConfig } from '../helpers/agent-process.js';
import { createLogger } from '../../agent/log.js';
import { Agent } from '../../agent/compose/agent.js';
import { SimBoard } from '../../agent/adapters/sim-board.js';
import { centreKey, strangerKey, broker, command, configFor, rig, nextBox } from './commands-rig.js';

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
  const deviceId = nextBox('cmd-proc');
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
