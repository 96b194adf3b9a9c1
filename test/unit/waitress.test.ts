// The waitress: waits with a deadline on the injected clock, that clear their timer and
// name what they waited for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Waitress, WaitTimeoutError, within } from '../../agent/domain/waitress.js';
import { ManualClock } from '../fakes/manual-clock.js';

interface Reply {
  id: number;
  ok: boolean;
}

test('the oldest matching waiter gets the payload; its timer is cleared', async () => {
  const clock = new ManualClock();
  const w = new Waitress<Reply>(clock);
  const a = w.waitFor('reply 1', (r) => r.id === 1, 1000);
  const b = w.waitFor('reply 1 again', (r) => r.id === 1, 1000);
  const c = w.waitFor('reply 2', (r) => r.id === 2, 1000);
  assert.equal(clock.pending, 3);
  assert.equal(w.resolve({ id: 3, ok: true }), false, 'nobody waited for 3');
  assert.equal(w.resolve({ id: 1, ok: true }), true);
  assert.deepEqual(await a.promise, { id: 1, ok: true });
  assert.equal(w.size, 2);
  assert.equal(clock.pending, 2);
  w.resolve({ id: 2, ok: false });
  w.resolve({ id: 1, ok: false });
  assert.deepEqual(await b.promise, { id: 1, ok: false });
  assert.deepEqual(await c.promise, { id: 2, ok: false });
  assert.equal(clock.pending, 0);
});

test('a wait that times out rejects with an error naming what it waited for, and is gone', async () => {
  const clock = new ManualClock();
  const w = new Waitress<Reply>(clock);
  const a = w.waitFor('the reply to PING #7', (r) => r.id === 7, 500);
  const rejected = assert.rejects(a.promise, (e: unknown) => {
    assert.ok(e instanceof WaitTimeoutError);
    assert.equal(e.what, 'the reply to PING #7');
    assert.equal(e.ms, 500);
    assert.match(e.message, /timed out after 500 ms waiting for the reply to PING #7/);
    return true;
  });
  clock.advance(499);
  assert.equal(w.size, 1);
  clock.advance(1);
  await rejected;
  assert.equal(w.size, 0);
  assert.equal(w.resolve({ id: 7, ok: true }), false, 'a late reply finds nobody');
});

test('cancel and rejectAll clear the timers and reject', async () => {
  const clock = new ManualClock();
  const w = new Waitress<Reply>(clock);
  const a = w.waitFor('a', () => true, 1000);
  const b = w.waitFor('b', () => true, 1000);
  a.cancel();
  await assert.rejects(a.promise, /stopped waiting for a/);
  a.cancel(); // idempotent
  w.rejectAll(new Error('link stopped'));
  await assert.rejects(b.promise, /link stopped/);
  assert.equal(clock.pending, 0);
  assert.equal(w.size, 0);
});

test('within: the promise if it settles in time, else a named timeout; no timer left behind', async () => {
  const clock = new ManualClock();
  assert.equal(await within(clock, Promise.resolve(42), 100, 'the answer'), 42);
  await assert.rejects(within(clock, Promise.reject(new Error('refused')), 100, 'x'), /refused/);
  assert.equal(clock.pending, 0);
  const never = new Promise<never>(() => {});
  const late = within(clock, never, 5000, "the broker's acknowledgement of loa/v1/d/x/status");
  clock.advance(5000);
  await assert.rejects(
    late,
    (e: unknown) => e instanceof WaitTimeoutError && /acknowledgement of loa\/v1\/d\/x\/status/.test(e.message),
  );
  assert.equal(clock.pending, 0);
});
