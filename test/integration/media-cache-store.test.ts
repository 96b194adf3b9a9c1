// The media cache across starts and under pressure (the rig: media-cache-rig.ts): a
// corrupted cache cleaned at start, a restart in the middle of a download, fetchNow for a
// play command, eviction, start/stop without leaks, SD-card wear. Fetching itself:
// media-cache.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { partPath } from '../../agent/adapters/media-fetch.js';
import { USE_MARK_WRITE_MS } from '../../agent/runtime/media-cache.js';
import type { MediaRef } from '../../contract/schedule-doc.js';
import { tempDir } from '../helpers/tmp.js';
import { files, script, sentFor, hitsFor } from '../helpers/scripted-http.js';
import { systemClock } from '../../agent/adapters/clock.js';
import { MB, media, box, soon, want, events, until, cachedEvent, fileIs } from './media-cache-rig.js';

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
  const part = partPath(b.cacheDir, m.ref.sha256);
  const onDisk = () => (existsSync(part) ? statSync(part).size : 0);
  for (let i = 0; i < 10; i++) {
    const had = onDisk();
    await b.cache.start();
    want(b, [m.ref]);
    // Stopped once this start's bytes are on disk (a fixed 30 ms here once let a loaded
    // machine stop before any, and the next start rightly began again without Range).
    await until('bytes of this start on disk', () => onDisk() > had || b.cache.pathFor(m.ref.sha256) !== null);
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
