// The committer of noc events (noc/events-commit.ts) over the real SQLite archive, wrapped
// so a test can make the database fail: acknowledgements only after the commit and in
// order, batches gathered while one commits, nothing acknowledged while the database is
// down and everything once it is back, a message the database refuses as data quarantined.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Committer, puback, type Incoming } from '../../noc/events-commit.js';
import type { ArchiveBatch, EventArchive, WriteResult } from '../../noc/archive-port.js';
import { EventStore } from '../../noc/events-store.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const ROOT = 'loa/v1';

/** The SQLite archive, with a switch that makes write() fail as a database that is down. */
function flaky(): EventStore & {
  down: boolean;
  poison: string | undefined;
  writes: number[];
  committed: number;
  refused: number;
} {
  const store = new EventStore(join(tempDir('commit'), 'ev.sqlite')) as EventStore & {
    down: boolean;
    poison: string | undefined;
    writes: number[];
    committed: number;
    refused: number;
  };
  store.refused = 0;
  store.down = false;
  store.poison = undefined;
  store.writes = [];
  store.committed = 0;
  const write = store.write.bind(store);
  store.write = async (b: ArchiveBatch): Promise<WriteResult> => {
    // A commit is asynchronous: what arrives meanwhile gathers into the next batch.
    await new Promise((r) => setImmediate(r));
    if (store.down) {
      store.refused++;
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    }
    if (store.poison && b.events.some((e) => e.raw.includes(store.poison!)))
      throw Object.assign(new Error('value too long'), { code: '22001' });
    store.writes.push(b.events.length + b.births.length + b.quarantine.length);
    const r = await write(b);
    store.committed += b.events.length;
    return r;
  };
  return store;
}

function message(i: number, acks: number[], committedAtAck: number[], store: { committed: number }): Incoming {
  const body = { epoch: 'E', seq: i, ts: new Date(1_800_000_000_000 + i).toISOString(), type: 'hw.fault' };
  return {
    topic: `${ROOT}/d/b${i % 3}/events`,
    payload: Buffer.from(JSON.stringify(body)),
    ack: () => {
      acks.push(i);
      committedAtAck.push(store.committed);
    },
  };
}

test(
  'acknowledged after the commit, in order, in batches gathered while one commits',
  { timeout: 10_000 },
  async () => {
    const store = flaky();
    const c = new Committer({ archive: store as EventArchive, root: ROOT, say: () => {}, maxBatch: 50 });
    const acks: number[] = [];
    const seen: number[] = [];
    for (let i = 1; i <= 120; i++) c.add(message(i, acks, seen, store));
    await until(() => acks.length === 120, 5000, '120 acknowledgements');
    assert.deepEqual(
      acks,
      Array.from({ length: 120 }, (_, i) => i + 1),
    );
    // Each acknowledgement came after its own event was committed.
    acks.forEach((i, k) => assert.ok(seen[k]! >= i, `ack of ${i} after ${seen[k]} committed`));
    assert.ok(store.writes.every((n) => n <= 50) && store.writes.length >= 3, `batches ${store.writes.join(',')}`);
    assert.equal(store.count(), 120);
    await c.stop();
    store.close();
  },
);

test(
  'the database down: nothing acknowledged, one line; back: all committed and acknowledged',
  { timeout: 10_000 },
  async () => {
    const store = flaky();
    const lines: string[] = [];
    const c = new Committer({
      archive: store as EventArchive,
      root: ROOT,
      say: (l) => lines.push(l),
      maxBatch: 500,
      retryMs: 20,
      maxRetryMs: 50,
    });
    const acks: number[] = [];
    store.down = true;
    for (let i = 1; i <= 10; i++) c.add(message(i, acks, [], store));
    await until(() => lines.some((l) => /not acknowledging/.test(l)), 3000, 'the outage reported');
    const before = store.refused;
    await until(() => store.refused >= before + 3, 3000, 'three more attempts refused');
    assert.equal(acks.length, 0);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, /cannot commit to .*ECONNREFUSED.*not acknowledging \(10 messages held\), retrying/);
    store.down = false;
    await until(() => acks.length === 10, 3000, 'all acknowledged once back');
    assert.match(lines[1]!, /is back after \d+ s; committing what was held/);
    assert.equal(store.count(), 10);
    await c.stop();
    store.close();
  },
);

test('stopped while the database is down: nothing acknowledged, stop() returns', { timeout: 10_000 }, async () => {
  const store = flaky();
  const c = new Committer({
    archive: store as EventArchive,
    root: ROOT,
    say: () => {},
    maxBatch: 500,
    retryMs: 10_000,
  });
  const acks: number[] = [];
  store.down = true;
  c.add(message(1, acks, [], store));
  await until(() => store.refused >= 1, 3000, 'the first attempt refused');
  await c.stop();
  assert.deepEqual(acks, []);
  store.close();
});

test('a message the database refuses as data is quarantined; the others are stored', { timeout: 10_000 }, async () => {
  const store = flaky();
  const lines: string[] = [];
  const c = new Committer({ archive: store as EventArchive, root: ROOT, say: (l) => lines.push(l), maxBatch: 500 });
  const acks: number[] = [];
  store.poison = '"seq":3,';
  for (let i = 1; i <= 5; i++) c.add(message(i, acks, [], store));
  await until(() => acks.length === 5, 3000, 'all five acknowledged');
  assert.equal(store.count(), 4);
  const q = await store.quarantined();
  assert.equal(q.length, 1);
  assert.match(q[0]!.reason, /^refused: value too long/);
  assert.equal(JSON.parse(q[0]!.payload.toString()).seq, 3);
  assert.equal(c.counts.quarantined, 1);
  await c.stop();
  store.close();
});

test('puback: reason 0, no properties, the packet id big-endian', () => {
  assert.deepEqual([...puback(0x1234)], [0x40, 0x02, 0x12, 0x34]);
});

test(
  "held messages are bounded: past maxHeld the next read waits until half are committed; a closed connection's messages dropped",
  { timeout: 10_000 },
  async () => {
    const store = flaky();
    const lines: string[] = [];
    const c = new Committer({
      archive: store as EventArchive,
      root: ROOT,
      say: (l) => lines.push(l),
      maxBatch: 10,
      maxHeld: 40,
      retryMs: 20,
    });
    const acks: number[] = [];
    const reads: number[] = [];
    store.down = true;
    let connected = true;
    for (let i = 1; i <= 45; i++) {
      c.add({ ...message(i, acks, [], store), live: () => i > 30 || connected });
      c.afterAdd(() => reads.push(i));
    }
    assert.equal(reads.length, 39, 'reading goes on up to the bound, then waits');
    await until(() => lines.length > 0, 3000, 'the first batch failing');
    connected = false; // messages 1-30 came on a connection that closed: the broker will send them again
    store.down = false;
    await until(() => reads.length === 45 && c.held === 0, 3000, 'reading resumed, all held committed');
    // The first batch was formed before the connection closed: committed (its acks are not sent: not live).
    assert.equal(store.count(), 10 + 15);
    await c.stop();
    store.close();
  },
);
