// What the media cache should do next, as data (STYLE habit 1). Pure: no I/O, no clock.
//
// Invariants the plan keeps, whatever the inputs:
// - a file needed by an occurrence in the horizon is never evicted;
// - a file named by any document in force is never evicted (a document accepted
//   yesterday may play it again next week, and refetching over 4G costs money);
// - media are fetched in the order they will first play, so when the link or the quota
//   allows only some of them, the ones that play soonest are on disk first;
// - the cache never grows past the quota: what does not fit is deferred, not fetched,
//   and `quotaMet: false` tells the caller to report it.
// - downloads cannot starve each other (pickDownloads, downloadDeadlineMs): the slots go
//   to the earliest-needed media that may be tried now, a running download needed later
//   is preempted for one needed sooner, and every attempt must keep up with a minimum
//   rate after a set-up allowance, which bounds it by a deadline from its size.
import type { MediaRef } from '../../contract/schedule-doc.js';
import { firstOccurrences, type DocInForce } from './occurrences.js';

/** A media file's name in the cache: its SHA-256, 64 lowercase hex digits. */
export const HEX64 = /^[0-9a-f]{64}$/;

export interface MediaNeed {
  media: MediaRef;
  /** Wall-clock ms of the first occurrence in the horizon that plays this media. */
  firstUseAt: number;
}

export interface CachedFile {
  sha256: string;
  bytes: number;
  /** Wall-clock ms this file was last played (or cached, if never played). */
  lastUsedAt: number;
}

export interface CachePlanInput {
  /** Media needed by occurrences within the horizon (the caller expands the schedule). */
  needs: readonly MediaNeed[];
  /** sha256 of every media named by any document in force. */
  inForce: ReadonlySet<string>;
  /** Verified files in the cache. */
  cached: readonly CachedFile[];
  quotaBytes: number;
  now: number;
}

export interface PlannedFetch {
  media: MediaRef;
  firstUseAt: number;
  /** firstUseAt - now: negative when the media is already late. */
  dueInMs: number;
}

export interface CachePlan {
  /** To download, earliest first use first. */
  fetch: PlannedFetch[];
  /** Needed in the horizon but left out because they do not fit in the quota. */
  deferred: PlannedFetch[];
  /** sha256 of cached files to delete, least recently used first. */
  evict: string[];
  /** False when some needed media cannot be held within the quota. */
  quotaMet: boolean;
  /** Bytes in the cache once the evictions and fetches are done. */
  bytesAfter: number;
}

export function planCache(input: CachePlanInput): CachePlan {
  const { inForce, quotaBytes, now } = input;
  const cachedBy = new Map(input.cached.map((c) => [c.sha256, c]));

  // One entry per content hash: two documents may name the same bytes under two ids.
  const wanted = new Map<string, MediaNeed>();
  for (const n of input.needs) {
    const prev = wanted.get(n.media.sha256);
    if (!prev || n.firstUseAt < prev.firstUseAt) wanted.set(n.media.sha256, n);
  }

  const missing = [...wanted.values()]
    .filter((n) => !cachedBy.has(n.media.sha256))
    .sort((a, b) => a.firstUseAt - b.firstUseAt || (a.media.sha256 < b.media.sha256 ? -1 : 1))
    .map((n) => ({ media: n.media, firstUseAt: n.firstUseAt, dueInMs: n.firstUseAt - now }));

  const evictable = input.cached
    .filter((c) => !inForce.has(c.sha256) && !wanted.has(c.sha256))
    .sort((a, b) => a.lastUsedAt - b.lastUsedAt || (a.sha256 < b.sha256 ? -1 : 1));
  const cachedBytes = sum(input.cached.map((c) => c.bytes));
  const evictableBytes = sum(evictable.map((c) => c.bytes));

  // Room if every evictable file went: take the missing media in play order while they
  // fit. A big file that does not fit does not stop a smaller, later one that does.
  let room = quotaBytes - (cachedBytes - evictableBytes);
  const fetch: PlannedFetch[] = [];
  const deferred: PlannedFetch[] = [];
  for (const f of missing) {
    if (f.media.bytes <= room) {
      fetch.push(f);
      room -= f.media.bytes;
    } else {
      deferred.push(f);
    }
  }

  // Then evict only as much as those fetches need, least recently used first.
  let total = cachedBytes + sum(fetch.map((f) => f.media.bytes));
  const evict: string[] = [];
  for (const c of evictable) {
    if (total <= quotaBytes) break;
    evict.push(c.sha256);
    total -= c.bytes;
  }

  return { fetch, deferred, evict, quotaMet: deferred.length === 0 && total <= quotaBytes, bytesAfter: total };
}

export interface SlotInput {
  /** CachePlan.fetch: earliest first use first. */
  fetch: readonly PlannedFetch[];
  /** sha256 of the downloads running (not being stopped). */
  running: ReadonlySet<string>;
  /** Downloads being stopped: their slots are still taken until they have closed. */
  stopping: number;
  /** sha256 of media that may not start now (waiting out a retry backoff). */
  waiting: ReadonlySet<string>;
  concurrency: number;
}

export interface SlotPlan {
  /** Media to start now, in this order. */
  start: MediaRef[];
  /** Running downloads to stop (their .part stays for resume), latest need first. */
  preempt: string[];
}

/**
 * Which downloads run. The rule: the `concurrency` earliest-needed media that may be
 * tried now (not in a retry wait) are the ones that should be downloading. One of them
 * that is not running takes a free slot, or else preempts the running download needed
 * latest that is not among them. So a slow transfer never keeps a medium needed sooner
 * from starting (a warning added at 09:58 for 10:00 does not wait behind tomorrow's
 * bulletin trickling from a bad CDN), and a preempted download loses nothing: it resumes
 * with Range when a slot is free again. Ties cannot flap: the order is total (first use,
 * then hash) and a preempted download is not in the top `concurrency` by definition.
 */
export function pickDownloads(input: SlotInput): SlotPlan {
  const { fetch, running, waiting, concurrency } = input;
  const top = fetch.filter((f) => running.has(f.media.sha256) || !waiting.has(f.media.sha256)).slice(0, concurrency);
  const topSet = new Set(top.map((f) => f.media.sha256));
  const toStart = top.filter((f) => !running.has(f.media.sha256)).map((f) => f.media);
  const order = new Map(fetch.map((f, i) => [f.media.sha256, i]));
  // A running download the plan no longer lists goes first (the caller stops those anyway).
  const rank = (sha: string) => order.get(sha) ?? Number.MAX_SAFE_INTEGER;
  const victims = [...running].filter((sha) => !topSet.has(sha)).sort((a, b) => rank(b) - rank(a));
  const freeNow = Math.max(0, concurrency - running.size - input.stopping);
  const freeSoon = Math.max(0, concurrency - running.size);
  return { start: toStart.slice(0, freeNow), preempt: victims.slice(0, Math.max(0, toStart.length - freeSoon)) };
}

/**
 * Total time one download attempt may take: a set-up allowance (DNS, TCP, TLS and
 * redirects over 4G) plus the bytes still missing at the slowest rate accepted. Past it
 * the attempt is aborted as `too-slow`, keeping its .part: a CDN that trickles one byte
 * every 20 s passes every idle timeout but would hold its slot for days.
 */
export function downloadDeadlineMs(remainingBytes: number, minRateBps: number, setupMs: number): number {
  return setupMs + Math.ceil((Math.max(0, remainingBytes) * 1000) / minRateBps);
}

/**
 * True when an attempt running for `elapsedMs` has fallen behind the slowest rate
 * accepted: after the set-up allowance it must have received `minRateBps` for every
 * second since. Checked as the download goes, this ends a trickle about `setupMs` into
 * the attempt whatever the media's size (1 byte every 20 s fails at ~31 s, not after
 * the 88 minutes a 5 MB file may take), lets a link that stalled catch up by bursting,
 * and, at `downloadDeadlineMs(missing)`, requires every missing byte: the total deadline.
 */
export function behindMinRate(elapsedMs: number, receivedBytes: number, minRateBps: number, setupMs: number): boolean {
  return elapsedMs > setupMs && receivedBytes * 1000 < (elapsedMs - setupMs) * minRateBps;
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** Media that occurrences in the next `horizonMs` need (earliest use), and every media a document in force names. */
export function mediaNeeds(docs: readonly DocInForce[], now: number, horizonMs: number): [MediaNeed[], Set<string>] {
  const needs = new Map<string, MediaNeed>();
  for (const occ of firstOccurrences(docs, { from: now, to: now + horizonMs })) {
    for (const m of occ.media) if (!needs.has(m.sha256)) needs.set(m.sha256, { media: m, firstUseAt: occ.start });
  }
  const inForce = new Set(docs.flatMap(({ doc }) => doc.media.map((m) => m.sha256)));
  return [[...needs.values()], inForce];
}
