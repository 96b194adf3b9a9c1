// The box side of the media cache tests (media-cache.test.ts: fetching; media-cache-
// store.test.ts: the cache across starts, fetchNow, eviction): a MediaCache with a real
// Outbox on a real database, fetching from test/helpers/scripted-http.ts's server on
// 127.0.0.1, media of a given size, and the events it wrote.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, type Db } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { createHttpFetcher } from '../../agent/adapters/media-fetch.js';
import { MediaStore } from '../../agent/adapters/media-store.js';
import { MediaCache, type MediaCacheDeps } from '../../agent/runtime/media-cache.js';
import type { MediaRef } from '../../contract/schedule-doc.js';
import type { MediaNeed } from '../../agent/domain/cache-plan.js';
import { createLogger } from '../../agent/log.js';
import { tempDir } from '../helpers/tmp.js';
import { files, base } from '../helpers/scripted-http.js';
import { systemClock } from '../../agent/adapters/clock.js';
import { until as waitUntil } from '../helpers/wait.js';
import { mediaCacheDir } from '../../agent/adapters/media-cache-dir.js';

export const MB = 1 << 20;
export let counter = 0;
export function media(size: number): { ref: MediaRef; body: Buffer; path: string } {
  const id = `m${++counter}`;
  const body = randomBytes(size);
  const path = `/media/${id}.mp3`;
  files.set(path, body);
  return {
    ref: { id, url: base + path, sha256: createHash('sha256').update(body).digest('hex'), bytes: size },
    body,
    path,
  };
}

/** A clock that moves 1 s per reading, so "least recently used" never ties. */
export function steppingClock() {
  let t = Date.parse('2026-11-26T00:00:00Z');
  return { ...systemClock, now: () => (t += 1000), monoMs: () => performance.now() };
}

export interface Box {
  cache: MediaCache;
  outbox: Outbox;
  db: Db;
  dir: string;
  cacheDir: string;
  /** Events of earlier instances on the same database are not this one's. */
  firstSeq: number;
}

export function box(
  opts: { dir?: string; fetch?: Parameters<typeof createHttpFetcher>[0] } & Partial<MediaCacheDeps> = {},
): Box {
  const dir = opts.dir ?? tempDir('media');
  const cacheDir = join(dir, 'cache');
  const clock = steppingClock();
  const db = openDb(join(dir, 'loa.db'));
  const outbox = new Outbox(db, { maxEvents: 10_000, clock });
  const cache = new MediaCache({
    files: mediaCacheDir,
    store: new MediaStore(db),
    cacheDir,
    quotaBytes: 100 * MB,
    events: outbox,
    clock,
    log: createLogger({ level: 'silent', pretty: false }),
    fetcher: createHttpFetcher({ connectTimeoutMs: 5_000, idleTimeoutMs: 5_000, ...opts.fetch }),
    retry: { minMs: 50, maxMs: 200 },
    ...opts,
  });
  return { cache, outbox, db, dir, cacheDir, firstSeq: outbox.highestSeq + 1 };
}

export const soon = (ref: MediaRef, inMin = 60): MediaNeed => ({
  media: ref,
  firstUseAt: Date.parse('2026-11-26T00:00:00Z') + inMin * 60_000,
});
export const want = (b: Box, refs: MediaRef[], inForce: MediaRef[] = refs) =>
  b.cache.setNeeds(
    refs.map((r, i) => soon(r, 60 + i)),
    new Set(inForce.map((r) => r.sha256)),
  );

export type Ev = {
  type: string;
  mediaId?: string;
  sha256?: string;
  reason?: string;
  bytes?: number;
  seq: number;
  epoch: string;
};
export const events = (b: Box): Ev[] =>
  b.outbox.peekAfter(b.firstSeq - 1, 100_000).map((r) => JSON.parse(r.body) as Ev);

export const until = <T>(what: string, f: () => T | undefined | false, ms = 30_000): Promise<T> =>
  waitUntil(f, ms, what, 20);
export const cachedEvent = (b: Box, ref: MediaRef) =>
  until(`media.cached ${ref.id}`, () => events(b).find((e) => e.type === 'media.cached' && e.sha256 === ref.sha256));
export const fileIs = (b: Box, ref: MediaRef, body: Buffer) =>
  assert.ok(readFileSync(join(b.cacheDir, ref.sha256)).equals(body), 'cached bytes are the media');

/** A new cache that wants just `m`: resolves once it is cached and its bytes are checked. */
export async function cacheOne(m: { ref: MediaRef; body: Buffer }): Promise<Box> {
  const b = box();
  await b.cache.start();
  want(b, [m.ref]);
  await cachedEvent(b, m.ref);
  fileIs(b, m.ref, m.body);
  return b;
}

// ---- tests ----
