import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDb } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { tempDir } from '../helpers/tmp.js';
import { systemClock } from '../../agent/adapters/clock.js';

const clock = { ...systemClock, now: () => Date.parse('2026-11-26T00:00:00Z'), monoMs: () => 0 };
const door = { component: 'door', code: 'open', message: 'cabinet door opened' } as const;

test('events carry epoch, consecutive seq, ts and type, then their own fields', () => {
  const db = openDb(join(tempDir('ob'), 'loa.db'));
  const ob = new Outbox(db, { maxEvents: 1000, clock });
  assert.equal(ob.emit('hw.fault', door), 1);
  assert.equal(ob.emit('hw.recovered', door), 2);
  const rows = ob.peekAfter(0, 10);
  assert.deepEqual(
    rows.map((r) => r.seq),
    [1, 2],
  );
  const first = JSON.parse(rows[0]!.body);
  assert.deepEqual(Object.keys(first), ['epoch', 'seq', 'ts', 'type', 'component', 'code', 'message']);
  assert.equal(first.epoch, ob.epoch);
  assert.equal(first.ts, '2026-11-26T00:00:00.000Z');
  db.close();
});

test('seq is never reused: not after acks empty the table, not after reopening', () => {
  const path = join(tempDir('ob'), 'loa.db');
  let db = openDb(path);
  let ob = new Outbox(db, { maxEvents: 1000, clock });
  const epoch = ob.epoch;
  for (let i = 0; i < 5; i++) ob.emit('hw.fault', door);
  assert.equal(ob.ack([1, 2, 3, 4, 5]), 5);
  assert.equal(ob.size, 0);
  db.close();
  db = openDb(path);
  ob = new Outbox(db, { maxEvents: 1000, clock });
  assert.equal(ob.epoch, epoch, 'the epoch lives with the database');
  assert.equal(ob.emit('hw.fault', door), 6);
  db.close();
});

test('a new database is a new epoch', () => {
  const a = new Outbox(openDb(join(tempDir('ob'), 'a.db')), { maxEvents: 1000, clock });
  const b = new Outbox(openDb(join(tempDir('ob'), 'b.db')), { maxEvents: 1000, clock });
  assert.notEqual(a.epoch, b.epoch);
});

test('when full, the oldest 1 % are dropped and the drop itself is an event', () => {
  const db = openDb(join(tempDir('ob'), 'loa.db'));
  const drops: unknown[] = [];
  const ob = new Outbox(db, { maxEvents: 200, clock, onDrop: (i) => drops.push(i) });
  for (let i = 0; i < 200; i++) ob.emit('hw.fault', door);
  assert.equal(ob.size, 200);
  assert.equal(ob.emit('hw.fault', door), 202, 'seq 201 went to the drop notice');
  assert.deepEqual(drops, [{ count: 2, fromSeq: 1, toSeq: 2 }]);
  assert.equal(ob.size, 200);
  const rows = ob.peekAfter(0, 1000);
  assert.equal(rows[0]!.seq, 3);
  const notice = JSON.parse(rows.find((r) => r.seq === 201)!.body);
  assert.deepEqual(
    { type: notice.type, count: notice.count, fromSeq: notice.fromSeq, toSeq: notice.toSeq, reason: notice.reason },
    { type: 'outbox.dropped', count: 2, fromSeq: 1, toSeq: 2, reason: 'full' },
  );
  db.close();
});

test('size survives a reopen and onAppend tells listeners', () => {
  const path = join(tempDir('ob'), 'loa.db');
  const db = openDb(path);
  const ob = new Outbox(db, { maxEvents: 1000, clock });
  const seen: number[] = [];
  const off = ob.onAppend((s) => seen.push(s));
  ob.emit('hw.fault', door);
  off();
  ob.emit('hw.fault', door);
  assert.deepEqual(seen, [1]);
  db.close();
  assert.equal(new Outbox(openDb(path), { maxEvents: 1000, clock }).size, 2);
});
