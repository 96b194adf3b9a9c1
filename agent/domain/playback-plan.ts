// Who plays, as steps (the plan half of "plan, then execute"). Pure: from what plays, what
// is suspended or waiting, the warm-up put off, what is wanted (an occurrence fired, a
// stop, a cancel, the speaker freed) and the clock, each function returns the steps, as
// data, that runtime/playback.ts then executes in order: it alone writes the ledger,
// emits events, switches relays and starts the player.
//
// The policy itself (priority, preemption, resume, repeats that wait) is arbitration.ts;
// this file turns its decisions into the sequence of state changes and records that go
// with them. A step that closes a segment (`end` with `thenNext`) makes the executor ask
// `planNext` again once it is closed: what plays next depends on what that left.
import type { PlaySource } from './occurrence.js';
import { arbitrate, canResume, pickNext } from './arbitration.js';
import type { Occurrence } from './occurrences.js';
import type { End } from './play-records.js';

/** A play segment, as the plan sees it (the runtime's segment has more). */
export interface Staged {
  occ: Occurrence;
  /** What plays now: the item's source or its fallback. */
  source: PlaySource;
  /** When audio came out; null during the warm-up or the player's start. */
  startedAt: number | null;
  done: boolean;
}

/** The coordinator's state, read by the plan. */
export interface Stage<S extends Staged> {
  current: S | null;
  /** Relays a higher priority cut off, to resume when it ends. */
  suspended: readonly S[];
  /** Repeats that found an equal or higher priority playing: they play when it ends, late. */
  waiting: readonly Occurrence[];
  /** A warm-up that came while something else played: done when that ends, if still ahead. */
  deferred: Occurrence | undefined;
}

export type Step<S extends Staged> =
  /** Remember a warm-up for when what plays ends. */
  | { kind: 'defer-warm-up'; occ: Occurrence }
  /** Forget the warm-up put off. */
  | { kind: 'forget-warm-up' }
  /** Input (and FM tuning) and amplifier on now; amplifier off later if nothing plays. */
  | { kind: 'warm-up'; occ: Occurrence }
  /** A repeat waits for the speaker. */
  | { kind: 'wait'; occ: Occurrence }
  /** A waiting repeat leaves the queue to play. */
  | { kind: 'unwait'; occ: Occurrence }
  /** Will not play (`play.skipped`); leaves the queue if it waited. */
  | { kind: 'skip'; occ: Occurrence; reason: 'busy' | 'missed' }
  /** A waiting repeat that will not play (cancelled, stopped): leaves the queue, closed with its one terminal event. */
  | { kind: 'drop'; occ: Occurrence; how: End }
  /** Close a segment (stop its audio, its terminal record); with `thenNext`, plan what plays next. */
  | { kind: 'end'; seg: S; how: End; thenNext: boolean }
  /** Keep a preempted relay to resume. */
  | { kind: 'suspend'; seg: S }
  /** Forget suspended relays (expired, stopped, cancelled): over, a live session's too. */
  | { kind: 'forget'; segs: S[] }
  /** A suspended relay leaves the suspended ones to play again (a live session stays open). */
  | { kind: 'resume'; seg: S }
  /** A new segment becomes what plays; it warms up, then plays its source. */
  | { kind: 'start'; occ: Occurrence; lateMs: number; resumed: boolean }
  /** What plays moves to its fallback (FM signal lost). */
  | { kind: 'failover'; seg: S; why: string }
  /** Nothing plays: the player's input now, the amplifier off after the hold. */
  | { kind: 'release' }
  /** Amplifier off and input to the player's, now (stop, shutdown). */
  | { kind: 'silence' };

/** The warm-up moment of `occ` has come. */
export function planPrepare<S extends Staged>(st: Stage<S>, occ: Occurrence): Step<S>[] {
  // Something else plays: switching the input now would cut it off early. The amp is on
  // anyway, but it may go off (after the hold) if that ends before this starts: the
  // warm-up is then done when it ends (planNext), or this would start warmUpMs late.
  return st.current ? [{ kind: 'defer-warm-up', occ }] : [{ kind: 'warm-up', occ }];
}

/** `occ` is due now, `lateMs` after its start. */
export function planFire<S extends Staged>(st: Stage<S>, occ: Occurrence, lateMs: number, now: number): Step<S>[] {
  const steps: Step<S>[] = st.deferred?.key === occ.key ? [{ kind: 'forget-warm-up' }] : [];
  const cur = st.current;
  const decision = arbitrate(cur ? { priority: cur.occ.priority } : null, occ);
  if (decision.action === 'wait') return [...steps, ...planWait(st, occ)];
  if (decision.action === 'skip') return [...steps, { kind: 'skip', occ, reason: 'busy' }];
  if (cur) {
    // No `thenNext`: the preemptor is what plays next. Planning the next after the victim
    // (before the preemptor starts) resumed a suspended relay or started a waiting repeat
    // only for the preemptor to replace it at once, with no terminal event and never resumed.
    steps.push({ kind: 'end', seg: cur, how: 'preempted', thenNext: false });
    if (canResume({ kind: cur.source.kind, priority: cur.occ.priority, slotEnd: cur.occ.end }, now))
      steps.push({ kind: 'suspend', seg: cur });
  }
  steps.push({ kind: 'start', occ, lateMs, resumed: false });
  return steps;
}

/** One repeat of a series waits at a time: one still waiting when the next comes is skipped (`missed`). */
function planWait<S extends Staged>(st: Stage<S>, occ: Occurrence): Step<S>[] {
  const same = (w: Occurrence) => w.itemId === occ.itemId && w.docId === occ.docId && w.seriesStart === occ.seriesStart;
  return [
    ...st.waiting.filter(same).map((w): Step<S> => ({ kind: 'skip', occ: w, reason: 'missed' })),
    { kind: 'wait', occ },
  ];
}

/** The speaker is free: a waiting repeat, a suspended relay, the put-off warm-up, or the release. */
export function planNext<S extends Staged>(st: Stage<S>, now: number): Step<S>[] {
  if (st.current) return [];
  const { next, expired } = pickNext(
    st.suspended.map((seg) => ({ seg, kind: seg.source.kind, priority: seg.occ.priority, slotEnd: seg.occ.end })),
    st.waiting,
    now,
  );
  const forget = (segs: S[]): Step<S>[] => (segs.length > 0 ? [{ kind: 'forget', segs }] : []);
  const gone = expired.map((e) => e.seg);
  if (next && 'waiter' in next) {
    const w = next.waiter;
    // A warning that waited plays in full: its slot moves with it.
    const occ = w.end === null ? w : { ...w, end: w.end + Math.max(0, now - w.start) };
    return [
      ...forget(gone),
      { kind: 'unwait', occ: w },
      { kind: 'start', occ, lateMs: Math.max(0, now - occ.start), resumed: false },
    ];
  }
  if (next) {
    const s = next.resume.seg;
    return [...forget(gone), { kind: 'resume', seg: s }, { kind: 'start', occ: s.occ, lateMs: 0, resumed: true }];
  }
  const steps: Step<S>[] = [...forget(gone)];
  const put = st.deferred;
  if (put) steps.push({ kind: 'forget-warm-up' });
  // The next item's warm-up keeps the amplifier on, with its input, until it starts.
  steps.push(put && put.start > now ? { kind: 'warm-up', occ: put } : { kind: 'release' });
  return steps;
}

/** The `cancel` command: stop what plays, and drop what waits or is suspended, if `match` says so. */
export function planCancel<S extends Staged>(
  st: Stage<S>,
  match: (occ: Occurrence) => boolean,
): { steps: Step<S>[]; stopped: boolean; matched: Occurrence[] } {
  const waiting = st.waiting.filter(match);
  const suspended = st.suspended.filter((s) => match(s.occ));
  const steps: Step<S>[] = waiting.map((occ): Step<S> => ({ kind: 'drop', occ, how: 'cancelled' }));
  if (suspended.length > 0) steps.push({ kind: 'forget', segs: suspended });
  if (st.deferred && match(st.deferred)) steps.push({ kind: 'forget-warm-up' });
  const matched = [...waiting, ...suspended.map((s) => s.occ)];
  const cur = st.current;
  if (!cur || !match(cur.occ)) return { steps, stopped: false, matched };
  steps.push({ kind: 'end', seg: cur, how: 'cancelled', thenNext: true });
  return { steps, stopped: true, matched: [...matched, cur.occ] };
}

/** Stop everything (the `stop` command, or shutdown) and put the outputs in their safe state. */
export function planStopAll<S extends Staged>(st: Stage<S>, how: 'stopped' | 'agent-restart'): Step<S>[] {
  const steps: Step<S>[] = st.suspended.length > 0 ? [{ kind: 'forget', segs: [...st.suspended] }] : [];
  for (const occ of st.waiting) steps.push({ kind: 'drop', occ, how });
  if (st.current) steps.push({ kind: 'end', seg: st.current, how, thenNext: false });
  steps.push({ kind: 'silence' });
  return steps;
}

/** The `stop` command with an itemId: stop it if it plays, and forget it if it was suspended. */
export function planStopItem<S extends Staged>(st: Stage<S>, itemId: string): { steps: Step<S>[]; count: number } {
  const suspended = st.suspended.filter((s) => s.occ.itemId === itemId);
  const steps: Step<S>[] = suspended.length > 0 ? [{ kind: 'forget', segs: suspended }] : [];
  if (st.current?.occ.itemId === itemId) steps.push({ kind: 'end', seg: st.current, how: 'stopped', thenNext: true });
  return { steps, count: suspended.length + (st.current?.occ.itemId === itemId ? 1 : 0) };
}

/**
 * A board condition changed. FM signal lost while an FM item plays moves it to its
 * fallback, as a failed stream does (contract §3). Without one the relay stays on FM:
 * the signal may come back, and the hw.fault fm no_signal already tells the centre.
 */
export function planHwChange<S extends Staged>(
  st: Stage<S>,
  c: { component: string; active: boolean; message: string },
): Step<S>[] {
  const seg = st.current;
  if (!c.active || c.component !== 'fm' || !seg || seg.done || seg.source.kind !== 'fm' || seg.startedAt === null)
    return [];
  return seg.source.fallback ? [{ kind: 'failover', seg, why: c.message }] : [];
}
