// The outbox sender on the fake link: seq order, a window of events awaiting PUBACK,
// deletion only after it, and after a lost connection everything unacknowledged sent
// again from the oldest (contract §7). test/integration/outbox-delivery.test.ts does the
// same through Mosquitto with broker restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDb } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { OutboxSender } from '../../agent/runtime/outbox-sender.js';
import { createLogger } from '../../agent/log.js';
import { FakeLink } from '../fakes/fake-link.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';

const topic = 'loa/v1/d/box-1/events';

function rig(window = 3) {
  const clock = new ManualClock();
  const db = openDb(join(tempDir('sender'), 'loa.db'));
  const outbox = new Outbox(db, { maxEvents: 10_000, clock });
  const link = new FakeLink({ online: false });
  const sender = new OutboxSender({
    outbox,
    link,
    topic,
    window,
    log: createLogger({ level: 'silent', pretty: false }),
  });
  const emit = (n: number) => {
    for (let i = 0; i < n; i++) outbox.emit('cmd.rejected', { topic: 't', reason: 'invalid', message: `m${i}` });
  };
  const seqs = () => link.json<{ seq: number }>(topic).map((e) => e.seq);
  return { clock, db, outbox, link, sender, emit, seqs };
}

test('events written while offline go out in seq order on up, and leave the outbox only once acknowledged', async () => {
  const r = rig();
  r.sender.start();
  r.link.start();
  r.emit(7);
  await r.clock.tickAsync(0);
  assert.deepEqual(r.seqs(), []);
  assert.equal(r.outbox.size, 7);
  r.link.goOnline();
  await r.clock.tickAsync(0);
  assert.deepEqual(r.seqs(), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(r.outbox.size, 0);
  r.emit(2); // while up: sent as they are written
  await r.clock.tickAsync(0);
  assert.deepEqual(r.seqs().slice(7), [8, 9]);
  r.sender.stop();
  r.db.close();
});

test('at most `window` events await their PUBACK at once', async () => {
  const r = rig(3);
  r.sender.start();
  r.link.goOnline();
  r.link.start();
  await r.clock.tickAsync(0);
  r.link.holdAcks();
  r.emit(10);
  await r.clock.tickAsync(0);
  assert.equal(r.sender.inFlight, 3);
  assert.equal(r.outbox.size, 10);
  r.link.releaseAcks(); // the three are acknowledged, and the rest flow through the window in order
  await r.clock.tickAsync(0);
  assert.deepEqual(r.seqs(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(r.outbox.size, 0);
  r.sender.stop();
  r.db.close();
});

test('a connection lost with events in flight: they stay in the outbox and are sent again from the oldest', async () => {
  const r = rig(4);
  r.sender.start();
  r.link.goOnline();
  r.link.start();
  await r.clock.tickAsync(0);
  r.emit(2);
  await r.clock.tickAsync(0);
  assert.deepEqual(r.seqs(), [1, 2]);
  r.link.holdAcks();
  r.emit(6);
  await r.clock.tickAsync(0);
  assert.equal(r.sender.inFlight, 4);
  r.link.goOffline(); // 3..6 never acknowledged
  await r.clock.tickAsync(0);
  assert.equal(r.outbox.size, 6);
  assert.equal(r.sender.inFlight, 0);
  r.link.releaseAcks();
  r.link.goOnline();
  await r.clock.tickAsync(0);
  assert.deepEqual(r.seqs(), [1, 2, 3, 4, 5, 6, 7, 8], 'nothing lost, nothing out of order');
  assert.equal(r.outbox.size, 0);
  r.sender.stop();
  r.db.close();
});
