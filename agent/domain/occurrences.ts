// The occurrence planner: from the schedule documents in force (contract §3) and a
// window of time, the list of plays that should start in it. Pure: time comes in as
// epoch ms, nothing here reads the clock or arms a timer.
//
// Daylight saving time. A cron expression names wall-clock times in the document's
// `timezone`. Our rule, as Vixie cron and systemd handle fixed times:
//   - a wall time inside a spring-forward gap runs once, at the first instant after
//     the gap (02:30 on 2026-03-29 in Europe/Berlin runs at 03:00 CEST = 01:00Z);
//     several gap times collapse into that one occurrence (same key);
//   - a wall time inside an autumn repeated hour runs once, at its first occurrence
//     (02:30 on 2026-10-25 in Europe/Berlin runs at 02:30 CEST = 00:30Z, not again at
//     02:30 CET). This holds for wildcard hours too: `0 * * * *` does not play twice
//     at "02:00"; each local time that the expression names plays once.
// croner 11 in a DST zone does not follow one rule: alone in a gap, `30 2 * * *` ran at
// 03:00, but `*/30 2 * * *` produced nothing that day and `15 2,3 * * *` dropped 02:15;
// in the repeated hour `15 2,3 * * *` and `*/30 2 * * *` ran twice, `30 2 * * *` once.
// So croner only enumerates matching wall times here, on a zone-less UTC clock (where it
// has no DST to get wrong), and wallToInstant() below maps each to an instant.
import { cronFor } from '../../contract/cron-cache.js';
import type { MediaRef, ScheduleDoc, ScheduleItem, Source } from '../../contract/schedule-doc.js';
import type { Occurrence } from './occurrence.js';
import { systemZone } from '../../contract/tzif.js';
import { seriesPlays, seriesSpanMs } from './repeat.js';

export interface DocInForce {
  topic: string;
  doc: ScheduleDoc;
}

export type { Occurrence } from './occurrence.js';

/**
 * At most this many cron matches are looked at per item per call. A pathological
 * expression (`* * * * * *` is 604,800 plays a week) would otherwise make one call take
 * seconds and return a list nobody can use; the truncated item resumes in the next
 * window the runtime asks for. 10,000 is far above any real broadcast day.
 */
export const MAX_OCCURRENCES_PER_ITEM = 10_000;

/** Occurrences whose start is in [window.from, window.to), sorted by start, then priority (highest first), then key. */
export function expandOccurrences(docs: readonly DocInForce[], window: { from: number; to: number }): Occurrence[] {
  return finishPlan([...occurrencesIn(docs, window)]);
}

/**
 * The same occurrences, unsorted, one at a time: a runtime that must not block its event
 * loop (contract v1.1 §3: no step over 20 ms) consumes this in slices, then calls
 * finishPlan() on what it collected.
 */
export function* occurrencesIn(
  docs: readonly DocInForce[],
  window: { from: number; to: number },
): Generator<Occurrence> {
  for (const { topic, doc } of docs) {
    for (const item of doc.items) {
      if (item.repeat) {
        yield* repeatedItem(topic, doc, item, window);
        continue;
      }
      const w = itemWindow(doc, item, window);
      if (!w) continue;
      for (const start of itemStarts(item, doc.timezone, w.from, w.to)) yield occurrence(topic, doc, item, start);
    }
  }
}

/** Sort by start, then priority (highest first), then key; equal keys appear once. */
export function finishPlan(all: Occurrence[]): Occurrence[] {
  // Equal keys come from one document id on two topics, or gap times that collapsed into
  // one instant: keep the higher priority, then the newer version.
  all.sort(
    (a, b) =>
      a.start - b.start || b.priority - a.priority || cmp(a.key, b.key) || (b.docVersion ?? 0) - (a.docVersion ?? 0),
  );
  return all.filter((o, i) => i === 0 || all[i - 1]!.key !== o.key);
}

/** Each item's first occurrence in the window (what the media cache needs: the earliest use), sorted. */
export function firstOccurrences(docs: readonly DocInForce[], window: { from: number; to: number }): Occurrence[] {
  const out: Occurrence[] = [];
  for (const { topic, doc } of docs) {
    for (const item of doc.items) {
      if (item.repeat) {
        const first = repeatedItem(topic, doc, item, window).next();
        if (!first.done) out.push(first.value);
        continue;
      }
      const w = itemWindow(doc, item, window);
      if (!w) continue;
      const first = itemStarts(item, doc.timezone, w.from, w.to).next();
      if (!first.done) out.push(occurrence(topic, doc, item, first.value));
    }
  }
  return finishPlan(out);
}

/** The first occurrence that starts after `after` and no later than `after + horizonMs`, or null. */
export function nextOccurrence(docs: readonly DocInForce[], after: number, horizonMs: number): Occurrence | null {
  return firstOccurrences(docs, { from: after + 1, to: after + horizonMs + 1 })[0] ?? null;
}

function itemWindow(
  doc: ScheduleDoc,
  item: ScheduleItem,
  window: { from: number; to: number },
): { from: number; to: number } | null {
  const expires = doc.expiresAt === undefined ? Infinity : Date.parse(doc.expiresAt);
  const from = Math.max(window.from, item.from === undefined ? -Infinity : Date.parse(item.from));
  const to = Math.min(window.to, expires, item.until === undefined ? Infinity : Date.parse(item.until));
  return from < to ? { from, to } : null;
}

/**
 * The plays of an item with `repeat` in the window: each occurrence of its `at` or cron
 * starts a series (domain/repeat.ts), and series that began before the window may still
 * play in it. Repeats are not bounded by the item's from/until (those bound where series
 * start), only by the series' own end and the document's expiresAt.
 */
function* repeatedItem(
  topic: string,
  doc: ScheduleDoc,
  item: ScheduleItem,
  window: { from: number; to: number },
): Generator<Occurrence> {
  const r = item.repeat!;
  const expires = doc.expiresAt === undefined ? Infinity : Date.parse(doc.expiresAt);
  const w = itemWindow(doc, item, { from: window.from - seriesSpanMs(r), to: window.to });
  if (!w) return;
  // An open-ended `until` series is only allowed on an `at` item (one start to look at).
  for (const first of itemStarts(item, doc.timezone, w.from, w.to)) {
    for (const [n, start] of seriesPlays(first, r, expires, window.from, window.to))
      yield { ...occurrence(topic, doc, item, start), repeat: n, seriesStart: first };
  }
}

function* itemStarts(item: ScheduleItem, timezone: string, from: number, to: number): Generator<number> {
  if (item.at !== undefined) {
    const at = Date.parse(item.at);
    if (at >= from && at < to) yield at;
    return;
  }
  if (item.cron === undefined) return;
  const cron = cronFor(item.cron);
  // The earliest wall time that can map to `from`: when `from` is the end of a gap, the
  // gap's wall times (which lie before from's own wall time) map to it.
  const wallFrom = from + Math.min(offsetAt(timezone, from), offsetAt(timezone, from - 1));
  // nextRun() is strictly after its argument and drops milliseconds: start 1 ms early.
  let cursor = new Date(wallFrom - 1);
  let last = -Infinity;
  for (let n = 0; n < MAX_OCCURRENCES_PER_ITEM; n++) {
    const wall = cron.nextRun(cursor);
    if (wall === null) break;
    const start = wallToInstant(timezone, wall.getTime());
    // wallToInstant is non-decreasing in wall time, so the first start past the window ends it.
    if (start >= to) break;
    // Gap times collapse onto one instant: yield it once (finishPlan would drop the twin anyway).
    if (start >= from && start !== last) yield start;
    last = start;
    cursor = wall;
  }
}

function occurrence(topic: string, doc: ScheduleDoc, item: ScheduleItem, start: number): Occurrence {
  const media = mediaOf(item.source, doc.media);
  let end: number | null = null;
  if (item.durationS !== undefined) end = start + item.durationS * 1000;
  else if (item.source.kind === 'file' && media.every((m) => m.durationMs !== undefined)) {
    end = start + media.reduce((sum, m) => sum + m.durationMs!, 0);
  }
  return {
    key: `${doc.id}/${item.id}/${new Date(start).toISOString()}`,
    docId: doc.id,
    docVersion: doc.version,
    topic,
    itemId: item.id,
    start,
    end,
    durationMs: item.durationS === undefined ? null : item.durationS * 1000,
    priority: item.priority,
    volume: item.volume,
    source: item.source,
    media,
    ...(item.capRef ? { capId: item.capRef.identifier } : {}),
  };
}

function mediaOf(source: Source, listed: readonly MediaRef[]): MediaRef[] {
  const file =
    source.kind === 'file'
      ? source
      : 'fallback' in source && source.fallback?.kind === 'file'
        ? source.fallback
        : undefined;
  if (!file) return [];
  // Validation guarantees every id is listed; the filter only keeps the type honest.
  return file.media.map((id) => listed.find((m) => m.id === id)).filter((m): m is MediaRef => m !== undefined);
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const DAY_MS = 86_400_000;

/**
 * The instant of a wall time `wall` (a local date and time written as if it were UTC
 * epoch ms) in `tz`, by the rule at the top of this file. Assumes a zone changes its
 * offset at most once in any 48 hours, true of every zone in the tz database.
 */
function wallToInstant(tz: string, wall: number): number {
  const before = offsetAt(tz, wall - DAY_MS);
  const after = offsetAt(tz, wall + DAY_MS);
  const valid = [wall - before, wall - after].filter((t) => offsetAt(tz, t) === wall - t);
  if (valid.length > 0) return Math.min(...valid); // two in an autumn repeat: the first
  // A gap: the first instant with the new offset, between wall - after (still the old
  // offset) and wall - before (already the new). Transitions fall on whole seconds.
  let lo = Math.floor((wall - after) / 1000);
  let hi = Math.ceil((wall - before) / 1000);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offsetAt(tz, mid * 1000) === before) lo = mid;
    else hi = mid;
  }
  return hi * 1000;
}

// Formatters are costly to build and immutable once built: a cache, not state.
const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * UTC offset of `tz` at instant `t`, in ms (local = UTC + offset): from the system's tz
 * database when it answers (contract/tzif.ts: no ICU, 5.8 MB less resident), else Intl.
 */
export function offsetAt(tz: string, t: number): number {
  const fromFile = systemZone(tz)?.offsetAt(t);
  if (fromFile !== undefined && fromFile !== null) return fromFile;
  return intlOffsetAt(tz, t);
}

/** The same from ICU (Intl), for what the tz database file does not answer. */
export function intlOffsetAt(tz: string, t: number): number {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  const p: Record<string, string> = {};
  for (const { type, value } of f.formatToParts(t)) p[type] = value;
  const wall = new Date(0); // not Date.UTC(), which reads years 0 to 99 as 1900 to 1999
  wall.setUTCFullYear(Number(p.year), Number(p.month) - 1, Number(p.day));
  wall.setUTCHours(Number(p.hour), Number(p.minute), Number(p.second), 0);
  return wall.getTime() - Math.floor(t / 1000) * 1000;
}
