import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RejectionBudget } from '../../agent/domain/rejection-budget.js';

test('20 rejections a window are reported one by one; the rest are counted by reason and topic into one summary', () => {
  const b = new RejectionBudget(20, 60_000);
  const admitted = Array.from({ length: 1000 }, (_, i) =>
    b.admit(1000 + i, i % 2 ? 'signature' : 'invalid', i % 3 ? 't/a' : 't/b'),
  ).filter(Boolean).length;
  assert.equal(admitted, 20);
  const s = b.close(61_000);
  assert.ok(s);
  assert.equal(s.dropped, 980);
  assert.equal(s.windowS, 60);
  assert.equal(s.byReason.signature! + s.byReason.invalid!, 980);
  assert.equal(s.byTopic['t/a']! + s.byTopic['t/b']!, 980);
  assert.equal(b.close(62_000), null, 'nothing counted since: no summary');
  assert.equal(b.admit(62_000, 'invalid', 't/a'), true, 'a new window reports again');
  assert.equal(b.seen, 1001);
});

test('a quiet window ends by itself: the next rejection after it is reported', () => {
  const b = new RejectionBudget(2, 1000);
  assert.equal(b.admit(0, 'x', 't'), true);
  assert.equal(b.admit(1, 'x', 't'), true);
  assert.equal(b.admit(2, 'x', 't'), false);
  // The caller's timer closes the window at its end.
  assert.equal(b.windowEnd, 1000);
  assert.equal(b.close(1000)?.dropped, 1);
  assert.equal(b.admit(1500, 'x', 't'), true);
  assert.equal(b.admit(5000, 'x', 't'), true, 'after a window with nothing counted, a new one starts');
});
