import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  planCache,
  pickDownloads,
  downloadDeadlineMs,
  behindMinRate,
  type CachePlanInput,
  type MediaNeed,
} from '../../agent/domain/cache-plan.js';

const NOW = Date.parse('2026-11-26T00:00:00Z');
const H = 3_600_000;
const sha = (c: string) => c.repeat(64);
const need = (c: string, bytes: number, inHours: number, id = `m-${c}`): MediaNeed => ({
  media: { id, url: `https://cdn.example.vn/${id}.mp3`, sha256: sha(c), bytes },
  firstUseAt: NOW + inHours * H,
});
const file = (c: string, bytes: number, usedHoursAgo: number) => ({
  sha256: sha(c),
  bytes,
  lastUsedAt: NOW - usedHoursAgo * H,
});
const plan = (i: Partial<CachePlanInput>) =>
  planCache({ needs: [], inForce: new Set(), cached: [], quotaBytes: 1000, now: NOW, ...i });

test('fetches what is missing, earliest first use first; nothing for what is cached', () => {
  const p = plan({ needs: [need('c', 10, 5), need('a', 10, 1), need('b', 10, 3)], cached: [file('b', 10, 1)] });
  assert.deepEqual(
    p.fetch.map((f) => f.media.sha256),
    [sha('a'), sha('c')],
  );
  assert.equal(p.fetch[0]!.dueInMs, 1 * H);
  assert.deepEqual(p.evict, []);
  assert.equal(p.quotaMet, true);
  assert.equal(p.bytesAfter, 30);
});

test('the same bytes named by two documents are fetched once, for the earlier use', () => {
  const p = plan({ needs: [need('a', 10, 5, 'news-x'), need('a', 10, 2, 'news-y')] });
  assert.equal(p.fetch.length, 1);
  assert.equal(p.fetch[0]!.media.id, 'news-y');
  assert.equal(p.fetch[0]!.firstUseAt, NOW + 2 * H);
});

test('late media (first use already past) come first', () => {
  const p = plan({ needs: [need('a', 10, 1), need('b', 10, -0.1)] });
  assert.deepEqual(
    p.fetch.map((f) => f.media.sha256),
    [sha('b'), sha('a')],
  );
  assert.ok(p.fetch[0]!.dueInMs < 0);
});

test('nothing is evicted while everything fits, even media no document names', () => {
  const p = plan({ needs: [need('a', 100, 1)], cached: [file('x', 100, 100)], quotaBytes: 1000 });
  assert.deepEqual(p.evict, []);
});

test('evicts least recently used first, only media no document in force names, only as much as needed', () => {
  const p = plan({
    needs: [need('n', 300, 1)],
    inForce: new Set([sha('n'), sha('f')]),
    cached: [file('f', 300, 900), file('old', 300, 50), file('older', 300, 60), file('new', 100, 1)],
    quotaBytes: 1000,
  });
  // 1000 cached + 300 to fetch: 300 must go; 'older' is the least recently used evictable.
  assert.deepEqual(p.evict, [sha('older')]);
  assert.deepEqual(
    p.fetch.map((f) => f.media.sha256),
    [sha('n')],
  );
  assert.equal(p.quotaMet, true);
  assert.equal(p.bytesAfter, 1000);
});

test('never evicts media needed in the horizon, even when no document in force is listed for it', () => {
  const p = plan({
    needs: [need('h', 500, 1), need('new', 600, 2)],
    inForce: new Set(),
    cached: [file('h', 500, 1000)],
    quotaBytes: 1000,
  });
  assert.deepEqual(p.evict, []);
  assert.deepEqual(
    p.deferred.map((f) => f.media.sha256),
    [sha('new')],
  );
  assert.equal(p.quotaMet, false);
});

test('when the quota cannot be met: fetch what plays soonest and fits, defer the rest, say so', () => {
  const p = plan({
    needs: [need('a', 400, 1), need('big', 700, 2), need('c', 300, 3), need('d', 300, 4)],
    inForce: new Set([sha('a'), sha('big'), sha('c'), sha('d')]),
    cached: [file('x', 200, 10)],
    quotaBytes: 1000,
  });
  // 'big' does not fit after 'a'; the smaller, later 'c' and 'd' still do.
  assert.deepEqual(
    p.fetch.map((f) => f.media.sha256),
    [sha('a'), sha('c'), sha('d')],
  );
  assert.deepEqual(
    p.deferred.map((f) => f.media.sha256),
    [sha('big')],
  );
  assert.deepEqual(p.evict, [sha('x')], 'room is made for what plays soonest');
  assert.equal(p.quotaMet, false);
  assert.ok(p.bytesAfter <= 1000);
});

test('evicts nothing for a media that cannot fit anyway', () => {
  const p = plan({
    needs: [need('huge', 5000, 1)],
    inForce: new Set([sha('huge')]),
    cached: [file('x', 500, 10)],
    quotaBytes: 1000,
  });
  assert.deepEqual(p.fetch, []);
  assert.deepEqual(p.evict, []);
  assert.equal(p.quotaMet, false);
});

test('a cache already over a lowered quota with only protected files reports it and fetches nothing', () => {
  const p = plan({
    needs: [need('a', 100, 1)],
    inForce: new Set([sha('p'), sha('a')]),
    cached: [file('p', 2000, 1)],
    quotaBytes: 1000,
  });
  assert.deepEqual(p.fetch, []);
  assert.deepEqual(p.evict, []);
  assert.equal(p.quotaMet, false);
  assert.equal(p.bytesAfter, 2000);
});

test('the plan is data: same inputs, same plan; inputs are not modified', () => {
  const needs = [need('b', 10, 2), need('a', 10, 1)];
  const cached = [file('z', 995, 3)];
  const input = { needs, inForce: new Set<string>(), cached, quotaBytes: 1000, now: NOW };
  const snapshot = JSON.stringify({ needs, cached });
  assert.deepEqual(planCache(input), planCache(input));
  assert.equal(JSON.stringify({ needs, cached }), snapshot);
});

// ---- which downloads run (pickDownloads) and for how long (downloadDeadlineMs) ----

const fetchOf = (...cs: string[]) => plan({ needs: cs.map((c, i) => need(c, 10, i + 1)), quotaBytes: 10_000 }).fetch;
const pick = (
  fetch: ReturnType<typeof fetchOf>,
  running: string[],
  o: { waiting?: string[]; stopping?: number; concurrency?: number } = {},
) => {
  const r = pickDownloads({
    fetch,
    running: new Set(running.map(sha)),
    waiting: new Set((o.waiting ?? []).map(sha)),
    stopping: o.stopping ?? 0,
    concurrency: o.concurrency ?? 2,
  });
  return { start: r.start.map((m) => m.sha256[0]), preempt: r.preempt.map((s) => s[0]) };
};

test('slots go to the earliest needs; free slots are filled in need order', () => {
  assert.deepEqual(pick(fetchOf('a', 'b', 'c'), []), { start: ['a', 'b'], preempt: [] });
  assert.deepEqual(pick(fetchOf('a', 'b', 'c'), ['a']), { start: ['b'], preempt: [] });
  assert.deepEqual(pick(fetchOf('a', 'b', 'c'), ['a', 'b']), { start: [], preempt: [] });
});

test('a medium needed sooner preempts the running one needed latest; it starts once that slot has closed', () => {
  // c and d trickle in both slots; a (needed soonest) arrives.
  const f = fetchOf('a', 'b', 'c', 'd');
  assert.deepEqual(pick(f, ['c', 'd']), { start: [], preempt: ['d', 'c'] }, 'a and b both outrank c and d');
  assert.deepEqual(
    pick(fetchOf('a', 'c', 'd'), ['c', 'd']),
    { start: [], preempt: ['d'] },
    'only the latest goes for one newcomer',
  );
  // d is closing: its slot is still taken, so a waits for it rather than over-filling.
  assert.deepEqual(pick(fetchOf('a', 'c', 'd'), ['c'], { waiting: ['d'], stopping: 1 }), { start: [], preempt: [] });
  assert.deepEqual(pick(fetchOf('a', 'c', 'd'), ['c']), { start: ['a'], preempt: [] });
});

test('a medium waiting out a retry backoff neither starts nor preempts; a running one the plan dropped goes first', () => {
  assert.deepEqual(pick(fetchOf('a', 'b', 'c'), ['b', 'c'], { waiting: ['a'] }), { start: [], preempt: [] });
  assert.deepEqual(pick(fetchOf('a', 'b', 'c'), [], { waiting: ['a'] }), { start: ['b', 'c'], preempt: [] });
  assert.deepEqual(pick(fetchOf('a', 'c'), ['c', 'z']), { start: [], preempt: ['z'] });
});

test('the deadline: set-up allowance plus the missing bytes at the slowest rate', () => {
  assert.equal(downloadDeadlineMs(5 * 1024 * 1024, 1000, 30_000), 30_000 + 5_242_880);
  assert.equal(downloadDeadlineMs(1, 1000, 30_000), 30_001);
  assert.equal(downloadDeadlineMs(0, 1000, 30_000), 30_000);
});

test('keeping up with the minimum rate: free during set-up, then minRate for every second since', () => {
  assert.equal(behindMinRate(29_000, 0, 1000, 30_000), false, 'set-up: nothing is due yet');
  assert.equal(behindMinRate(31_000, 2, 1000, 30_000), true, 'a byte every 20 s fails a second after set-up');
  assert.equal(behindMinRate(31_000, 1000, 1000, 30_000), false);
  assert.equal(behindMinRate(90_000, 59_999, 1000, 30_000), true);
  assert.equal(behindMinRate(90_000, 70_000, 1000, 30_000), false, 'a stall made up by a burst is fine');
  // At the total deadline every missing byte is due.
  const missing = 5 * 1024 * 1024;
  const t = downloadDeadlineMs(missing, 1000, 30_000);
  assert.equal(behindMinRate(t, missing - 1, 1000, 30_000), true);
  assert.equal(behindMinRate(t, missing, 1000, 30_000), false);
});
