// Playback arbitration as data (domain/playback-plan.ts, play-source.ts, play-records.ts):
// the steps the coordinator executes for each situation the integration tests play out
// with a real player and board (test/integration/playback.test.ts, commands.test.ts,
// repeat.test.ts, mcu-pty-playback.test.ts, test/unit/scheduler.test.ts). No process,
// no broker, no clock: `now` is a number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Occurrence } from '../../agent/domain/occurrences.js';
import type { Source } from '../../contract/schedule-doc.js';
import {
  planCancel,
  planFire,
  planHwChange,
  planNext,
  planPrepare,
  planStopAll,
  planStopItem,
  type Stage,
  type Staged,
} from '../../agent/domain/playback-plan.js';
import { audioRefusal, planFailover, relayRefusal } from '../../agent/domain/play-source.js';
import { endRecord, restartRecord, skippedRecord, startedRecord } from '../../agent/domain/play-records.js';

const NOW = 1_000_000;
const STREAM: Source = { kind: 'stream', urls: ['http://a/live', 'http://b/live'], fallback: { kind: 'line' } };
const FILE: Source = { kind: 'file', media: ['m1'] };
const FM: Source = { kind: 'fm', freqMHz: 99.5 };

function occ(itemId: string, priority: number, o: Partial<Occurrence> = {}): Occurrence {
  const start = o.start ?? NOW;
  return {
    key: `doc/${itemId}/${start}`,
    docId: 'doc',
    docVersion: 1,
    topic: 'sched/a',
    itemId,
    start,
    end: start + 600_000,
    durationMs: null,
    priority,
    volume: undefined,
    source: STREAM,
    media: [],
    ...o,
  };
}

function seg(o: Occurrence, startedAt: number | null = NOW - 1000): Staged {
  return { occ: o, source: o.source, startedAt, done: false };
}

function stage(s: Partial<Stage<Staged>> = {}): Stage<Staged> {
  return { current: null, suspended: [], waiting: [], deferred: undefined, ...s };
}

const start = (o: Occurrence, lateMs = 0, resumed = false) => ({ kind: 'start', occ: o, lateMs, resumed });

test('an idle speaker starts what fires', () => {
  const a = occ('a', 50);
  assert.deepEqual(planFire(stage(), a, 120, NOW), [start(a, 120)]);
});

test('a higher priority preempts: the relay is closed, kept to resume, and the new item starts', () => {
  const relay = seg(occ('relay', 50));
  const b = occ('b', 75, { source: FILE });
  assert.deepEqual(planFire(stage({ current: relay }), b, 0, NOW), [
    { kind: 'end', seg: relay, how: 'preempted', thenNext: false },
    { kind: 'suspend', seg: relay },
    start(b),
  ]);
});

test('a preempted file item, or a relay with under 2 s of its slot left, is not kept to resume', () => {
  const file = seg(occ('file', 50, { source: FILE }));
  const b = occ('b', 75);
  assert.deepEqual(planFire(stage({ current: file }), b, 0, NOW), [
    { kind: 'end', seg: file, how: 'preempted', thenNext: false },
    start(b),
  ]);
  const ending = seg(occ('ending', 50, { end: NOW + 1999 }));
  assert.deepEqual(planFire(stage({ current: ending }), b, 0, NOW), [
    { kind: 'end', seg: ending, how: 'preempted', thenNext: false },
    start(b),
  ]);
});

test('an equal or lower priority finds the speaker busy: skipped, nothing else changes', () => {
  const cur = seg(occ('cur', 50));
  for (const p of [50, 10]) {
    const b = occ('b', p);
    assert.deepEqual(planFire(stage({ current: cur }), b, 0, NOW), [{ kind: 'skip', occ: b, reason: 'busy' }]);
  }
});

test('an emergency preempts even another emergency', () => {
  const e1 = seg(occ('e1', 100));
  const e2 = occ('e2', 100);
  assert.deepEqual(planFire(stage({ current: e1 }), e2, 0, NOW), [
    { kind: 'end', seg: e1, how: 'preempted', thenNext: false },
    { kind: 'suspend', seg: e1 },
    start(e2),
  ]);
});

test('a preemption does not plan what plays next: the preemptor does, and what was suspended stays suspended', () => {
  const relay = seg(occ('relay', 50));
  const news = seg(occ('news', 75, { source: FILE }));
  const alarm = occ('alarm', 100);
  assert.deepEqual(planFire(stage({ current: news, suspended: [relay] }), alarm, 0, NOW), [
    { kind: 'end', seg: news, how: 'preempted', thenNext: false },
    start(alarm),
  ]);
});

test('an emergency over a relay: when it ends the relay resumes for the rest of its slot, not late', () => {
  const relay = seg(occ('relay', 50));
  const later = NOW + 60_000;
  // Resumed, not forgotten: a live session's subscription and counters carry on.
  assert.deepEqual(planNext(stage({ suspended: [relay] }), later), [
    { kind: 'resume', seg: relay },
    start(relay.occ, 0, true),
  ]);
  // Its slot ran out meanwhile: dropped, and the amplifier goes after the hold.
  assert.deepEqual(planNext(stage({ suspended: [relay] }), relay.occ.end! - 1000), [
    { kind: 'forget', segs: [relay] },
    { kind: 'release' },
  ]);
  // Of two suspended relays, the higher priority resumes; the other stays suspended.
  const high = seg(occ('high', 60, { source: FM }));
  assert.deepEqual(planNext(stage({ suspended: [high, relay] }), later), [
    { kind: 'resume', seg: high },
    start(high.occ, 0, true),
  ]);
  // Nothing ends while something plays.
  assert.deepEqual(planNext(stage({ current: seg(occ('x', 50)), suspended: [relay] }), later), []);
});

test("a repeat waits behind an equal priority (emergency too); its series' next repeat makes it missed", () => {
  const cur = seg(occ('cur', 100));
  const r2 = occ('warn', 100, { repeat: 2, seriesStart: NOW - 300_000 });
  assert.deepEqual(planFire(stage({ current: cur }), r2, 0, NOW), [{ kind: 'wait', occ: r2 }]);
  const r3 = occ('warn', 100, { repeat: 3, seriesStart: NOW - 300_000, start: NOW + 300_000 });
  assert.deepEqual(planFire(stage({ current: cur, waiting: [r2] }), r3, 0, NOW + 300_000), [
    { kind: 'skip', occ: r2, reason: 'missed' },
    { kind: 'wait', occ: r3 },
  ]);
  // A repeat of a higher priority preempts as any item does; a first play is busy.
  const low = seg(occ('low', 50, { source: FILE }));
  assert.deepEqual(planFire(stage({ current: low }), r2, 0, NOW)[0], {
    kind: 'end',
    seg: low,
    how: 'preempted',
    thenNext: false,
  });
  const first = occ('warn', 100, { repeat: 1 });
  assert.equal(planFire(stage({ current: cur }), first, 0, NOW)[0]!.kind, 'end');
});

test('when the speaker frees up, a waiting repeat plays in full, late, before a relay of at most its priority', () => {
  const relay = seg(occ('relay', 50));
  const r2 = occ('warn', 50, { repeat: 2, start: NOW, end: NOW + 30_000 });
  const at = NOW + 5000;
  assert.deepEqual(planNext(stage({ suspended: [relay], waiting: [r2] }), at), [
    { kind: 'unwait', occ: r2 },
    start({ ...r2, end: NOW + 35_000 }, 5000),
  ]);
  // A relay of higher priority resumes first; the repeat keeps waiting.
  const high = seg(occ('high', 75));
  assert.deepEqual(planNext(stage({ suspended: [high], waiting: [r2] }), at), [
    { kind: 'resume', seg: high },
    start(high.occ, 0, true),
  ]);
});

test('a warm-up while something plays is put off; done when it ends if its item is still ahead', () => {
  const next = occ('next', 50, { start: NOW + 2000 });
  assert.deepEqual(planPrepare(stage(), next), [{ kind: 'warm-up', occ: next }]);
  assert.deepEqual(planPrepare(stage({ current: seg(occ('cur', 50)) }), next), [{ kind: 'defer-warm-up', occ: next }]);
  assert.deepEqual(planNext(stage({ deferred: next }), NOW), [
    { kind: 'forget-warm-up' },
    { kind: 'warm-up', occ: next },
  ]);
  assert.deepEqual(planNext(stage({ deferred: next }), NOW + 2000), [{ kind: 'forget-warm-up' }, { kind: 'release' }]);
  assert.deepEqual(planNext(stage(), NOW), [{ kind: 'release' }]);
  // Its own firing forgets it before arbitrating.
  const cur = seg(occ('cur', 75));
  assert.deepEqual(planFire(stage({ current: cur, deferred: next }), next, 0, NOW + 2000), [
    { kind: 'forget-warm-up' },
    { kind: 'skip', occ: next, reason: 'busy' },
  ]);
});

test('stop: everything closed without resuming anything, then the outputs silenced', () => {
  const cur = seg(occ('cur', 100));
  const relay = seg(occ('relay', 50));
  const r2 = occ('warn', 100, { repeat: 2 });
  assert.deepEqual(planStopAll(stage({ current: cur, suspended: [relay], waiting: [r2] }), 'stopped'), [
    { kind: 'forget', segs: [relay] },
    { kind: 'drop', occ: r2, how: 'stopped' },
    { kind: 'end', seg: cur, how: 'stopped', thenNext: false },
    { kind: 'silence' },
  ]);
  assert.deepEqual(planStopAll(stage(), 'agent-restart'), [{ kind: 'silence' }]);
});

test('stop of one item: the playing one ends (and what was suspended may resume), a suspended one is forgotten', () => {
  const cur = seg(occ('cur', 100));
  const relay = seg(occ('relay', 50));
  const st = stage({ current: cur, suspended: [relay] });
  assert.deepEqual(planStopItem(st, 'cur'), {
    steps: [{ kind: 'end', seg: cur, how: 'stopped', thenNext: true }],
    count: 1,
  });
  assert.deepEqual(planStopItem(st, 'relay'), { steps: [{ kind: 'forget', segs: [relay] }], count: 1 });
  assert.deepEqual(planStopItem(st, 'other'), { steps: [], count: 0 });
});

test('cancel drops what matches: waiting, suspended, the warm-up put off, and what plays', () => {
  const cur = seg(occ('warn', 100, { capId: 'cap-1' }));
  const relay = seg(occ('relay', 50, { capId: 'cap-1' }));
  const r2 = occ('warn', 100, { repeat: 2, capId: 'cap-1' });
  const other = occ('other', 100, { repeat: 2, capId: 'cap-2' });
  const put = occ('warn', 100, { start: NOW + 5000, capId: 'cap-1' });
  const st = stage({ current: cur, suspended: [relay], waiting: [r2, other], deferred: put });
  assert.deepEqual(
    planCancel(st, (o) => o.capId === 'cap-1'),
    {
      steps: [
        { kind: 'drop', occ: r2, how: 'cancelled' },
        { kind: 'forget', segs: [relay] },
        { kind: 'forget-warm-up' },
        { kind: 'end', seg: cur, how: 'cancelled', thenNext: true },
      ],
      stopped: true,
      matched: [r2, relay.occ, cur.occ],
    },
  );
  assert.deepEqual(
    planCancel(st, (o) => o.capId === 'cap-9'),
    { steps: [], stopped: false, matched: [] },
  );
});

test('FM signal lost while FM plays moves it to its fallback; without one, or before audio, nothing changes', () => {
  const lost = { component: 'fm', active: true, message: 'no signal' };
  const withFallback = seg(occ('fm', 50, { source: { ...FM, fallback: { kind: 'line' } } }));
  assert.deepEqual(planHwChange(stage({ current: withFallback }), lost), [
    { kind: 'failover', seg: withFallback, why: 'no signal' },
  ]);
  assert.deepEqual(planHwChange(stage({ current: seg(occ('fm', 50, { source: FM })) }), lost), []);
  assert.deepEqual(planHwChange(stage({ current: seg(withFallback.occ, null) }), lost), []);
  assert.deepEqual(planHwChange(stage({ current: withFallback }), { ...lost, active: false }), []);
});

test('the hardware refusing the amplifier: a relay plays nothing; the player is not started into a refused amp', () => {
  assert.deepEqual(relayRefusal({ amp: false }), {
    reason: 'hardware',
    message: 'the amplifier is off: the board refused to switch it on or does not answer (see hw.fault)',
  });
  assert.equal(relayRefusal({ amp: true }), null);
  assert.equal(audioRefusal({ amp: false, ampFault: true })?.reason, 'hardware');
  // A board that does not answer may well have the amplifier on: the stream plays on.
  assert.equal(audioRefusal({ amp: false, ampFault: false }), null);
  assert.equal(audioRefusal({ amp: true, ampFault: false }), null);
});

test('failover: the next stream URL, then the fallback; none left, or under a second of slot, fails', () => {
  assert.deepEqual(planFailover(STREAM, 0, 60_000), {
    kind: 'failover',
    source: STREAM,
    urlIndex: 1,
    from: 'http://a/live',
    to: 'http://b/live',
  });
  assert.deepEqual(planFailover(STREAM, 1, 60_000), {
    kind: 'failover',
    source: { kind: 'line' },
    urlIndex: -1,
    from: 'http://b/live',
    to: 'fallback:line',
  });
  assert.deepEqual(planFailover(STREAM, 0, 1000), { kind: 'fail', reason: 'stream' });
  assert.deepEqual(planFailover(FM, -1, Infinity), { kind: 'fail', reason: 'fm' });
  assert.deepEqual(planFailover(FILE, -1, Infinity), { kind: 'fail', reason: 'player' });
});

test('records: each ledger row goes with its event', () => {
  const a = occ('a', 50, { cmdId: 'cmd-1', repeat: 2 });
  const facts = { occ: a, source: 'stream' as const, lateMs: 40, resumed: true };
  const started = startedRecord(facts, NOW + 40);
  assert.equal(started.row.state, 'started');
  assert.equal(started.event.type, 'play.started');
  assert.equal((started.event.fields as { resumed?: boolean }).resumed, true);
  const dead = restartRecord(started.row, NOW + 10_040);
  assert.deepEqual(dead.row, { ...started.row, state: 'interrupted', detail: 'agent-restart' });
  assert.equal(dead.event.fields.playedMs, 10_000);
  assert.equal(dead.event.fields.repeat, 2);
  // Closed before any audio: interrupted, 0 ms, a stop even when asked to finish.
  const common = { ...started.event.fields };
  delete common.resumed;
  assert.deepEqual(endRecord(facts, null, 'finished', NOW).event, {
    type: 'play.interrupted',
    fields: { ...common, playedMs: 0, reason: 'stopped' },
  });
  const fin = endRecord(facts, NOW, 'finished', NOW + 5000);
  assert.deepEqual(
    [fin.row.state, fin.event.type, (fin.event.fields as { playedMs: number }).playedMs],
    ['finished', 'play.finished', 5000],
  );
  const skipped = skippedRecord(a, 'busy');
  assert.deepEqual(skipped.row, { ...started.row, state: 'skipped', detail: 'busy' });
  assert.deepEqual(skipped.event.fields, {
    itemId: 'a',
    docId: 'doc',
    occurrence: new Date(NOW).toISOString(),
    reason: 'busy',
    cmdId: 'cmd-1',
    repeat: 2,
  });
});
