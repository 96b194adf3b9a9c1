// Repeat until cancelled (issue 16 item 1; docs/protocol.md §3, §4, §7). Pure: the
// schema pieces shared by schedule items and `play` commands, the cadence of a series,
// the occurrences of a `play` command's series, and what a `cancel` matches.
//
// Cadence: play n of a series (n = 1 the first play, 2 the first repeat ...) is due at
// first + (n - 1) x everyS, computed from the first start alone, so a late start, a wait
// behind a higher priority or a play's length never shifts the ones after it. A series
// ends after `count` plays, or before `until`, and never outlives its document's or
// command's expiresAt.
import { type MediaRef, type Repeat, type Source } from '../../contract/schedule-doc.js';
import type { CancelArgs } from '../../contract/command-doc.js';
export { cancelArgsSchema, type CancelArgs } from '../../contract/command-doc.js';
export {
  MIN_REPEAT_S,
  capRefSchema,
  repeatError,
  repeatSchema,
  type CapRef,
  type Repeat,
} from '../../contract/schedule-doc.js';
import type { Occurrence } from './occurrence.js';

/** Epoch ms before which every play of the series starts: until, or after `count` plays; capped by `expiresMs`. */
export function seriesEnd(first: number, r: Repeat, expiresMs: number): number {
  const own = r.until !== undefined ? Date.parse(r.until) : first + (r.count! - 1) * r.everyS * 1000 + 1;
  return Math.min(own, expiresMs);
}

/**
 * The plays of a series that start in [from, to): [n, start] in order, n counted from 1.
 * Work is proportional to the plays in the window, not to the series.
 */
export function* seriesPlays(
  first: number,
  r: Repeat,
  expiresMs: number,
  from: number,
  to: number,
): Generator<[number, number]> {
  const every = r.everyS * 1000;
  const end = Math.min(seriesEnd(first, r, expiresMs), to);
  for (let n = Math.max(1, Math.ceil((from - first) / every) + 1); ; n++) {
    const start = first + (n - 1) * every;
    if (start >= end) return;
    if (start >= from) yield [n, start];
  }
}

/** How far back a series' first play can be and still have plays now (count series only; until series: unbounded). */
export function seriesSpanMs(r: Repeat): number {
  return r.count !== undefined ? (r.count - 1) * r.everyS * 1000 : Infinity;
}

/** A `play` command with `repeat`, as the box keeps it (replay state) to plan its repeats. */
export interface CommandSeries {
  cmdId: string;
  /** Epoch ms of the first play: the series' cadence is counted from it. */
  first: number;
  expiresAt: string;
  repeat: Repeat;
  priority: number;
  volume?: number;
  durationS?: number;
  source: Source;
  media: MediaRef[];
  capId?: string;
}

/** Repeats (n >= 2) of `play` command series that start in the window. */
export function* commandOccurrences(
  series: readonly CommandSeries[],
  window: { from: number; to: number },
): Generator<Occurrence> {
  for (const s of series) {
    for (const [n, start] of seriesPlays(s.first, s.repeat, Date.parse(s.expiresAt), window.from, window.to)) {
      if (n === 1) continue; // the first play was the command itself
      yield commandOccurrence(s, n, start);
    }
  }
}

export function commandOccurrence(s: CommandSeries, n: number, start: number): Occurrence {
  const durationMs = s.durationS !== undefined ? s.durationS * 1000 : null;
  let end: number | null = durationMs === null ? null : start + durationMs;
  if (
    end === null &&
    s.source.kind === 'file' &&
    s.media.length > 0 &&
    s.media.every((m) => m.durationMs !== undefined)
  )
    end = start + s.media.reduce((a, m) => a + m.durationMs!, 0);
  return {
    key: n === 1 ? `cmd/${s.cmdId}` : `cmd/${s.cmdId}#${n}`,
    docId: null,
    docVersion: null,
    topic: 'cmd',
    itemId: s.cmdId,
    start,
    end,
    durationMs,
    priority: s.priority,
    volume: s.volume,
    source: s.source,
    media: s.media,
    cmdId: s.cmdId,
    repeat: n,
    seriesStart: s.first,
    ...(s.capId !== undefined ? { capId: s.capId } : {}),
  };
}

/** A `cancel` the box remembers: what it names, when it came, and until when it is kept. */
export interface CancelRecord extends CancelArgs {
  cmdId?: string;
  /** The cancel command's own id. */
  id: string;
  /** Epoch ms it was executed: series that began by then are cancelled. */
  at: number;
  /** The cancel's `issuedAt`, epoch ms: only commands issued by then are refused (absent in records before v1.2: all). */
  issuedAt?: number;
  /** Epoch ms after which it is forgotten. */
  keepUntil: number;
}

/** Does `occ` belong to what the cancel names (every field given must match)? */
export function namedBy(c: CancelArgs, occ: Pick<Occurrence, 'docId' | 'itemId' | 'cmdId' | 'capId'>): boolean {
  if (c.docId !== undefined && occ.docId !== c.docId) return false;
  if (c.itemId !== undefined && occ.itemId !== c.itemId) return false;
  if (c.cmdId !== undefined && occ.cmdId !== c.cmdId) return false;
  if (c.capId !== undefined && occ.capId !== c.capId) return false;
  return true;
}

/**
 * Is this planned occurrence cancelled? Only series that had begun when the cancel came:
 * the later plays of a schedule's other occurrences are the document's to change.
 */
export function cancelledBy(c: CancelRecord, occ: Occurrence): boolean {
  return (occ.seriesStart ?? occ.start) <= c.at && namedBy(c, occ);
}

/** The proof-of-play fields of a series: `repeat` (1 = the first play) and `capId`. */
export function seriesFields(occ: Pick<Occurrence, 'repeat' | 'capId'>): { repeat?: number; capId?: string } {
  const f: { repeat?: number; capId?: string } = {};
  if (occ.repeat !== undefined) f.repeat = occ.repeat;
  if (occ.capId !== undefined) f.capId = occ.capId;
  return f;
}
