// The debounce rule that turns board edges into hw.fault / hw.recovered (pure logic,
// time driven by hand).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaultTracker, type FaultReport } from '../../agent/domain/fault-tracker.js';
import { ManualClock } from '../fakes/manual-clock.js';

function rig(recoverMs = 30_000) {
  const timers = new ManualClock();
  const out: [string, FaultReport][] = [];
  const t = new FaultTracker({
    recoverMs,
    report: (type, f) => out.push([type, f]),
    timers,
  });
  const door = (active: boolean) =>
    t.set({ component: 'door', code: 'door_open', active, message: active ? 'open' : 'closed' });
  return { t, timers, out, door };
}

test('a fault is reported at once; recovery only after it stayed clear for the hold', () => {
  const r = rig();
  r.door(true);
  assert.deepEqual(r.out, [['hw.fault', { component: 'door', code: 'door_open', message: 'open' }]]);
  assert.equal(r.t.activeCount(), 1);
  r.door(false);
  r.timers.advance(29_999);
  assert.equal(r.out.length, 1, 'still in the hold');
  assert.equal(r.t.activeCount(), 1, 'the heartbeat still says fault during the hold');
  r.timers.advance(1);
  assert.deepEqual(r.out[1], ['hw.recovered', { component: 'door', code: 'door_open', message: 'closed' }]);
  assert.equal(r.t.activeCount(), 0);
});

test('flapping inside the hold is one fault and one recovery, and the flaps are counted', () => {
  const r = rig(1000);
  for (let i = 0; i < 100; i++) {
    r.door(i % 2 === 0);
    r.timers.advance(10);
  }
  assert.equal(r.out.length, 1);
  r.timers.advance(1000);
  assert.equal(r.out.length, 2);
  assert.equal(r.out[1]![0], 'hw.recovered');
  assert.match(r.out[1]![1].message, /flapped 49 times/);
  // After the recovery, a new opening is a new fault.
  r.door(true);
  assert.equal(r.out.length, 3);
});

test('repeated edges of the same level and a clear that was never raised report nothing', () => {
  const r = rig();
  r.door(false);
  r.door(true);
  r.door(true);
  assert.equal(r.out.length, 1);
  assert.ok(r.t.isActive('door'));
  assert.ok(!r.t.isActive('amp'));
  r.t.set({ component: 'line', code: 'line_short', active: false, message: 'ok' });
  r.timers.advance(60_000);
  assert.equal(r.out.length, 1);
});

test('conditions are independent per component and code', () => {
  const r = rig(100);
  r.t.set({ component: 'line', code: 'line_open', active: true, message: 'open' });
  r.t.set({ component: 'line', code: 'line_short', active: true, message: 'short' });
  r.t.set({ component: 'line', code: 'line_open', active: false, message: 'ok' });
  r.timers.advance(100);
  assert.deepEqual(
    r.out.map(([t, f]) => `${t} ${f.code}`),
    ['hw.fault line_open', 'hw.fault line_short', 'hw.recovered line_open'],
  );
  assert.deepEqual(
    r.t.active().map((f) => f.code),
    ['line_short'],
  );
  r.t.stop();
});
