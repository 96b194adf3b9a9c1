// The scheduler with an injected clock: time is stepped exactly, and the wall clock can
// jump while the monotonic clock does not. One ManualClock (test/fakes/manual-clock.ts)
// drives the scheduler, the real playback coordinator, the sim board and the fake
// player; the last tests drive the scheduler alone on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { getMeta, openDb } from '../../agent/adapters/sqlite-db.js';
import { CHECKPOINT_WRITE_MS, MetaStore } from '../../agent/adapters/meta-store.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { LedgerStore } from '../../agent/adapters/ledger-store.js';
import { Scheduler, closeInterruptedByRestart } from '../../agent/runtime/scheduler.js';
import { PlaybackCoordinator } from '../../agent/runtime/playback.js';
import { SimBoard } from '../../agent/adapters/sim-board.js';
import { FakePlayer } from '../fakes/fake-player.js';
import { validateSchedule } from '../../contract/schedule-doc.js';
import type { DocInForce } from '../../agent/domain/occurrences.js';
import { createLogger } from '../../agent/log.js';
import { tempDir } from '../helpers/tmp.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { manualRig as rigOnManualClock } from '../helpers/scheduler-rig.js';
import { threadCpuClock } from '../../agent/adapters/thread-cpu.js';

const T0 = Date.parse('2026-11-26T06:00:00+07:00');
const log = createLogger({ level: 'silent', pretty: false });

function doc(items: unknown[], over: Record<string, unknown> = {}): DocInForce {
  const v = validateSchedule({
    type: 'schedule',
    id: 'd',
    version: 1,
    issuedAt: '2026-11-25T00:00:00Z',
    expiresAt: '2027-11-25T00:00:00Z',
    target: { groups: ['g'] },
    timezone: 'Asia/Ho_Chi_Minh',
    items,
    ...over,
  });
  if (!v.ok) throw new Error(v.message);
  return { topic: 't', doc: v.doc };
}

function rig(
  docs: DocInForce[],
  opts: { graceMs?: number; warmUpMs?: number; holdMs?: number; mediaReady?: boolean; meta?: boolean } = {},
) {
  const clock = new ManualClock({ now: T0, mono: T0 }); // mono = wall at the start, as the assertions on lastWakeMono read it
  const db = openDb(join(tempDir('sched'), 'loa.db'));
  const outbox = new Outbox(db, { maxEvents: 10_000, clock });
  const ledger = new LedgerStore(db);
  const board = new SimBoard({ clock });
  void board.init();
  const playback = new PlaybackCoordinator({
    clock,
    board,
    player: new FakePlayer({ clock }),
    ledger,
    events: outbox,
    log,
    warmUpMs: opts.warmUpMs ?? 2000,
    holdMs: opts.holdMs ?? 5000,
    volumeFor: () => 100,
    mediaPath: () => null,
  });
  let checked: number | undefined;
  const scheduler = new Scheduler({
    clock,
    log,
    docs: () => docs,
    cpuMs: threadCpuClock(),
    ledger,
    events: outbox,
    playback,
    mediaReady: () => opts.mediaReady ?? true,
    checkpoint: opts.meta ? new MetaStore(db).checkpoint : { get: () => checked, set: (ms) => (checked = ms) },
    warmUpMs: opts.warmUpMs ?? 2000,
    graceMs: opts.graceMs ?? 120_000,
  });
  const events = () => outbox.peekAfter(0, 1000).map((r) => JSON.parse(r.body) as Record<string, unknown>);
  return {
    scheduler,
    playback,
    ledger,
    outbox,
    events,
    db,
    clock,
    /** The wall clock jumps (an NTP correction); the monotonic clock and the timers do not move. */
    jump: (ms: number) => clock.jumpWall(ms),
    board,
    /** Step the clock, letting the coordinator's promises settle after each timer. */
    tick: (ms: number) => clock.tickAsync(ms),
  };
}

test('relays in order and on time: input and amp at the warm-up, audio at the instant, the input off the air at the end, amp held then off', async () => {
  const r = rig([doc([{ id: 'news', source: { kind: 'line' }, at: '2026-11-26T06:30:00+07:00', durationS: 60 }])]);
  r.scheduler.start();
  const start = Date.parse('2026-11-26T06:30:00+07:00');
  // After init()'s safe state (amp off, then input ip: the first two transitions).
  const moves = () => r.board.transitions.slice(2).map((x) => [x.what, x.value, x.at - start]);
  await r.tick(start - 2000 - T0 - 100);
  assert.deepEqual(moves(), [], 'nothing switched before the warm-up');
  await r.tick(100);
  assert.deepEqual(moves(), [
    ['input', 'line', -2000],
    ['amp', true, -2000],
  ]);
  await r.tick(1900);
  assert.equal(r.events().filter((e) => e.type === 'play.started').length, 0);
  await r.tick(100);
  const st = r.events().find((e) => e.type === 'play.started')!;
  assert.equal(st.lateMs, 0);
  assert.equal(st.occurrence, new Date(start).toISOString());
  await r.tick(60_000);
  assert.equal(r.events().find((e) => e.type === 'play.finished')?.playedMs, 60_000);
  assert.equal(r.ledger.get(`d/news/${new Date(start).toISOString()}`)?.state, 'finished');
  await r.tick(10_000);
  // The line leaves the air as the item ends (the input back to ip); the amplifier is held
  // on, silent, 5 s (hardware.ampHoldMs), then off.
  assert.deepEqual(moves(), [
    ['input', 'line', -2000],
    ['amp', true, -2000],
    ['input', 'ip', 60_000],
    ['amp', false, 65_000],
  ]);
  r.scheduler.stop();
  r.db.close();
});

test('a wall-clock jump forward is detected; what it skipped beyond the grace is missed, within it starts late', async () => {
  const r = rig([
    doc([
      { id: 'early', source: { kind: 'line' }, at: '2026-11-26T07:00:00+07:00', durationS: 10 },
      { id: 'recent', source: { kind: 'line' }, at: '2026-11-26T08:59:30+07:00', durationS: 10 },
    ]),
  ]);
  r.scheduler.start();
  await r.tick(1000);
  r.jump(3 * 3_600_000); // NTP corrects the clock: 06:00:01 -> 09:00:01
  await r.tick(35_000); // the scheduler never sleeps longer than 30 s; then a 2 s amp warm-up
  assert.equal(r.scheduler.clockJumps, 1);
  const ev = r.events();
  const skipped = ev.find((e) => e.type === 'play.skipped');
  assert.deepEqual({ itemId: skipped?.itemId, reason: skipped?.reason }, { itemId: 'early', reason: 'missed' });
  const started = ev.find((e) => e.type === 'play.started');
  assert.equal(started?.itemId, 'recent');
  // Found at the next wake-up (<= 30 s), then the amplifier's 2 s warm-up: audible, and honestly late.
  assert.ok(Number(started?.lateMs) > 30_000 && Number(started?.lateMs) <= 64_000, `lateMs ${String(started?.lateMs)}`);
  r.scheduler.stop();
  r.db.close();
});

test('a wall-clock jump backwards does not replay what already played', async () => {
  const at = '2026-11-26T06:00:10+07:00';
  const r = rig([doc([{ id: 'once', source: { kind: 'line' }, at, durationS: 1 }])]);
  r.scheduler.start();
  await r.tick(15_000);
  assert.equal(r.events().filter((e) => e.type === 'play.started').length, 1);
  r.jump(-60_000);
  await r.tick(120_000);
  assert.equal(r.scheduler.clockJumps, 1);
  assert.equal(r.events().filter((e) => e.type === 'play.started').length, 1);
  r.scheduler.stop();
  r.db.close();
});

test('cron items fire every time; a higher priority preempts and the relay resumes after it; an equal one finds the speaker busy', async () => {
  const r = rig([
    doc([
      { id: 'relay', source: { kind: 'fm', freqMHz: 100 }, cron: '*/10 * * * *', durationS: 300, priority: 50 },
      { id: 'same', source: { kind: 'line' }, at: '2026-11-26T06:12:00+07:00', durationS: 60, priority: 50 },
      { id: 'alarm', source: { kind: 'line' }, at: '2026-11-26T06:22:00+07:00', durationS: 60, priority: 100 },
    ]),
  ]);
  r.scheduler.start();
  await r.tick(30 * 60_000);
  const ev = r.events().map((e) => `${String(e.type)} ${String(e.itemId)}${e.reason ? ` ${String(e.reason)}` : ''}`);
  assert.deepEqual(ev, [
    'play.started relay', // 06:00
    'play.finished relay',
    'play.started relay', // 06:10
    'play.skipped same busy', // 06:12
    'play.finished relay',
    'play.started relay', // 06:20
    'play.interrupted relay preempted', // 06:22
    'play.started alarm',
    'play.finished alarm', // 06:23
    'play.started relay', // resumed for the rest of its slot
    'play.finished relay', // 06:25
    'play.started relay', // 06:30
  ]);
  const resumed = r.events().filter((e) => e.type === 'play.started' && e.resumed === true);
  assert.equal(resumed.length, 1);
  assert.equal(resumed[0]!.occurrence, new Date(Date.parse('2026-11-26T06:20:00+07:00')).toISOString());
  r.scheduler.stop();
  r.db.close();
});

test('file items whose media are not in the cache are skipped with media-missing', async () => {
  const media = [{ id: 'm', url: 'https://cdn.example.vn/m.mp3', sha256: 'a'.repeat(64), bytes: 10, durationMs: 5000 }];
  const r = rig(
    [doc([{ id: 'news', source: { kind: 'file', media: ['m'] }, at: '2026-11-26T06:01:00+07:00' }], { media })],
    { mediaReady: false },
  );
  r.scheduler.start();
  await r.tick(61_000);
  const sk = r.events().find((e) => e.type === 'play.skipped');
  assert.equal(sk?.reason, 'media-missing');
  r.scheduler.stop();
  r.db.close();
});

test('an occurrence left "started" by a crash is closed as interrupted by agent-restart', async () => {
  const r = rig([doc([{ id: 'long', source: { kind: 'line' }, at: '2026-11-26T06:00:05+07:00', durationS: 600 }])]);
  r.scheduler.start();
  await r.tick(65_000); // playing for 60 s; then the process "dies": nothing is stopped cleanly
  r.scheduler.stop();
  const lastAlive = r.clock.now() - 5000;
  assert.equal(closeInterruptedByRestart({ ledger: r.ledger, events: r.outbox, log }, lastAlive, r.clock.now()), 1);
  const ev = r.events().find((e) => e.type === 'play.interrupted');
  assert.equal(ev?.reason, 'agent-restart');
  assert.equal(ev?.playedMs, 55_000);
  assert.equal(ev?.source, 'line');
  assert.equal(
    closeInterruptedByRestart({ ledger: r.ledger, events: r.outbox, log }, lastAlive, r.clock.now()),
    0,
    'only once',
  );
  r.db.close();
});

/** The scheduler alone on the manual clock, with a playback that records what it is told and when. */
const manualRig = (docs: DocInForce[]) => rigOnManualClock(docs, { now: T0 });

test('manual clock: the warm-up and the start to the millisecond, one timer at a time, none after stop()', () => {
  const r = manualRig([
    doc([{ id: 'news', source: { kind: 'line' }, at: '2026-11-26T06:10:00+07:00', durationS: 60 }]),
  ]);
  r.scheduler.start();
  assert.equal(r.clock.pending, 1, 'one timer');
  assert.equal(r.clock.msUntilNext(), 30_000, 'never asleep longer than maxSleepMs');
  r.clock.advance(10 * 60_000 - 2001);
  assert.deepEqual(r.told, []);
  r.clock.advance(1);
  assert.deepEqual(r.told, [['prepare', 'news', -2000]]);
  r.clock.advance(1999);
  assert.deepEqual(r.told.length, 1);
  r.clock.advance(1);
  assert.deepEqual(r.told, [
    ['prepare', 'news', -2000],
    ['fire', 'news', 0],
  ]);
  assert.equal(r.clock.pending, 1);
  r.scheduler.stop();
  assert.equal(r.clock.pending, 0, 'stop() clears its timer');
  r.db.close();
});

test('manual clock: NTP sets the wall clock 3 h forward; the next wake-up (30 s) sees it, misses what is beyond the grace, starts the rest exactly that late', () => {
  const r = manualRig([
    doc([
      { id: 'early', source: { kind: 'line' }, at: '2026-11-26T07:00:00+07:00', durationS: 10 },
      { id: 'recent', source: { kind: 'line' }, at: '2026-11-26T09:00:20+07:00', durationS: 10 },
    ]),
  ]);
  r.scheduler.start();
  r.clock.advance(1000);
  r.clock.jumpWall(3 * 3_600_000); // 06:00:01 -> 09:00:01; timers do not notice
  r.clock.advance(28_999);
  assert.equal(r.scheduler.clockJumps, 0, 'not before the wake-up');
  r.clock.advance(1); // mono 30 s: wall 09:00:30
  assert.equal(r.scheduler.clockJumps, 1);
  assert.deepEqual(r.told, [['fire', 'recent', 10_000]]);
  const skipped = r.events().filter((e) => e.type === 'play.skipped');
  assert.deepEqual(
    skipped.map((e) => [e.itemId, e.reason]),
    [['early', 'missed']],
  );
  r.scheduler.stop();
  r.db.close();
});

test('a warm-up that falls while another item plays is done when that item ends: the next starts on time, the amplifier never off between', async () => {
  const S = Date.parse('2026-11-26T06:30:00+07:00');
  const at = (ms: number) => new Date(S + ms).toISOString();
  const r = rig(
    [
      doc([
        { id: 'first', source: { kind: 'line' }, at: at(0), durationS: 2 },
        // Its warm-up (2 s before) comes while `first` plays; `first` ends 600 ms before it
        // starts, longer than the 300 ms hold.
        { id: 'second', source: { kind: 'line' }, at: at(2600), durationS: 1 },
      ]),
    ],
    { holdMs: 300 },
  );
  r.scheduler.start();
  await r.tick(S - T0 + 5000);
  const started = r.events().filter((e) => e.type === 'play.started');
  assert.deepEqual(
    started.map((e) => [e.itemId, e.lateMs]),
    [
      ['first', 0],
      ['second', 0],
    ],
  );
  const ampMoves = r.board.transitions
    .filter((x) => x.what === 'amp' && x.at >= S - 2000 && x.at <= S + 3600)
    .map((x) => [x.value, x.at - S]);
  assert.deepEqual(
    ampMoves,
    [[true, -2000]],
    'switched on for the first warm-up, and not off again until the second ended',
  );
});

test('SD-card wear: idle wakes keep the checkpoint in memory; a handled occurrence, an hour, and stop() write it', async () => {
  const start = T0 + 2 * CHECKPOINT_WRITE_MS - 600_000; // 06:00 + 1 h 50 min
  const r = rig([doc([{ id: 'news', source: { kind: 'line' }, at: new Date(start).toISOString(), durationS: 5 }])], {
    meta: true,
  });
  const written = () => Number(getMeta(r.db, 'sched_checked_through'));
  const changes = () => (r.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  r.scheduler.start();
  assert.equal(written(), T0, 'a box with no checkpoint yet writes its first one');
  const before = changes();
  await r.tick(CHECKPOINT_WRITE_MS - 60_000); // 118 wakes of an idle scheduler (one per 30 s)
  assert.equal(changes(), before, 'no database write in an idle hour');
  assert.equal(written(), T0);
  assert.ok((r.scheduler.lastWakeMono ?? 0) >= T0 + CHECKPOINT_WRITE_MS - 90_000, 'the scheduler did wake meanwhile');
  await r.tick(120_000);
  assert.ok(written() >= T0 + CHECKPOINT_WRITE_MS, `written hourly (${written() - T0} ms after start)`);
  const hourly = written();
  await r.tick(start - r.clock.now() + 1000); // the item fires
  assert.equal(r.events().filter((e) => e.type === 'play.started').length, 1);
  assert.ok(written() >= start, 'handling an occurrence writes the checkpoint at once');
  assert.ok(written() > hourly);
  const fired = written();
  await r.tick(60_000);
  assert.equal(written(), fired, 'idle again: in memory only');
  r.scheduler.stop();
  assert.ok(written() >= fired + 30_000, 'stop() writes what is in memory');
  assert.equal(new MetaStore(r.db).checkpoint.get(), written(), 'and the next start reads it');
});
