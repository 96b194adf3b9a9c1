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
import type { MediaRef } from './schedule-doc.js';

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

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
