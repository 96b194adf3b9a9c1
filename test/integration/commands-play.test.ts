// Signed play commands end to end (contract §4) through a real Mosquitto with real mpg123
// (paced output): the emergency path (a stream at priority 100 starts fast, preempts, and
// stop ends it) and a file play whose media are fetched and verified first. The other
// commands: commands.test.ts; the rig: commands-rig.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { noAudio, base, tone, command, rig } from './commands-rig.js';

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
