// Downloads cannot starve each other, and redirects cannot lead the box astray: the
// media cache and its fetcher against a real HTTP server on 127.0.0.1 (scripted-http)
// that trickles a byte a second, and redirects as told. Events go to a real Outbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDb } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import {
  createHttpFetcher,
  partPath,
  MediaFetchError,
  type HttpFetcherOptions,
} from '../../agent/adapters/media-fetch.js';
import { MediaStore } from '../../agent/adapters/media-store.js';
import { MediaCache, type MediaCacheDeps } from '../../agent/runtime/media-cache.js';
import { classifyAddress } from '../../agent/domain/address-class.js';
import type { MediaRef } from '../../contract/schedule-doc.js';
import type { MediaNeed } from '../../agent/domain/cache-plan.js';
import { createLogger } from '../../agent/log.js';
import { tempDir } from '../helpers/tmp.js';
import { server, files, script, base, hitsFor } from '../helpers/scripted-http.js';
import { systemClock } from '../../agent/adapters/clock.js';
import { mediaCacheDir } from '../../agent/adapters/media-cache-dir.js';
import { until as waitUntil } from '../helpers/wait.js';

let counter = 0;
function media(size: number, tag = 'm'): { ref: MediaRef; body: Buffer; path: string } {
  const id = `${tag}${++counter}`;
  const body = randomBytes(size);
  const path = `/limits/${id}.mp3`;
  files.set(path, body);
  return {
    ref: { id, url: base + path, sha256: createHash('sha256').update(body).digest('hex'), bytes: size },
    body,
    path,
  };
}

// The cache's clock stands still at the run's start: firstUseAt is counted from it.
const T0 = Date.now();
const inS = (ref: MediaRef, s: number): MediaNeed => ({ media: ref, firstUseAt: T0 + s * 1000 });

function box(fetch: HttpFetcherOptions, more: Partial<MediaCacheDeps> = {}) {
  const dir = tempDir('limits');
  const clock = { ...systemClock, now: () => T0, monoMs: () => performance.now() };
  const db = openDb(join(dir, 'loa.db'));
  const outbox = new Outbox(db, { maxEvents: 10_000, clock });
  const cacheDir = join(dir, 'cache');
  // When the cache asked for each URL, from its side: a fetch's set-up time runs from
  // here, before the request reaches the server (under load, tens of ms before).
  const asked: { url: string; at: number }[] = [];
  const http = createHttpFetcher({ connectTimeoutMs: 5_000, idleTimeoutMs: 30_000, ...fetch });
  const cache = new MediaCache({
    files: mediaCacheDir,
    store: new MediaStore(db),
    cacheDir,
    quotaBytes: 100 << 20,
    concurrency: 2,
    events: outbox,
    clock,
    log: createLogger({ level: 'silent', pretty: false }),
    fetcher: { fetch: (req) => (asked.push({ url: req.url, at: performance.now() }), http.fetch(req)) },
    retry: { minMs: 60_000, maxMs: 60_000 },
    ...more,
  });
  const events = () =>
    outbox.peekAfter(0, 10_000).map((r) => JSON.parse(r.body) as { type: string; sha256?: string; reason?: string });
  return { cache, cacheDir, events, asked };
}

const until = <T>(what: string, f: () => T | undefined | false, ms: number): Promise<T> => waitUntil(f, ms, what, 20);

/** When each path was requested (ms since the test began), from the server's side. */
function requestLog() {
  const t0 = performance.now();
  const at: { path: string; ms: number; range: string | undefined }[] = [];
  const on = (req: IncomingMessage) =>
    at.push({ path: req.url ?? '', ms: performance.now() - t0, range: req.headers.range });
  server.prependListener('request', on);
  return {
    at,
    since: () => performance.now() - t0,
    /** `performance.now()` on the same scale as `at`. */
    rel: (t: number) => t - t0,
    off: () => server.off('request', on),
  };
}

const TRICKLE = { chunkBytes: 1, delayMs: 1000 }; // one byte a second: no idle timeout ever fires

test('two trickling media fill both slots; a good medium needed sooner preempts one and is cached at once', async () => {
  const slow = [media(2000, 'slow'), media(2000, 'slow')];
  for (const s of slow) script.set(s.path, [TRICKLE]);
  const good = media(256 * 1024, 'good');
  // 8 s of set-up, then 1000 B/s: a slow attempt ends ~9 s in; the good one must not wait for that.
  // The retry after too-slow must wait its 60 s (full jitter would draw anywhere in [0, 60 s]:
  // about 1 run in 40 retried the first slow one before the other had failed, and the
  // request count below then saw three requests where it expects two).
  const b = box({ minRateBps: 1000, setupMs: 8_000 }, { random: () => 0.99 });
  const log = requestLog();
  try {
    await b.cache.start();
    b.cache.setNeeds(
      slow.map((s) => inS(s.ref, 3600)),
      new Set(slow.map((s) => s.ref.sha256)),
    );
    await until('both slow media requested', () => slow.every((s) => log.at.some((h) => h.path === s.path)), 5_000);
    await sleep(1_500); // both slots trickling
    const wantedAt = log.since();
    b.cache.setNeeds(
      [inS(good.ref, 75), ...slow.map((s) => inS(s.ref, 3600))],
      new Set([good.ref.sha256, ...slow.map((s) => s.ref.sha256)]),
    );
    await until(
      'good medium cached',
      () => b.events().find((e) => e.type === 'media.cached' && e.sha256 === good.ref.sha256),
      20_000,
    );
    const goodReq = log.at.find((h) => h.path === good.path)!;
    // The slow attempts began >= 1.5 s before and cannot be behind the rate before 8 s:
    // anything under 6 s is preemption, not a slot freed by too-slow.
    assert.ok(
      goodReq.ms - wantedAt < 6_000,
      `the good medium was requested ${Math.round(goodReq.ms - wantedAt)} ms after it was needed (no waiting for a deadline)`,
    );
    assert.ok(readFileSync(join(b.cacheDir, good.ref.sha256)).equals(good.body));
    // The slow ones: each attempt aborted once behind the minimum rate, reported too-slow, once.
    const failed = await until(
      'both slow media reported',
      () => {
        const f = b.events().filter((e) => e.type === 'media.failed');
        return f.length >= 2 && f;
      },
      30_000,
    );
    assert.deepEqual(
      failed.map((e) => [e.sha256, e.reason]).sort(),
      slow.map((s) => [s.ref.sha256, 'too-slow']).sort(),
    );
    // One was preempted (a second request that resumed from what it had), the other fell behind.
    const reqs = slow.map((s) => log.at.filter((h) => h.path === s.path));
    assert.deepEqual(reqs.map((r) => r.length).sort(), [1, 2], JSON.stringify(reqs));
    const once = reqs.find((r) => r.length === 1)![0]!;
    const onceAsked = log.rel(b.asked.find((a) => a.url === base + once.path)!.at);
    const failedAt = log.since();
    assert.ok(failedAt - onceAsked >= 8_000, 'not aborted during its 8 s of set-up');
    // Partial bytes kept for a later resume.
    for (const s of slow)
      assert.ok(
        existsSync(partPath(b.cacheDir, s.ref.sha256)) && statSync(partPath(b.cacheDir, s.ref.sha256)).size > 0,
        'the .part is kept',
      );
    assert.deepEqual(b.cache.figures(), { bytes: good.body.length, ready: 1, pending: 0, failed: 2 });
  } finally {
    log.off();
    await b.cache.stop();
  }
});

test('two large trickling media needed first: aborted once behind the minimum rate (not after their size-long deadline), reported, retried with Range after a backoff; the next medium then gets a slot', async () => {
  // 1 MiB each: their total deadline would be 3 s + 1049 s; falling behind ends them ~4 s in.
  const slow = [media(1 << 20, 'slow'), media(1 << 20, 'slow')];
  for (const s of slow) script.set(s.path, [TRICKLE]);
  const good = media(64 * 1024, 'good');
  const b = box({ minRateBps: 1000, setupMs: 3_000 }, { retry: { minMs: 2_000, maxMs: 2_000 }, random: () => 0.99 });
  const log = requestLog();
  try {
    await b.cache.start();
    b.cache.setNeeds(
      [inS(slow[0]!.ref, 30), inS(slow[1]!.ref, 40), inS(good.ref, 75)],
      new Set([...slow, good].map((m) => m.ref.sha256)),
    );
    await until(
      'good medium cached',
      () => b.events().find((e) => e.type === 'media.cached' && e.sha256 === good.ref.sha256),
      20_000,
    );
    const goodReq = log.at.find((h) => h.path === good.path)!;
    // From when the cache asked for the first slow one (its set-up time starts there; the
    // server sees the request later, by as much as the machine is loaded).
    const firstSlow = log.rel(
      Math.min(...b.asked.filter((a) => slow.some((s) => s.ref.url === a.url)).map((a) => a.at)),
    );
    // 3 s of set-up, then behind at once: the good medium starts once a slow one is aborted, not later.
    // (Their size-long deadline would be 1049 s: 15 s is a generous bound for ~4 s.)
    assert.ok(
      goodReq.ms - firstSlow >= 3_000 && goodReq.ms - firstSlow < 15_000,
      `good requested ${Math.round(goodReq.ms - firstSlow)} ms after the slow ones`,
    );
    // Both fall behind at about the same moment; the second may be aborted just after the
    // good medium (which took the first one's slot) is cached: wait for it, not for a time.
    const failed = () => b.events().filter((e) => e.type === 'media.failed');
    await until('both slow media aborted', () => failed().length >= 2, 15_000);
    assert.deepEqual(
      failed().map((e) => e.reason),
      ['too-slow', 'too-slow'],
    );
    // Retried after the backoff, resuming from the bytes kept.
    await until(
      'a slow medium retried',
      () => slow.some((s) => log.at.filter((h) => h.path === s.path).length >= 2),
      10_000,
    );
    const retry = log.at.filter((h) => slow.some((s) => s.path === h.path))[2]!;
    assert.match(retry.range ?? '', /^bytes=[1-9]\d*-$/, 'the retry resumes with Range');
  } finally {
    log.off();
    await b.cache.stop();
  }
});

// ---- redirects ----

const cacheDir = () => join(tempDir('redirect'), 'cache');
const failure = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e as MediaFetchError,
  );

test('redirects: 3 hops are followed, a 4th is refused; only to http(s)', async () => {
  const fetcher = createHttpFetcher({ idleTimeoutMs: 5_000 });
  const m = media(4096);
  const chain = (name: string, n: number) => {
    for (let i = 0; i < n; i++)
      script.set(`/hop/${name}/${i}`, [{ redirectTo: i + 1 < n ? `/hop/${name}/${i + 1}` : m.path }]);
    return `${base}/hop/${name}/0`;
  };
  const r = await fetcher.fetch({
    url: chain('three', 3),
    sha256: m.ref.sha256,
    bytes: m.ref.bytes,
    cacheDir: cacheDir(),
  });
  assert.ok(readFileSync(r.path).equals(m.body));

  const before = hitsFor(m.path).length;
  const e = await failure(
    fetcher.fetch({ url: chain('four', 4), sha256: m.ref.sha256, bytes: m.ref.bytes, cacheDir: cacheDir() }),
  );
  assert.ok(e instanceof MediaFetchError);
  assert.deepEqual([e.reason, e.retryable], ['redirect', false]);
  assert.match(e.message, /redirected more than 3 times/);
  assert.equal(hitsFor('/hop/four/3').length, 1, 'the fourth redirect was received');
  assert.equal(hitsFor(m.path).length, before, 'but not followed');

  for (const to of ['file:///etc/passwd', 'ftp://127.0.0.1/x.mp3', 'gopher://127.0.0.1/x']) {
    script.set('/hop/scheme', [{ redirectTo: to }]);
    const e2 = await failure(
      fetcher.fetch({ url: `${base}/hop/scheme`, sha256: m.ref.sha256, bytes: m.ref.bytes, cacheDir: cacheDir() }),
    );
    assert.deepEqual([e2.reason, e2.retryable], ['redirect', false], to);
    assert.match(e2.message, /only http and https are followed/);
  }
});

test('a redirect from a public host to loopback is refused, by address or by name; loopback to loopback is not', async () => {
  // A stand-in "public CDN" on 127.0.0.2, which the injected classifier calls public;
  // everything else is classified for real (127.0.0.1 and localhost are loopback).
  const m = media(4096);
  let target = '';
  const cdn = createServer((_req, res) => res.writeHead(302, { location: target }).end());
  await new Promise<void>((r) => cdn.listen(0, '127.0.0.2', r));
  const cdnUrl = `http://127.0.0.2:${(cdn.address() as { port: number }).port}/a.mp3`;
  const publicish = (ip: string) => (ip === '127.0.0.2' ? 'public' : classifyAddress(ip));
  const port = new URL(base).port;
  try {
    const fetcher = createHttpFetcher({ idleTimeoutMs: 5_000, classifyAddress: publicish });
    for (const to of [
      `${base}${m.path}`,
      `http://localhost:${port}${m.path}`,
      `http://[::ffff:127.0.0.1]:${port}${m.path}`,
    ]) {
      target = to;
      const e = await failure(
        fetcher.fetch({ url: cdnUrl, sha256: m.ref.sha256, bytes: m.ref.bytes, cacheDir: cacheDir() }),
      );
      assert.deepEqual([e.reason, e.retryable], ['redirect', false], `${to}: ${e.message}`);
      assert.match(e.message, /a redirect from a public host leads to .* \(loopback\); refused/);
    }
    assert.equal(hitsFor(m.path).length, 0, 'the loopback server was never asked');

    // The same redirect with the real classifier (127.0.0.2 is loopback too) is followed.
    target = `http://localhost:${port}${m.path}`;
    const r = await createHttpFetcher({ idleTimeoutMs: 5_000 }).fetch({
      url: cdnUrl,
      sha256: m.ref.sha256,
      bytes: m.ref.bytes,
      cacheDir: cacheDir(),
    });
    assert.ok(readFileSync(r.path).equals(m.body));
  } finally {
    cdn.close();
  }
});
