// Proof of play (contract §7): the play.* events of a box folded into one row per
// occurrence, saying whether it played, from when to when, and if not, why. Pure.
//
// An occurrence is (device, docId, itemId, scheduled start). Its events, in the box's
// order (seq within an epoch), are one or more segments, each a play.started and its
// terminal event (finished | interrupted | failed), or a lone play.failed / play.skipped.
// A relay resumed after a preemption is a second segment (docs/protocol.md §3).
//   outcome  = the last segment's fate; `started-without-end` when the last
//              play.started has no terminal event yet (still playing, or the box has
//              not reported since: after its restart it sends play.interrupted
//              agent-restart);
//   started  = the first play.started; ended = the last terminal event;
//   playedMs = the sum over segments; lateMs, source, priority from the first start;
//   reason   = the reasons of the non-finished terminal events, in order;
//   outputLevelDb, silentMs = what the box's board measured of its output (contract v1.2
//              §9, the `output` of play.finished / play.interrupted): silentMs summed over
//              the measured segments, the level of the longest measured segment (a median
//              per segment cannot be merged); both null when no segment was measured (a
//              board that cannot measure, a box before v1.2, a play that failed or was
//              skipped before it sounded).

export interface StoredEvent {
  deviceId: string;
  epoch: string;
  seq: number;
  body: Record<string, unknown>;
}

export type Outcome = 'finished' | 'interrupted' | 'failed' | 'skipped' | 'started-without-end';

export interface PlayRow {
  deviceId: string;
  itemId: string;
  docId: string | null;
  docVersion: number | null;
  /** The scheduled start, ms since the epoch. */
  occurrence: number;
  outcome: Outcome;
  started: number | null;
  ended: number | null;
  playedMs: number | null;
  lateMs: number | null;
  source: string | null;
  priority: number | null;
  reason: string | null;
  message: string | null;
  cmdId: string | null;
  /** Issue 16: which play of a repeat series (1 = the first play), or null outside a series. */
  repeat: number | null;
  /** Issue 16: the CAP identifier of the item's or command's capRef. */
  capId: string | null;
  segments: number;
  /** Contract v1.2 §9: the median output level (dB of the amplifier's rated output), null when not measured. */
  outputLevelDb: number | null;
  /** Contract v1.2 §9: how long the output was silent while it should have sounded, null when not measured. */
  silentMs: number | null;
}

const TERMINAL = new Set(['play.finished', 'play.interrupted', 'play.failed']);

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const time = (v: unknown): number | null => {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(t) ? null : t;
};

export function isPlayEvent(type: unknown): boolean {
  return typeof type === 'string' && (type === 'play.started' || type === 'play.skipped' || TERMINAL.has(type));
}

/** The occurrence key of an event, or undefined when it is not a play event with one. */
export function occurrenceOf(body: Record<string, unknown>): number | undefined {
  if (!isPlayEvent(body.type)) return undefined;
  return time(body.occurrence) ?? undefined;
}

/** Box order: seq within an epoch; across epochs (a replaced disk), the event time. */
function order(a: StoredEvent, b: StoredEvent): number {
  if (a.epoch === b.epoch) return a.seq - b.seq;
  return (time(a.body.ts) ?? 0) - (time(b.body.ts) ?? 0) || a.seq - b.seq;
}

function fold(events: StoredEvent[], occurrence: number): PlayRow {
  events.sort(order);
  const first = events[0]!.body;
  const starts = events.filter((e) => e.body.type === 'play.started');
  const ends = events.filter((e) => TERMINAL.has(String(e.body.type)));
  // A skip next to real playback (should not happen) does not hide the playback.
  const core = starts.length || ends.length ? events.filter((e) => e.body.type !== 'play.skipped') : events;
  const last = core[core.length - 1]!.body;
  const outcome: Outcome =
    last.type === 'play.started' ? 'started-without-end' : (String(last.type).slice('play.'.length) as Outcome);
  // Segments: each terminal event closes the play.started before it. play.failed has no
  // playedMs (contract §7): a failure after audio started counts the time between them.
  let playedMs: number | null = null;
  let open: Record<string, unknown> | undefined;
  for (const { body } of core) {
    if (body.type === 'play.started') open = body;
    else if (TERMINAL.has(String(body.type))) {
      const t0 = open ? time(open.ts) : null;
      const t1 = time(body.ts);
      const ms = num(body.playedMs) ?? (t0 !== null && t1 !== null ? Math.max(0, t1 - t0) : 0);
      playedMs = (playedMs ?? 0) + ms;
      open = undefined;
    }
  }
  const sound = measured(core);
  const reasons = core
    .filter((e) => e.body.type !== 'play.finished' && e.body.type !== 'play.started')
    .map((e) => str(e.body.reason))
    .filter((r): r is string => r !== null);
  const messages = core.map((e) => str(e.body.message)).filter((m): m is string => m !== null);
  const firstStart = starts[0]?.body;
  const from = firstStart ?? first;
  const lastEnd = ends[ends.length - 1]?.body;
  return {
    deviceId: events[0]!.deviceId,
    itemId: String(first.itemId),
    docId: str(first.docId),
    docVersion: events.map((e) => num(e.body.docVersion)).find((v) => v !== null) ?? null,
    occurrence,
    outcome,
    started: firstStart ? time(firstStart.ts) : null,
    ended: outcome === 'started-without-end' || outcome === 'skipped' || !lastEnd ? null : time(lastEnd.ts),
    playedMs,
    lateMs: firstStart ? num(firstStart.lateMs) : null,
    source: str(from.source),
    priority: num(from.priority),
    reason: reasons.length ? [...new Set(reasons)].join(';') : null,
    message: messages.length ? messages.join('; ') : null,
    cmdId: events.map((e) => str(e.body.cmdId)).find((v) => v !== null) ?? null,
    repeat: events.map((e) => num(e.body.repeat)).find((v) => v !== null) ?? null,
    capId: events.map((e) => str(e.body.capId)).find((v) => v !== null) ?? null,
    segments: Math.max(1, starts.length),
    outputLevelDb: sound.levelDb,
    silentMs: sound.silentMs,
  };
}

/** The measured `output` of the segments' ends, folded (see the top of the file). */
function measured(core: StoredEvent[]): { levelDb: number | null; silentMs: number | null } {
  let silentMs: number | null = null;
  let levelDb: number | null = null;
  let longest = -1;
  for (const { body } of core) {
    const o = body.output;
    if (body.type === 'play.started' || !o || typeof o !== 'object' || Array.isArray(o)) continue;
    const out = o as Record<string, unknown>;
    if (out.measured !== true) continue;
    silentMs = (silentMs ?? 0) + Math.max(0, num(out.silentMs) ?? 0);
    const level = num(out.levelDb);
    const played = num(body.playedMs) ?? 0;
    if (level !== null && played >= longest) [levelDb, longest] = [level, played];
  }
  return { levelDb, silentMs };
}

/** Rows sorted by device, occurrence, item. Events that are not play.* are ignored. */
export function proofOfPlay(events: readonly StoredEvent[]): PlayRow[] {
  const groups = new Map<string, { occ: number; events: StoredEvent[] }>();
  for (const e of events) {
    const occ = occurrenceOf(e.body);
    if (occ === undefined) continue;
    const key = `${e.deviceId}\u0000${str(e.body.docId) ?? ''}\u0000${String(e.body.itemId)}\u0000${occ}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { occ, events: [] }));
    g.events.push(e);
  }
  const rows = [...groups.values()].map((g) => fold(g.events, g.occ));
  return rows.sort((a, b) =>
    a.deviceId < b.deviceId
      ? -1
      : a.deviceId > b.deviceId
        ? 1
        : a.occurrence - b.occurrence || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0),
  );
}
