// What the two time ports promise, whatever keeps the time: the agent's Clock
// (agent/adapters/clock.ts) and the firmware bridge's Timers (firmware-bridge/timers.ts).
// Run against the real ones (systemClock, systemTimers) and the fakes that stand in for
// them in tests (ManualClock, ManualTimers in test/fakes/manual-clock.ts), so the fakes
// cannot drift from the real thing. `drive(p)` brings `p` about: the real clock just
// awaits it (time passes by itself), a manual one steps its clock until it settles.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock } from '../../agent/adapters/clock.js';
import type { Timers } from '../../firmware-bridge/timers.js';

export interface Driven<T> {
  time: T;
  drive<R>(p: Promise<R>): Promise<R>;
}

/** Node may run a timer up to ~1 ms before performance.now() says its delay is over. */
const SLACK_MS = 1;

export function clockContract(name: string, make: () => Driven<Clock>): void {
  describe(`Clock contract: ${name}`, () => {
    test('timeouts run in order of due time, once, and monotonic time has moved by their delay', async () => {
      const { time: c, drive } = make();
      const seen: string[] = [];
      const t0 = c.monoMs();
      await drive(
        new Promise<void>((done) => {
          c.setTimeout(() => seen.push('b'), 10);
          c.setTimeout(() => seen.push('a'), 5, { unref: true });
          c.setTimeout(() => (seen.push('c'), done()), 20);
        }),
      );
      assert.deepEqual(seen, ['a', 'b', 'c']);
      assert.ok(c.monoMs() - t0 >= 20 - SLACK_MS, `monotonic clock moved ${c.monoMs() - t0} ms`);
    });

    test('a cleared timeout never runs; an interval repeats until cleared; clearing twice is harmless', async () => {
      const { time: c, drive } = make();
      let fired = false;
      const h = c.setTimeout(() => (fired = true), 5);
      c.clearTimeout(h);
      c.clearTimeout(h);
      c.clearTimeout(undefined);
      let n = 0;
      await drive(
        new Promise<void>((done) => {
          const i = c.setInterval(() => {
            if (++n === 3) {
              c.clearInterval(i);
              done();
            }
          }, 5);
        }),
      );
      assert.equal(n, 3);
      assert.equal(fired, false, 'the cleared timeout (due with the first run of the interval) never ran');
    });

    test('the wall clock reads milliseconds since the epoch', () => {
      const { time: c } = make();
      assert.ok(Number.isInteger(c.now()) && c.now() > Date.parse('2000-01-01T00:00:00Z'));
    });
  });
}

export function timersContract(name: string, make: () => Driven<Timers & { pending(): number }>): void {
  describe(`Timers contract: ${name}`, () => {
    test('timeouts run in order of due time; now() is monotonic ms and has moved by their delay', async () => {
      const { time: t, drive } = make();
      const seen: string[] = [];
      const t0 = t.now();
      await drive(
        new Promise<void>((done) => {
          t.setTimeout(() => seen.push('b'), 10);
          t.setTimeout(() => seen.push('a'), 5);
          t.setTimeout(() => (seen.push('c'), done()), 20);
        }),
      );
      assert.deepEqual(seen, ['a', 'b', 'c']);
      assert.ok(t.now() - t0 >= 20 - SLACK_MS, `now() moved ${t.now() - t0} ms`);
      assert.equal(t.pending(), 0, 'a timeout that ran is no longer pending');
    });

    test('pending() counts armed timeouts; a cleared one never runs and is not pending', async () => {
      const { time: t, drive } = make();
      let fired = false;
      const h = t.setTimeout(() => (fired = true), 5);
      assert.equal(t.pending(), 1);
      t.clearTimeout(h);
      t.clearTimeout(h);
      t.clearTimeout(undefined);
      assert.equal(t.pending(), 0);
      await drive(new Promise<void>((done) => t.setTimeout(done, 10)));
      assert.equal(fired, false);
      assert.equal(t.pending(), 0);
    });
  });
}
