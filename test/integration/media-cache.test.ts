// The media cache fetching from a real HTTP server on 127.0.0.1 that the test controls:
// good bytes, cuts resumed with Range, wrong bytes, stalls, HTTP errors, a few at a time,
// redirects, servers that ignore Range. Events go to a real Outbox on a real database
// (the rig: media-cache-rig.ts). The cache across starts: media-cache-store.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHttpFetcher, partPath, MediaFetchError } from '../../agent/adapters/media-fetch.js';
import { tempDir } from '../helpers/tmp.js';
import { server, script, base, sentFor, hitsFor } from '../helpers/scripted-http.js';
import { MB, media, box, soon, want, events, until, cachedEvent, fileIs, cacheOne } from './media-cache-rig.js';

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
