// The manual clock (test/fakes/manual-clock.ts) keeps the Clock port's promises: timers in
// order of due time, intervals, clearing, and a wall clock that can jump on its own; its
// ManualTimers view keeps the firmware bridge's Timers port's. The shared contracts
// (test/contract/time.contract.ts) hold both fakes to what the real clock and timers do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, ManualTimers } from '../fakes/manual-clock.js';
import { systemClock } from '../../agent/adapters/clock.js';
import { systemTimers } from '../../firmware-bridge/timers.js';
import { clockContract, timersContract } from '../contract/time.contract.js';

clockContract('systemClock', () => ({ time: systemClock, drive: (p) => p }));
clockContract('ManualClock', () => {
  const c = new ManualClock();
  return { time: c, drive: (p) => c.run(p, 60_000) };
});
timersContract('systemTimers', () => ({ time: systemTimers(), drive: (p) => p }));
timersContract('ManualTimers', () => {
  const t = new ManualTimers();
  return { time: t, drive: (p) => t.clock.run(p, 60_000) };
});

test('run() drives the clock until the promise settles, and fails when nothing pending can settle it', async () => {
  const c = new ManualClock({ mono: 0 });
  const v = await c.run(new Promise<string>((r) => c.setTimeout(() => r('done'), 90_000)));
  assert.equal(v, 'done');
  assert.equal(c.monoMs(), 90_000, 'exactly as far as the timer asked');
  await assert.rejects(
    c.run(new Promise(() => {}), 1000, 'a promise nothing resolves'),
    /no timer pending while waiting for a promise nothing resolves/,
  );
  c.setInterval(() => {}, 100);
  await assert.rejects(c.run(new Promise(() => {}), 1000, 'x'), /nothing due within 1000 ms/);
});

test('until() returns the clock time the condition took; block() delays due timers until the next step', async () => {
  const c = new ManualClock({ mono: 0 });
  let n = 0;
  c.setInterval(() => n++, 250);
  assert.equal(await c.until(() => n === 4, 5000, 'four ticks'), 1000);
  c.block(600); // a busy loop: two ticks fall due and do not run
  assert.equal(n, 4);
  c.advance(0);
  assert.equal(n, 6, 'late, at the next step');
});

test('ManualTimers: pending() counts only the timers armed through this view of a shared clock', () => {
  const clock = new ManualClock();
  const a = new ManualTimers(clock);
  const b = new ManualTimers(clock);
  a.setTimeout(() => {}, 10);
  b.setTimeout(() => {}, 20);
  assert.deepEqual([a.pending(), b.pending(), clock.pending], [1, 1, 2]);
  a.advance(10);
  assert.deepEqual([a.pending(), b.pending()], [0, 1]);
});

test('advance runs due timers in order of due time, ties in arming order, each seeing its own time', () => {
  const c = new ManualClock({ now: 10_000, mono: 0 });
  const seen: string[] = [];
  c.setTimeout(() => seen.push(`b@${c.monoMs()}`), 200);
  c.setTimeout(() => seen.push(`a@${c.monoMs()}`), 100);
  c.setTimeout(() => seen.push(`a2@${c.monoMs()}`), 100);
  c.setTimeout(() => seen.push(`late@${c.monoMs()}`), 301);
  c.advance(300);
  assert.deepEqual(seen, ['a@100', 'a2@100', 'b@200']);
  assert.equal(c.monoMs(), 300);
  assert.equal(c.now(), 10_300);
  assert.equal(c.pending, 1);
  c.advance(1);
  assert.deepEqual(seen.at(-1), 'late@301');
  assert.equal(c.pending, 0);
});

test('a timer armed by a callback runs in the same step when due; 0 ms means 1 ms, as in Node', () => {
  const c = new ManualClock({ mono: 0 });
  const seen: number[] = [];
  c.setTimeout(() => {
    seen.push(c.monoMs());
    c.setTimeout(() => seen.push(c.monoMs()), 0);
  }, 50);
  c.advance(50);
  assert.deepEqual(seen, [50]);
  c.advance(1);
  assert.deepEqual(seen, [50, 51]);
});

test('intervals repeat until cleared; cleared timeouts never run', () => {
  const c = new ManualClock({ mono: 0 });
  const ticks: number[] = [];
  const i = c.setInterval(() => ticks.push(c.monoMs()), 1000);
  const t = c.setTimeout(() => assert.fail('cleared'), 1500);
  c.clearTimeout(t);
  c.advance(3500);
  assert.deepEqual(ticks, [1000, 2000, 3000]);
  c.clearInterval(i);
  c.advance(5000);
  assert.equal(ticks.length, 3);
  assert.equal(c.pending, 0);
  c.clearTimeout(undefined); // ignored
});

test('the wall clock jumps alone: timers and monotonic time do not move', () => {
  const c = new ManualClock({ now: Date.parse('2026-11-26T06:00:00+07:00'), mono: 0 });
  let fired = 0;
  c.setTimeout(() => fired++, 30_000);
  c.jumpWall(3 * 3_600_000);
  assert.equal(fired, 0);
  assert.equal(c.monoMs(), 0);
  assert.equal(new Date(c.now()).toISOString(), '2026-11-26T02:00:00.000Z');
  c.jumpWall(-60_000);
  c.advance(30_000);
  assert.equal(fired, 1);
  assert.equal(c.monoMs(), 30_000);
  assert.equal(
    new Date(c.now()).toISOString(),
    '2026-11-26T01:59:30.000Z',
    'both jumps kept, plus the 30 s that passed',
  );
});

test('tickAsync lets promise work started by a timer re-arm before later timers are due', async () => {
  const c = new ManualClock({ mono: 0 });
  const beats: number[] = [];
  const beat = () =>
    c.setTimeout(() => {
      void Promise.resolve().then(() => {
        beats.push(c.monoMs());
        beat();
      });
    }, 100);
  beat();
  await c.tickAsync(350);
  assert.deepEqual(beats, [100, 200, 300]);
});

test('pendingRef counts only the timers that would keep a process alive; msUntilNext; runAll', () => {
  const c = new ManualClock({ mono: 0 });
  c.setTimeout(() => {}, 10, { unref: true });
  c.setTimeout(() => {}, 20);
  assert.equal(c.pending, 2);
  assert.equal(c.pendingRef, 1);
  assert.equal(c.msUntilNext(), 10);
  assert.equal(c.runAll(), 20);
  assert.equal(c.msUntilNext(), undefined);
});

test('systemClock: real timers, unref on request, cleared handles never fire', async () => {
  let fired = false;
  const h = systemClock.setTimeout(() => (fired = true), 5, { unref: true });
  systemClock.clearTimeout(h);
  // Node runs timers of one delay in arming order: once this one has run, the cleared one's time had come.
  await new Promise<void>((r) => systemClock.setTimeout(r, 5));
  assert.equal(fired, false);
  let n = 0;
  await new Promise<void>((r) => {
    const i = systemClock.setInterval(() => {
      if (++n === 3) {
        systemClock.clearInterval(i);
        r();
      }
    }, 2);
  });
  assert.equal(n, 3);
  assert.ok(systemClock.monoMs() > 0 && Math.abs(systemClock.now() - Date.now()) < 1000);
});
