import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, backoffDelay } from '../../agent/domain/backoff.js';

test('the ceiling doubles from minMs and stops at maxMs', () => {
  const p = { minMs: 2000, maxMs: 300_000 };
  const top = (attempt: number) => backoffDelay(p, attempt, () => 0.999999);
  assert.deepEqual([0, 1, 2, 3].map(top), [1999, 3999, 7999, 15_999]);
  assert.equal(top(20), 299_999);
  assert.equal(top(10_000), 299_999, 'no overflow for huge attempt counts');
  assert.equal(
    backoffDelay(p, 5, () => 0),
    0,
  );
});

test('full jitter spreads a fleet over the whole window', () => {
  // 10,000 boxes lose the broker at once: their first retries fall evenly over [0, minMs).
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < 10_000; i++) buckets[Math.floor(backoffDelay({ minMs: 2000, maxMs: 300_000 }, 0, rnd) / 200)]!++;
  for (const b of buckets) assert.ok(b > 800 && b < 1200, `bucket of ${b} boxes per 200 ms`);
});

test('Backoff counts attempts and resets', () => {
  const b = new Backoff({ minMs: 100, maxMs: 1000 }, () => 0.5);
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [50, 100, 200, 400, 500]);
  assert.equal(b.attempts, 5);
  b.reset();
  assert.equal(b.next(), 50);
});
