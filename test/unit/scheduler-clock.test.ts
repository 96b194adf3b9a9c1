// The scheduler while the clock is not trusted (domain/clock-trust.ts), on the manual
// clock: due items are held, skipped with `clock` past their grace, played on time or
// late once the clock is trusted again, and never twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSchedule } from '../../contract/schedule-doc.js';
import type { DocInForce } from '../../agent/domain/occurrences.js';
import { judgeClock, type ClockVerdict } from '../../agent/domain/clock-trust.js';
import type { ClockSync } from '../../agent/adapters/clock-sources.js';
import { manualRig } from '../helpers/scheduler-rig.js';

const T0 = Date.parse('2026-11-26T06:00:00+07:00');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const MIN = 60_000;

function doc(items: { id: string; at: string }[]): DocInForce {
  const v = validateSchedule({
    type: 'schedule',
    id: 'd',
    version: 1,
    issuedAt: '2026-11-25T00:00:00Z',
    expiresAt: '2027-11-25T00:00:00Z',
    target: { groups: ['g'] },
    timezone: 'Asia/Ho_Chi_Minh',
    items: items.map((i) => ({ ...i, source: { kind: 'line' }, durationS: 10 })),
  });
  if (!v.ok) throw new Error(v.message);
  return { topic: 't', doc: v.doc };
}

/** A scheduler whose clock trust the test sets: a source's answer and a lower bound. */
function held(
  docs: DocInForce[],
  now: number,
  sync: ClockSync,
  bound: number | null = null,
  corroborated?: number | null,
) {
  const state = { sync, bound, corroborated };
  let verdict: ClockVerdict;
  const r = manualRig(docs, {
    now,
    ledgerOnFire: true,
    over: {
      clockHold: () =>
        (verdict = judgeClock(
          r.clock.now(),
          state.sync,
          state.bound,
          undefined,
          state.corroborated === undefined ? state.bound : state.corroborated,
        )),
    },
  });
  return {
    ...r,
    state,
    verdict: () => verdict,
    skipped: () =>
      r
        .events()
        .filter((e) => e.type === 'play.skipped')
        .map((e) => [e.itemId, e.reason]),
    fired: () => r.told.filter(([what]) => what === 'fire').map(([, id, late]) => [id, late]),
  };
}

const unsynced: ClockSync = { synced: false, source: 'timesyncd' };
const synced: ClockSync = { synced: true, source: 'timesyncd' };

test('unsynchronised: a due item is held (no warm-up, no start), skipped with `clock` once past its grace, and only once', () => {
  const r = held([doc([{ id: 'news', at: at(5 * MIN) }])], T0, unsynced);
  r.scheduler.start();
  r.clock.advance(5 * MIN + 1000);
  assert.deepEqual(r.told, [], 'nothing prepared or fired on a clock a source says is wrong');
  assert.equal(r.scheduler.heldCount, 1);
  assert.ok(r.checked()! < T0 + 5 * MIN, 'the checkpoint stays before a held item, so a restart plans it again');
  r.clock.advance(2 * MIN);
  assert.deepEqual(r.skipped(), [['news', 'clock']]);
  assert.equal(r.scheduler.heldCount, 0);
  r.clock.advance(10 * MIN);
  assert.deepEqual(r.skipped(), [['news', 'clock']], 'reported once');
  r.scheduler.stop();
  r.db.close();
});

test('no source can tell and nothing bounds the clock: items play on it (the box is not silenced)', () => {
  const r = held([doc([{ id: 'news', at: at(MIN) }])], T0, { synced: null, source: 'none' });
  r.scheduler.start();
  r.clock.advance(MIN);
  assert.deepEqual(r.fired(), [['news', 0]]);
  r.scheduler.stop();
  r.db.close();
});

test('boot in the past: what the lower bound puts past its grace is skipped with `clock` at once; NTP then sets the clock forward and the next item plays on time, nothing twice', () => {
  const REAL = T0 + 3 * 3_600_000; // the real time; the box believes T0
  const r = held(
    [
      doc([
        { id: 'stale', at: at(10 * MIN) }, // ahead on the box's clock, hours past in truth
        { id: 'recent', at: at(3 * 3_600_000 - 30_000) }, // 30 s before the real time: within its grace
        { id: 'next', at: at(3 * 3_600_000 + 5 * MIN) },
      ]),
    ],
    T0,
    { synced: null, source: 'none' },
    REAL, // a verified document issued now
  );
  r.scheduler.start();
  assert.equal(r.verdict().behind, true);
  assert.deepEqual(r.skipped(), [['stale', 'clock']], 'provably past by the signed evidence');
  assert.deepEqual(r.told, []);
  r.clock.advance(20_000);
  r.clock.jumpWall(3 * 3_600_000); // NTP: the wall clock moves, the monotonic one does not
  r.clock.advance(10_000); // the next wake-up sees the jump
  assert.equal(r.verdict().behind, false);
  assert.deepEqual(r.fired(), [['recent', 60_000]], 'still within its grace: starts late');
  r.clock.advance(5 * MIN);
  assert.deepEqual(r.fired(), [
    ['recent', 60_000],
    ['next', 0],
  ]);
  assert.deepEqual(r.skipped(), [['stale', 'clock']]);
  r.scheduler.stop();
  r.db.close();
});

test('v1.2: a bound only one document claims holds what it puts in the past, never skips it; NTP discards the bound and the items play on time', () => {
  // A ping signed a day ahead, nothing else: the bound is one document's word.
  const r = held(
    [
      doc([
        { id: 'news', at: at(10 * MIN) },
        { id: 'noon', at: at(60 * MIN) },
      ]),
    ],
    T0,
    unsynced,
    T0 + 24 * 3_600_000,
    null,
  );
  r.scheduler.start();
  r.clock.advance(10 * MIN);
  assert.deepEqual(r.skipped(), [], "nothing thrown away on one document's word");
  assert.equal(r.scheduler.heldCount, 1, 'news held');
  assert.deepEqual(r.fired(), []);
  // NTP: the source says synchronised; the bound is discarded (runtime/clock-watch.ts).
  r.state.sync = synced;
  r.state.bound = T0 + 10 * MIN;
  r.scheduler.clockChanged();
  assert.deepEqual(r.fired(), [['news', 0]], 'released at once, within its grace');
  r.clock.advance(50 * MIN);
  assert.deepEqual(
    r.fired(),
    [
      ['news', 0],
      ['noon', 0],
    ],
    'the next plays on time',
  );
  assert.deepEqual(r.skipped(), []);
  r.scheduler.stop();
  r.db.close();
});

test('boot in the future, unsynchronised: an item the wrong clock shows due is held, not fired early; NTP sets the clock back and it plays on time, once', () => {
  const AHEAD = 90_000;
  const r = held([doc([{ id: 'early-risk', at: at(60_000) }])], T0 + AHEAD, unsynced); // real T0, box T0+90 s
  r.scheduler.start();
  r.clock.advance(1000);
  assert.deepEqual(r.told, [], 'due by the box clock (30 s late) but held: firing it would be a minute early');
  assert.equal(r.scheduler.heldCount, 1);
  r.clock.advance(10_000);
  r.clock.jumpWall(-AHEAD); // NTP: real T0+11 s
  r.state.sync = synced;
  r.scheduler.clockChanged(); // the clock watch saw the source change
  assert.equal(r.scheduler.heldCount, 0);
  assert.deepEqual(r.told, [], 'ahead again: waits for its time');
  r.clock.advance(49_000 - 2000);
  assert.deepEqual(r.told, [['prepare', 'early-risk', -2000]]);
  r.clock.advance(2000);
  assert.deepEqual(r.fired(), [['early-risk', 0]]);
  r.clock.advance(10 * MIN);
  assert.deepEqual(r.fired(), [['early-risk', 0]], 'never twice');
  assert.deepEqual(r.skipped(), []);
  r.scheduler.stop();
  r.db.close();
});

test('a held item NTP releases within its grace starts late; one released after its grace is skipped with `clock`', () => {
  const r = held(
    [
      doc([
        { id: 'a', at: at(MIN) },
        { id: 'b', at: at(2 * MIN) },
      ]),
    ],
    T0,
    unsynced,
  );
  r.scheduler.start();
  r.clock.advance(3 * MIN + 30_000); // a: 150 s late (past grace, skipped); b: 90 s late, held
  assert.deepEqual(r.skipped(), [['a', 'clock']]);
  assert.equal(r.scheduler.heldCount, 1);
  r.state.sync = synced;
  r.scheduler.clockChanged();
  assert.deepEqual(r.fired(), [['b', 90_000]]);
  r.scheduler.stop();
  r.db.close();
});

test('NTP sets the clock back a little: a held item still due starts late once, although the re-plan lists it again (the ledger is written only when audio starts)', () => {
  const AHEAD = 30_000;
  const r = manualRig([doc([{ id: 'a', at: at(5000) }])], {
    now: T0 + AHEAD,
    over: { clockHold: () => judgeClock(r.clock.now(), sync, null) },
  });
  let sync: ClockSync = unsynced;
  r.scheduler.start();
  r.clock.advance(10_000); // box T0+40 s, real T0+10 s: `a` held, 35 s late on the box's clock
  assert.equal(r.scheduler.heldCount, 1);
  r.clock.jumpWall(-AHEAD);
  sync = synced;
  r.scheduler.clockChanged();
  r.clock.advance(60_000);
  assert.deepEqual(
    r.told.filter(([what]) => what === 'fire'),
    [['fire', 'a', 5000]],
  );
  r.scheduler.stop();
  r.db.close();
});
