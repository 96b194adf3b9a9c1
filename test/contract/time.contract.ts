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

/**
 * Node may run a timer up to ~1 ms before performance.now() says its delay is over. Nor
 * does it order timers of different delays by due time when the loop runs late (each
 * delay has its own list), so the contract asks order only among timers of one delay;
 * the manual clock's stricter order is manual-clock.test.ts's own business.
 */
const SLACK_MS = 1;

export function clockContract(name: string, make: () => Driven<Clock>): void {
  describe(`Clock contract: ${name}`, () => {
    test('each timeout runs once, never before its delay; those of one delay in arming order', async () => {
      const { time: c, drive } = make();
      const t0 = c.monoMs();
      const ran: [string, number][] = [];
      await drive(
        new Promise<void>((done) => {
          const arm = (name: string, ms: number, unref = false) =>
            c.setTimeout(() => ran.push([name, c.monoMs() - t0]) === 4 && done(), ms, { unref });
          arm('ten', 10);
          arm('five', 5, true);
          arm('twenty-1', 20);
          arm('twenty-2', 20);
        }),
      );
      const delays: Record<string, number> = { ten: 10, five: 5, 'twenty-1': 20, 'twenty-2': 20 };
      assert.equal(new Set(ran.map(([n]) => n)).size, 4, JSON.stringify(ran));
      for (const [n, at] of ran) assert.ok(at >= delays[n]! - SLACK_MS, `${n} ran after ${at} ms`);
      const twenties = ran.filter(([n]) => n.startsWith('twenty')).map(([n]) => n);
      assert.deepEqual(twenties, ['twenty-1', 'twenty-2']);
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
    test('each timeout runs once, never before its delay by now(); one that ran is no longer pending', async () => {
      const { time: t, drive } = make();
      const t0 = t.now();
      const ran: [string, number][] = [];
      await drive(
        new Promise<void>((done) => {
          t.setTimeout(() => ran.push(['ten', t.now() - t0]) === 3 && done(), 10);
          t.setTimeout(() => ran.push(['five', t.now() - t0]) === 3 && done(), 5);
          t.setTimeout(() => ran.push(['twenty', t.now() - t0]) === 3 && done(), 20);
        }),
      );
      const delays: Record<string, number> = { ten: 10, five: 5, twenty: 20 };
      assert.equal(new Set(ran.map(([n]) => n)).size, 3, JSON.stringify(ran));
      for (const [n, at] of ran) assert.ok(at >= delays[n]! - SLACK_MS, `${n} ran after ${at} ms`);
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
