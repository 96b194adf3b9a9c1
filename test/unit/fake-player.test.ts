// The fake player and the stand-in against the Player contract, and the fake's scripts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { playerContract } from '../contract/player.contract.js';
import { FakePlayer } from '../fakes/fake-player.js';
import { createStandInPlayer } from '../../agent/adapters/standin-player.js';
import { LoaError } from '../../agent/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { ManualClock } from '../fakes/manual-clock.js';

const dir = tempDir('fake-player');
const goodFile = join(dir, 'good.mp3');
writeFileSync(goodFile, 'the fake and the stand-in decode nothing');

playerContract(
  'fake',
  () =>
    new FakePlayer({
      script: (req) => {
        if (req.source.kind === 'stream') return { startAfterMs: 20 };
        return req.source.paths.some((p) => p.includes('bad'))
          ? { startAfterMs: 10, fail: 'not an MP3' }
          : { startAfterMs: 20, endAfterMs: 300 };
      },
    }),
  { goodFile, badFile: join(dir, 'bad.mp3'), streamUrl: () => 'http://127.0.0.1:9/live.mp3' },
);

// The stand-in cannot tell a corrupt MP3 (it decodes nothing): its "bad file" is a missing one.
playerContract('stand-in', () => createStandInPlayer({ durationFor: (s) => (s.kind === 'file' ? 300 : null) }), {
  goodFile,
  badFile: join(dir, 'missing.mp3'),
  streamUrl: () => 'http://127.0.0.1:9/live.mp3',
});

test('stand-in: a file session lasts what durationFor says; kind is stand-in', async () => {
  const player = createStandInPlayer({ durationFor: () => 400 });
  assert.equal(player.kind, 'stand-in');
  const s = player.play({ source: { kind: 'file', paths: [goodFile, goodFile] }, volume: 80 });
  const at = await s.started;
  const end = await s.ended;
  assert.equal(end.reason, 'end');
  assert.ok(end.at - at >= 390 && end.at - at < 2000, `played ${end.at - at} ms`);
});

test('fake: scripts run in order on the manual clock', async () => {
  const clock = new ManualClock({ now: 0 });
  const fake = new FakePlayer({ clock }).queue(
    { startAfterMs: 100, endAfterMs: 1000 },
    { startAfterMs: 50, fail: 'connection refused' },
    { startAfterMs: 10, fail: 'went silent', failAfterMs: 200 },
  );

  const a = fake.play({ source: { kind: 'file', paths: ['/a.mp3'] }, volume: 50 });
  clock.advance(100);
  assert.equal(await a.started, 100);
  clock.advance(1000);
  assert.deepEqual(await a.ended, {
    reason: 'end',
    at: 1100,
    exitCode: 0,
    signal: null,
    stderrTail: '',
    message: 'played to the end',
  });

  const b = fake.play({ source: { kind: 'stream', url: 'http://x/' }, volume: 50 });
  clock.advance(50);
  await assert.rejects(b.started, (e: unknown) => e instanceof LoaError && e.message === 'connection refused');
  assert.equal((await b.ended).reason, 'failed');

  const c = fake.play({ source: { kind: 'stream', url: 'http://y/' }, volume: 50 });
  clock.advance(10);
  await c.started;
  clock.advance(200);
  const end = await c.ended;
  assert.equal(end.reason, 'failed');
  assert.equal(end.message, 'went silent');

  assert.equal(fake.plays.length, 3);
  assert.deepEqual(
    fake.plays.map((p) => p.end?.reason),
    ['end', 'failed', 'failed'],
  );
  assert.equal(fake.current, undefined);
});

test('fake: stop() records the call and ends a session that runs until stopped', async () => {
  const fake = new FakePlayer();
  const s = fake.play({ source: { kind: 'stream', url: 'http://x/' }, volume: 30 });
  await s.started;
  assert.equal(fake.current?.req.volume, 30);
  await s.stop();
  await s.stop();
  assert.equal((await s.ended).reason, 'stopped');
  assert.equal(fake.plays[0]!.stopCalls, 2);
});
