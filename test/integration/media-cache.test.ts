// The media cache against a real HTTP server on 127.0.0.1 that the test controls: cuts,
// stalls, wrong bytes, servers that ignore Range, a corrupted cache, a restart in the
// middle of a download, eviction. Events go to a real Outbox on a real database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDb, type Db } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { createHttpFetcher, partPath, MediaFetchError } from '../../agent/adapters/media-fetch.js';
import { MediaStore } from '../../agent/adapters/media-store.js';
import { MediaCache, USE_MARK_WRITE_MS, type MediaCacheDeps } from '../../agent/runtime/media-cache.js';
import type { MediaRef } from '../../contract/schedule-doc.js';
import type { MediaNeed } from '../../agent/domain/cache-plan.js';
import { createLogger } from '../../agent/log.js';
import { tempDir } from '../helpers/tmp.js';

import { server, files, script, base, sentFor, hitsFor } from '../helpers/scripted-http.js';
import { systemClock } from '../../agent/adapters/clock.js';
import { until as waitUntil } from '../helpers/wait.js';

// ---- the box side ----

const MB = 1 << 20;
let counter = 0;
function media(size: number): { ref: MediaRef; body: Buffer; path: string } {
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
function steppingClock() {
  let t = Date.parse('2026-11-26T00:00:00Z');
  return { ...systemClock, now: () => (t += 1000), monoMs: () => performance.now() };
}

interface Box {
  cache: MediaCache;
  outbox: Outbox;
  db: Db;
  dir: string;
  cacheDir: string;
  /** Events of earlier instances on the same database are not this one's. */
  firstSeq: number;
}

function box(
  opts: { dir?: string; fetch?: Parameters<typeof createHttpFetcher>[0] } & Partial<MediaCacheDeps> = {},
): Box {
  const dir = opts.dir ?? tempDir('media');
  const cacheDir = join(dir, 'cache');
  const clock = steppingClock();
  const db = openDb(join(dir, 'loa.db'));
  const outbox = new Outbox(db, { maxEvents: 10_000, clock });
  const cache = new MediaCache({
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

const soon = (ref: MediaRef, inMin = 60): MediaNeed => ({
  media: ref,
  firstUseAt: Date.parse('2026-11-26T00:00:00Z') + inMin * 60_000,
});
const want = (b: Box, refs: MediaRef[], inForce: MediaRef[] = refs) =>
  b.cache.setNeeds(
    refs.map((r, i) => soon(r, 60 + i)),
    new Set(inForce.map((r) => r.sha256)),
  );

type Ev = {
  type: string;
  mediaId?: string;
  sha256?: string;
  reason?: string;
  bytes?: number;
  seq: number;
  epoch: string;
};
const events = (b: Box): Ev[] => b.outbox.peekAfter(b.firstSeq - 1, 100_000).map((r) => JSON.parse(r.body) as Ev);

const until = <T>(what: string, f: () => T | undefined | false, ms = 30_000): Promise<T> => waitUntil(f, ms, what, 20);
const cachedEvent = (b: Box, ref: MediaRef) =>
  until(`media.cached ${ref.id}`, () => events(b).find((e) => e.type === 'media.cached' && e.sha256 === ref.sha256));
const fileIs = (b: Box, ref: MediaRef, body: Buffer) =>
  assert.ok(readFileSync(join(b.cacheDir, ref.sha256)).equals(body), 'cached bytes are the media');

/** A new cache that wants just `m`: resolves once it is cached and its bytes are checked. */
async function cacheOne(m: { ref: MediaRef; body: Buffer }): Promise<Box> {
  const b = box();
  await b.cache.start();
  want(b, [m.ref]);
  await cachedEvent(b, m.ref);
  fileIs(b, m.ref, m.body);
  return b;
}

// ---- tests ----

test('good bytes: one request, file under its hash, a row, one media.cached in the outbox', async () => {
  const m = media(3 * MB);
  const b = box();
  await b.cache.start();
  want(b, [m.ref]);
  const ev = await cachedEvent(b, m.ref);
  assert.deepEqual(
    { mediaId: ev.mediaId, bytes: ev.bytes, seq: ev.seq, epoch: ev.epoch },
    { mediaId: m.ref.id, bytes: 3 * MB, seq: 1, epoch: b.outbox.epoch },
  );
  fileIs(b, m.ref, m.body);
  assert.equal(b.cache.pathFor(m.ref.sha256), join(b.cacheDir, m.ref.sha256));
  assert.deepEqual(b.cache.figures(), { bytes: 3 * MB, ready: 1, pending: 0, failed: 0 });
  assert.equal(
    (b.db.prepare('SELECT bytes FROM media WHERE sha256 = ?').get(m.ref.sha256) as { bytes: number }).bytes,
    3 * MB,
  );
  assert.equal(hitsFor(m.path).length, 1);
  assert.equal(hitsFor(m.path)[0]!.range, undefined);
  assert.equal(existsSync(partPath(b.cacheDir, m.ref.sha256)), false);
  await b.cache.stop();
});

test('a connection cut halfway resumes with Range: about one file crosses the wire, not two', async () => {
  const m = media(4 * MB);
  script.set(m.path, [{ cutAt: 2 * MB }, {}]);
  const b = await cacheOne(m);
  const h = hitsFor(m.path);
  assert.equal(h.length, 2);
  assert.equal(h[1]!.range, `bytes=${2 * MB}-`);
  assert.equal(h[1]!.status, 206);
  assert.equal(sentFor(m.path), 4 * MB, 'every byte sent once');
  assert.ok(!events(b).some((e) => e.type === 'media.failed'), 'one cut is not reported (reportAfter 3)');
  await b.cache.stop();
});

test('wrong bytes: media.failed hash-mismatch once, the file never appears under the hash', async () => {
  const m = media(2 * MB);
  script.set(m.path, [{ body: randomBytes(2 * MB) }]);
  const b = box();
  await b.cache.start();
  want(b, [m.ref]);
  const ev = await until('media.failed', () => events(b).find((e) => e.type === 'media.failed'));
  assert.equal(ev.reason, 'hash-mismatch');
  await sleep(500); // a permanent failure waits hours, not 50 ms: no second request, no second event
  assert.equal(hitsFor(m.path).length, 1);
  assert.equal(events(b).filter((e) => e.type === 'media.failed').length, 1);
  assert.equal(existsSync(join(b.cacheDir, m.ref.sha256)), false);
  assert.equal(existsSync(partPath(b.cacheDir, m.ref.sha256)), false);
  assert.equal(b.cache.pathFor(m.ref.sha256), null);
  assert.deepEqual(b.cache.figures(), { bytes: 0, ready: 0, pending: 0, failed: 1 });
  await b.cache.stop();
});

test('a server that stalls: the idle timeout fires, retries resume, media.failed timeout once per streak', async () => {
  const m = media(2 * MB);
  script.set(m.path, [{ stallAt: MB / 2, stallMs: 3_000 }, { stallAt: 64 * 1024, stallMs: 3_000 }, {}]);
  const b = box({ fetch: { idleTimeoutMs: 300 }, reportAfter: 1 });
  await b.cache.start();
  want(b, [m.ref]);
  await cachedEvent(b, m.ref);
  fileIs(b, m.ref, m.body);
  const failed = events(b).filter((e) => e.type === 'media.failed');
  assert.deepEqual(
    failed.map((e) => e.reason),
    ['timeout'],
    'two timeouts, one report',
  );
  const h = hitsFor(m.path);
  assert.equal(h.length, 3);
  assert.deepEqual(
    h.map((x) => x.range),
    [undefined, `bytes=${MB / 2}-`, `bytes=${MB / 2 + 64 * 1024}-`],
  );
  assert.equal(sentFor(m.path), 2 * MB);
  await b.cache.stop();
});

test('HTTP errors: 503s are retried and reported once per streak; a 404 is reported at once and not retried soon', async () => {
  const flaky = media(MB);
  const gone = media(MB);
  script.set(flaky.path, [{ status: 503 }, { status: 503 }, { status: 503 }, {}]);
  script.set(gone.path, [{ status: 404 }]);
  const b = box({ reportAfter: 2 });
  await b.cache.start();
  want(b, [flaky.ref, gone.ref]);
  await cachedEvent(b, flaky.ref);
  await sleep(300);
  const failed = events(b).filter((e) => e.type === 'media.failed');
  assert.deepEqual(
    failed.map((e) => [e.mediaId, e.reason]).sort(),
    [
      [flaky.ref.id, 'http-503'],
      [gone.ref.id, 'http-404'],
    ].sort(),
  );
  assert.equal(hitsFor(flaky.path).length, 4);
  assert.equal(hitsFor(gone.path).length, 1);
  assert.deepEqual(b.cache.figures(), { bytes: MB, ready: 1, pending: 0, failed: 1 });
  await b.cache.stop();
});

test('a few at a time (concurrency 2), soonest first use first', async () => {
  const ms = [media(MB), media(MB), media(MB), media(MB)];
  for (const m of ms) script.set(m.path, [{ delayMs: 10 }]);
  let active = 0;
  let maxActive = 0;
  const order: string[] = [];
  const onReq = (req: IncomingMessage, res: ServerResponse) => {
    order.push(req.url ?? '');
    maxActive = Math.max(maxActive, ++active);
    res.once('close', () => active--);
  };
  server.prependListener('request', onReq);
  const b = box();
  await b.cache.start();
  // Listed in one order, played in the reverse one.
  b.cache.setNeeds(
    ms.map((m, i) => soon(m.ref, 100 - i)),
    new Set(ms.map((m) => m.ref.sha256)),
  );
  for (const m of ms) await cachedEvent(b, m.ref);
  server.off('request', onReq);
  assert.equal(maxActive, 2);
  // The two first requests race to the server; as pairs, the order is the play order.
  const pair = (xs: string[]) => [...xs].sort();
  assert.deepEqual(pair(order.slice(0, 2)), pair([ms[3]!.path, ms[2]!.path]));
  assert.deepEqual(pair(order.slice(2)), pair([ms[1]!.path, ms[0]!.path]));
  await b.cache.stop();
});

test('the fetcher follows redirects, refuses a wrong Content-Length, and never writes more than `bytes`', async () => {
  const cacheDir = join(tempDir('fetch'), 'cache');
  const fetcher = createHttpFetcher({ idleTimeoutMs: 5_000 });
  const m = media(MB);
  script.set('/moved', [{ redirectTo: m.path }]);
  const r = await fetcher.fetch({ url: `${base}/moved`, sha256: m.ref.sha256, bytes: MB, cacheDir });
  assert.ok(readFileSync(r.path).equals(m.body));

  const wrongLength = media(MB);
  script.set(wrongLength.path, [{ body: randomBytes(MB + 1) }]);
  const e1 = await fetcher
    .fetch({ url: wrongLength.ref.url, sha256: wrongLength.ref.sha256, bytes: MB, cacheDir })
    .catch((e: MediaFetchError) => e);
  assert.ok(e1 instanceof MediaFetchError);
  assert.deepEqual([e1.reason, e1.retryable], ['length', false]);
  assert.equal(existsSync(partPath(cacheDir, wrongLength.ref.sha256)), false, 'refused on the header: nothing written');

  const runOn = media(MB);
  script.set(runOn.path, [{ body: Buffer.concat([runOn.body, randomBytes(2 * MB)]), noLength: true }]);
  const e2 = await fetcher
    .fetch({ url: runOn.ref.url, sha256: runOn.ref.sha256, bytes: MB, cacheDir })
    .catch((e: MediaFetchError) => e);
  assert.ok(e2 instanceof MediaFetchError);
  assert.deepEqual([e2.reason, e2.retryable], ['length', false]);
  assert.equal(existsSync(partPath(cacheDir, runOn.ref.sha256)), false);
  assert.equal(existsSync(join(cacheDir, runOn.ref.sha256)), false);

  const e3 = await fetcher
    .fetch({ url: `${base}/nothing-here`, sha256: runOn.ref.sha256, bytes: MB, cacheDir })
    .catch((e: MediaFetchError) => e);
  assert.deepEqual([(e3 as MediaFetchError).reason, (e3 as MediaFetchError).retryable], ['http-404', false]);
});

test('a server that ignores Range (200 with the whole body) still ends with a correct file', async () => {
  const m = media(3 * MB);
  script.set(m.path, [{ cutAt: MB, range: false }, { range: false }]);
  const b = await cacheOne(m);
  const h = hitsFor(m.path);
  assert.equal(h[1]!.range, `bytes=${MB}-`, 'the client asked to resume');
  assert.equal(h[1]!.status, 200);
  await b.cache.stop();
});

test('a corrupted, a truncated and a misnamed file in the cache are deleted at start; the media are fetched again', async () => {
  const good = media(MB);
  const bad = media(2 * MB);
  const short = media(MB);
  const dir = tempDir('media');
  const b0 = box({ dir });
  await b0.cache.start();
  want(b0, [good.ref, bad.ref, short.ref]);
  for (const m of [good, bad, short]) await cachedEvent(b0, m.ref);
  await b0.cache.stop();
  const flipped = Buffer.from(bad.body);
  flipped[12345] = flipped[12345]! ^ 0xff;
  writeFileSync(join(b0.cacheDir, bad.ref.sha256), flipped);
  writeFileSync(join(b0.cacheDir, short.ref.sha256), short.body.subarray(0, 1000));
  writeFileSync(join(b0.cacheDir, 'not-a-hash.mp3'), randomBytes(100));
  b0.db.close();

  const b = box({ dir });
  await b.cache.start();
  assert.deepEqual(readdirSync(b.cacheDir).sort(), [good.ref.sha256, 'tmp'].sort());
  assert.equal(b.cache.pathFor(bad.ref.sha256), null, 'never handed to the player');
  assert.equal(b.cache.pathFor(good.ref.sha256), join(b.cacheDir, good.ref.sha256));
  want(b, [good.ref, bad.ref, short.ref]);
  await cachedEvent(b, bad.ref);
  await cachedEvent(b, short.ref);
  fileIs(b, bad.ref, bad.body);
  fileIs(b, short.ref, short.body);
  assert.equal(hitsFor(good.path).length, 1, 'the good file was kept');
  assert.equal(hitsFor(bad.path).length, 2);
  await b.cache.stop();
});

test('restart mid-download: a new process asks only for the rest, from the .part offset', async () => {
  const m = media(4 * MB);
  script.set(m.path, [{ delayMs: 20 }, {}]);
  const dir = tempDir('media');
  const b0 = box({ dir });
  await b0.cache.start();
  want(b0, [m.ref]);
  await until('half sent', () => sentFor(m.path) >= 2 * MB);
  await b0.cache.stop();
  b0.db.close();
  const partSize = statSync(partPath(b0.cacheDir, m.ref.sha256)).size;
  const firstSent = sentFor(m.path);
  assert.ok(partSize > MB && partSize <= firstSent, `kept ${partSize} of ${firstSent} bytes sent`);

  const b = box({ dir });
  await b.cache.start();
  want(b, [m.ref]);
  await cachedEvent(b, m.ref);
  fileIs(b, m.ref, m.body);
  const h = hitsFor(m.path);
  assert.equal(h.length, 2);
  assert.equal(h[1]!.range, `bytes=${partSize}-`);
  assert.equal(h[1]!.sent, 4 * MB - partSize, 'only the remainder');
  assert.ok(sentFor(m.path) <= 4 * MB + 512 * 1024, `sent ${sentFor(m.path)} in all`);
  await b.cache.stop();
});

test('fetchNow (the media of a play command): the paths once verified, null when the deadline comes first', async () => {
  const m = media(256 * 1024);
  const b = box({ clock: systemClock }); // the deadline is wall time: a real clock here
  await b.cache.start();
  assert.deepEqual(await b.cache.fetchNow([m.ref], Date.now() + 30_000), [join(b.cacheDir, m.ref.sha256)]);
  assert.deepEqual(
    await b.cache.fetchNow([m.ref], Date.now() + 30_000),
    [join(b.cacheDir, m.ref.sha256)],
    'already cached: at once',
  );
  const gone = media(1000);
  files.delete(gone.path); // 404: a permanent failure, retried only hours later
  const t0 = Date.now();
  assert.equal(await b.cache.fetchNow([gone.ref], Date.now() + 400), null);
  const waited = Date.now() - t0;
  assert.ok(waited >= 350 && waited < 5000, `waited ${waited} ms`);
  await b.cache.stop();
});

test('fetchNow of a medium a schedule also names (in force, its need held or far ahead): fetched at once, ahead of the schedule', async () => {
  const m = media(128 * 1024);
  const later = media(64 * 1024);
  const b = box({ clock: systemClock });
  await b.cache.start();
  // The schedule's document names both; its horizon needs only `later`, a day ahead (an
  // item held on a clock behind is not in the horizon at all).
  b.cache.setNeeds(
    [{ media: later.ref, firstUseAt: Date.now() + 86_400_000 }],
    new Set([m.ref.sha256, later.ref.sha256]),
  );
  const t0 = Date.now();
  assert.deepEqual(await b.cache.fetchNow([m.ref], Date.now() + 30_000), [join(b.cacheDir, m.ref.sha256)]);
  process.stdout.write(`# command media also in a schedule: fetched in ${Date.now() - t0} ms\n`);
  await b.cache.stop();
});

test('eviction: least recently used first, never media in force or in the horizon; over quota is reported', async () => {
  const [a, bb, c, d, e] = [media(MB), media(MB), media(MB), media(MB), media(MB)];
  const huge = media(5 * MB);
  const b = box({ quotaBytes: 3.5 * MB });
  await b.cache.start();
  want(b, [a.ref, bb.ref, c.ref]);
  for (const m of [a, bb, c]) await cachedEvent(b, m.ref);
  b.cache.markUsed(a.ref.sha256); // now c is the least recently used of a and c

  // d needs room; bb is in force (not in the horizon), a and c are named by nothing.
  b.cache.setNeeds([soon(d.ref)], new Set([bb.ref.sha256, d.ref.sha256]));
  await cachedEvent(b, d.ref);
  const present = (m: { ref: MediaRef }) => existsSync(join(b.cacheDir, m.ref.sha256));
  assert.deepEqual([a, bb, c, d].map(present), [true, true, false, true]);
  assert.equal(b.cache.pathFor(c.ref.sha256), null);
  assert.equal(b.db.prepare('SELECT count(*) AS n FROM media').pluck().get(), 3);

  // e needs room; only d (horizon) and e are in force now: bb, cached before a was used, goes.
  b.cache.setNeeds([soon(d.ref), soon(e.ref, 90)], new Set([d.ref.sha256, e.ref.sha256]));
  await cachedEvent(b, e.ref);
  assert.deepEqual([a, bb, d, e].map(present), [true, false, true, true]);

  // A media bigger than the quota: not fetched, reported once, counted as failed.
  b.cache.setNeeds([soon(d.ref), soon(huge.ref, 30)], new Set([d.ref.sha256, huge.ref.sha256]));
  const ev = await until('cache-full', () => events(b).find((x) => x.type === 'media.failed'));
  assert.deepEqual([ev.mediaId, ev.reason], [huge.ref.id, 'cache-full']);
  assert.deepEqual(b.cache.figures(), { bytes: MB, ready: 1, pending: 0, failed: 1 });
  b.cache.setNeeds([soon(d.ref), soon(huge.ref, 30)], new Set([d.ref.sha256, huge.ref.sha256]));
  assert.equal(events(b).filter((x) => x.type === 'media.failed').length, 1);
  assert.equal(hitsFor(huge.path).length, 0);
  assert.ok(present(d), 'the horizon media survived every round');
  await b.cache.stop();
});

test('start/stop many times, with a download in flight: no timers or sockets left behind', async () => {
  const m = media(2 * MB);
  script.set(m.path, [{ delayMs: 50 }]);
  const resources = () =>
    process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length;
  const before = resources();
  const b = box();
  for (let i = 0; i < 10; i++) {
    await b.cache.start();
    want(b, [m.ref]);
    await sleep(30);
    await b.cache.stop();
  }
  await until('resources released', () => resources() <= before, 10_000);
  assert.ok(hitsFor(m.path).length >= 2, 'each start resumed the download');
  assert.ok(
    hitsFor(m.path)
      .slice(1)
      .every((h) => h.range !== undefined || h.sent === 0),
  );
});

test('SD-card wear: a play marks its media used in memory at once, in the database at most hourly', async () => {
  const a = media(1000);
  let t = Date.parse('2026-11-26T00:00:00Z');
  const b = box({ clock: { ...systemClock, now: () => t, monoMs: () => performance.now() } });
  await b.cache.start();
  want(b, [a.ref]);
  await cachedEvent(b, a.ref);
  const stored = () =>
    Date.parse(b.db.prepare('SELECT last_used_at FROM media WHERE sha256 = ?').pluck().get(a.ref.sha256) as string);
  const cachedAt = stored();
  const changes = () => b.db.prepare('SELECT total_changes()').pluck().get() as number;
  const before = changes();
  for (let i = 1; i <= 20; i++) {
    t += 150_000; // a play every 2.5 min for 50 min
    b.cache.markUsed(a.ref.sha256);
  }
  assert.equal(changes(), before, 'no write for plays within the hour');
  assert.equal(stored(), cachedAt);
  t += USE_MARK_WRITE_MS;
  b.cache.markUsed(a.ref.sha256);
  assert.equal(stored(), t, 'written once the stored mark is an hour old');
  assert.equal(changes(), before + 1);
  await b.cache.stop();
});
