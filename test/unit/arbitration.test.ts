import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arbitrate, canResume, pickNext, pickResume, MIN_RESUME_MS } from '../../agent/domain/arbitration.js';

test('an idle speaker starts anything', () => {
  assert.deepEqual(arbitrate(null, { priority: 0 }), { action: 'start' });
});

test('higher preempts; equal or lower is busy', () => {
  assert.deepEqual(arbitrate({ priority: 50 }, { priority: 51 }), { action: 'preempt' });
  assert.deepEqual(arbitrate({ priority: 50 }, { priority: 50 }), { action: 'skip', reason: 'busy' });
  assert.deepEqual(arbitrate({ priority: 75 }, { priority: 50 }), { action: 'skip', reason: 'busy' });
});

test('an emergency starts at once whatever plays, even another emergency', () => {
  assert.deepEqual(arbitrate({ priority: 75 }, { priority: 100 }), { action: 'preempt' });
  assert.deepEqual(arbitrate({ priority: 100 }, { priority: 100 }), { action: 'preempt' });
});

test('relays with slot left resume; files and nearly-finished slots do not', () => {
  const now = 1_000_000;
  assert.equal(canResume({ kind: 'stream', priority: 50, slotEnd: now + 60_000 }, now), true);
  assert.equal(canResume({ kind: 'fm', priority: 50, slotEnd: now + MIN_RESUME_MS }, now), true);
  assert.equal(canResume({ kind: 'line', priority: 50, slotEnd: now + MIN_RESUME_MS - 1 }, now), false);
  assert.equal(canResume({ kind: 'file', priority: 50, slotEnd: now + 60_000 }, now), false);
  assert.equal(canResume({ kind: 'stream', priority: 50, slotEnd: null }, now), false);
});

test('the highest-priority live relay resumes, the most recent on a tie; expired ones are dropped', () => {
  const now = 0;
  const a = { id: 'a', kind: 'stream' as const, priority: 50, slotEnd: 100_000 };
  const b = { id: 'b', kind: 'fm' as const, priority: 60, slotEnd: 100_000 };
  const c = { id: 'c', kind: 'fm' as const, priority: 60, slotEnd: 50_000 };
  const gone = { id: 'gone', kind: 'stream' as const, priority: 90, slotEnd: 1000 };
  const r = pickResume([a, b, c, gone], now);
  assert.equal(r.resume?.id, 'c');
  assert.deepEqual(
    r.expired.map((x) => x.id),
    ['gone'],
  );
  assert.deepEqual(pickResume([], now), { resume: null, expired: [] });
});

test('a repeat waits behind an equal or higher priority, an emergency included; a first play does not', () => {
  assert.deepEqual(arbitrate({ priority: 100 }, { priority: 100, repeat: 2 }), { action: 'wait' });
  assert.deepEqual(arbitrate({ priority: 75 }, { priority: 50, repeat: 3 }), { action: 'wait' });
  assert.deepEqual(arbitrate({ priority: 50 }, { priority: 75, repeat: 2 }), { action: 'preempt' });
  assert.deepEqual(arbitrate({ priority: 50 }, { priority: 50, repeat: 1 }), { action: 'skip', reason: 'busy' });
  assert.deepEqual(arbitrate(null, { priority: 50, repeat: 2 }), { action: 'start' });
});

test('after the speaker frees up, a waiting repeat of at least the relay’s priority goes first', () => {
  const relay = { id: 'relay', kind: 'stream' as const, priority: 60, slotEnd: 100_000 };
  const low = { id: 'low', priority: 50 };
  const high = { id: 'high', priority: 60 };
  assert.deepEqual(pickNext([relay], [low, high], 0), { next: { waiter: high }, expired: [] });
  assert.deepEqual(pickNext([relay], [low], 0), { next: { resume: relay }, expired: [] });
  assert.deepEqual(pickNext([], [low], 0), { next: { waiter: low }, expired: [] });
  assert.deepEqual(pickNext([relay], [], 99_000), { next: null, expired: [relay] });
});
