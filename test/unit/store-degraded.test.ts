// The stores on a sick disk, with real SQLite files. A full disk is SQLite's own
// SQLITE_FULL, produced by capping the file's page count (PRAGMA max_page_count) — the
// same error a full SD card gives — and lifted again to let "space return".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { openDb, openStore } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { LedgerStore } from '../../agent/adapters/ledger-store.js';
import { ReplayState } from '../../agent/adapters/replay-state.js';
import { MediaStore } from '../../agent/adapters/media-store.js';
import { createLogger } from '../../agent/log.js';
import { tempDir } from '../helpers/tmp.js';
import { systemClock } from '../../agent/adapters/clock.js';
import { ManualClock } from '../fakes/manual-clock.js';

const log = createLogger({ level: 'silent', pretty: false });
const clock = { ...systemClock, now: () => Date.parse('2026-11-27T00:00:00Z'), monoMs: () => performance.now() };

function fullAt(db: ReturnType<typeof openDb>): () => void {
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages}`);
  return () => db.pragma('max_page_count = 1073741823');
}

test('outbox on a full disk: emit never throws, seqs go on, the events reach the table in order once space returns; overflow is reported', () => {
  const db = openDb(join(tempDir('ob-full'), 'loa.db'));
  const outbox = new Outbox(db, { maxEvents: 1000, clock, maxHeld: 50 });
  outbox.emit('media.failed', { mediaId: 'a', sha256: 'x', reason: 'before' });
  const free = fullAt(db);
  const big = 'y'.repeat(3000);
  const seqs: number[] = [];
  for (let i = 0; i < 60; i++)
    seqs.push(outbox.emit('media.failed', { mediaId: `m${i}`, sha256: big, reason: 'during' }));
  assert.deepEqual(
    seqs,
    Array.from({ length: 60 }, (_, i) => i + 2),
    'seqs keep counting',
  );
  assert.ok(outbox.heldCount > 0 && outbox.heldCount <= 50, `held ${outbox.heldCount}`);
  assert.equal(outbox.flushHeld(), false, 'still full');
  free();
  assert.equal(outbox.flushHeld(), true);
  const rows = outbox
    .peekAfter(0, 1000)
    .map((e) => JSON.parse(e.body) as { seq: number; type: string; fromSeq?: number; toSeq?: number; reason: string });
  const seqsOut = rows.map((r) => r.seq);
  assert.deepEqual(
    seqsOut,
    [...seqsOut].sort((a, b) => a - b),
    'in order',
  );
  const dropped = rows.find((r) => r.type === 'outbox.dropped');
  assert.ok(dropped, 'the overflow is reported');
  assert.equal(dropped.reason, 'disk-full');
  const heldOut = rows.filter((r) => r.type === 'media.failed' && r.reason === 'during').length;
  // Every event is either written or inside the reported range: 1 before, 60 during.
  assert.equal(1 + heldOut + (dropped.toSeq! - dropped.fromSeq! + 1), 61);
  db.close();
});

test('outbox on a full disk: held events are written by the 5 s retry on the clock, with no emit needed; close() stops it', () => {
  const manual = new ManualClock();
  const db = openDb(join(tempDir('ob-retry'), 'loa.db'));
  const notes: string[] = [];
  const outbox = new Outbox(db, { maxEvents: 1000, clock: manual, onDisk: (state) => notes.push(state) });
  const free = fullAt(db);
  const big = 'y'.repeat(3000);
  for (let i = 0; i < 5; i++) outbox.emit('media.failed', { mediaId: `m${i}`, sha256: big, reason: 'during' });
  assert.ok(outbox.heldCount > 0);
  assert.equal(manual.pending, 1, 'one retry timer');
  assert.equal(manual.pendingRef, 0, 'it does not keep the process alive');
  manual.advance(5000); // still full: tried, re-armed
  assert.ok(outbox.heldCount > 0);
  assert.equal(manual.pending, 1);
  free();
  manual.advance(4999);
  assert.ok(outbox.heldCount > 0, 'not before the next retry');
  manual.advance(1);
  assert.equal(outbox.heldCount, 0);
  assert.equal(outbox.peekAfter(0, 100).length, 5);
  assert.deepEqual(notes, ['refused', 'recovered']);
  assert.equal(manual.pending, 0, 'nothing held, no timer');
  const refill = fullAt(db);
  for (let i = 0; i < 5; i++) outbox.emit('media.failed', { mediaId: `n${i}`, sha256: big, reason: 'again' });
  assert.equal(manual.pending, 1);
  outbox.close();
  assert.equal(manual.pending, 0, 'close() clears the retry');
  refill();
  db.close();
});

test('ledger on a full disk: a set is kept in memory and answers has(); it is written once the disk takes writes', () => {
  const db = openDb(join(tempDir('ledger-full'), 'loa.db'));
  const ledger = new LedgerStore(db);
  const free = fullAt(db);
  const row = (i: number) => ({
    key: `d/i/${i}`,
    docId: 'd',
    itemId: 'i',
    occurrence: `2026-11-27T00:00:0${i}Z`,
    state: 'started' as const,
    detail: 'x'.repeat(4000),
  });
  for (let i = 0; i < 5; i++) ledger.set(row(i), clock.now());
  assert.ok(ledger.unwrittenCount > 0);
  for (let i = 0; i < 5; i++) assert.equal(ledger.has(`d/i/${i}`), true);
  free();
  ledger.set({ ...row(0), state: 'finished' }, clock.now());
  assert.equal(ledger.unwrittenCount, 0);
  assert.equal(ledger.get('d/i/0')?.state, 'finished');
  assert.equal(ledger.unfinished().length, 4);
  db.close();
});

test('openStore: a corrupt file is moved aside and a fresh database made; a deleted one is "missing" when the box had state', () => {
  const dir = tempDir('open-store');
  const path = join(dir, 'loa.db');
  const first = openStore(path, { hadState: false });
  assert.equal(first.reset, undefined);
  first.db.close();
  writeFileSync(path, Buffer.concat([Buffer.alloc(100, 0xa5), readFileSync(path).subarray(100)]));
  const second = openStore(path, { hadState: true });
  assert.equal(second.reset?.reason, 'corrupt');
  assert.ok(second.reset?.movedTo && existsSync(second.reset.movedTo), 'kept for inspection');
  assert.equal(second.inMemory, false);
  second.db.close();
  for (const f of ['loa.db', 'loa.db-wal', 'loa.db-shm']) rmSync(join(dir, f), { force: true });
  const third = openStore(path, { hadState: true });
  assert.equal(third.reset?.reason, 'missing');
  third.db.close();
});

test('replay state: written atomically, read back, a rotten file is refused rather than trusted', () => {
  const dir = tempDir('replay');
  const path = join(dir, 'replay.json');
  const a = new ReplayState(path, log);
  assert.equal(a.load(), 'missing');
  a.absorbTopic('t', { id: 'doc', version: 3, issuedAt: '2026-11-26T00:00:00Z', jws: 'x.y.z' });
  a.absorbCommand('cmd-1', Date.parse('2026-11-28T00:00:00Z'));
  assert.equal(a.save(), true);
  const b = new ReplayState(path, log);
  assert.equal(b.load(), 'loaded');
  assert.equal(b.acceptedVersion('doc'), 3);
  assert.equal(b.topicMark('t')?.issuedAt, '2026-11-26T00:00:00Z');
  assert.equal(b.commandSeen('cmd-1'), true);
  // An older mark never replaces a newer one.
  assert.equal(b.absorbTopic('t', { id: 'doc', version: 2, issuedAt: '2026-11-27T00:00:00Z', jws: '' }), false);
  assert.equal(b.absorbTopic('t', { id: 'other', version: 1, issuedAt: '2026-11-25T00:00:00Z', jws: '' }), false);
  writeFileSync(path, readFileSync(path, 'utf8').replace('"version":3', '"version":9'));
  assert.equal(new ReplayState(path, log).load(), 'corrupt');
  // Expired command ids are pruned a day after their expiry.
  b.prune(Date.parse('2026-11-29T00:00:01Z'));
  assert.equal(b.commandSeen('cmd-1'), false);
});

test('media table on a full disk: recording a play, a found file or a download never throws; the event still goes out', () => {
  const db = openDb(join(tempDir('media-full'), 'loa.db'));
  const store = new MediaStore(db);
  store.add('a'.repeat(64), 10, clock.now());
  const free = fullAt(db);
  // Fill the last free space of the file so that every further write needs a new page.
  for (let i = 0; i < 200; i++) store.add(i.toString(16).padStart(64, '0'), 10, clock.now());
  let emitted = 0;
  assert.doesNotThrow(() => {
    store.touch('a'.repeat(64), clock.now() + 1000);
    store.forget('b'.repeat(64));
    store.cached('c'.repeat(64), 99, clock.now(), () => emitted++);
  });
  assert.equal(emitted, 1, 'the media.cached event is emitted once, with or without the row');
  free();
  store.cached('d'.repeat(64), 5, clock.now(), () => emitted++);
  assert.equal(store.all().get('d'.repeat(64))?.bytes, 5);
  db.close();
});
