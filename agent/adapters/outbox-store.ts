// The durable event outbox (docs/protocol.md §7). emit() returns only after the event
// is committed to SQLite, so an event the agent has emitted survives kill -9 and,
// with synchronous=FULL, a power cut. Events leave the table only when the broker
// has acknowledged them (see runtime/outbox-sender.ts).
//
// Invariants: seq starts at 1 within an epoch, increases by one per event, and is never
// reused (the table is AUTOINCREMENT and the counter is read back from
// sqlite_sequence at open). The table holds at most maxEvents rows: when full, the
// oldest 1 % are dropped and an `outbox.dropped` event records the range, so the centre
// sees the gap and why (docs/protocol.md §7).
//
// A disk that refuses writes (full, failing) does not stop emit(): events get their seq
// and wait in a bounded memory buffer, in order, until a write succeeds (tried on each
// emit and every few seconds); only then are they sent. If the buffer overflows, the
// oldest are dropped and an `outbox.dropped` (reason `disk-full`) names the range once the
// disk takes writes again. Seqs held only in memory are never published, so one lost
// with the process is never seen twice with different content.
import type { Statement } from 'better-sqlite3';
import type { Db } from './sqlite-db.js';
import { epochOf, isDiskError } from './sqlite-db.js';
import type { Clock, TimerHandle } from './clock.js';
import type { EventFields, EventSink, EventType } from '../../contract/events.js';

export interface StoredEvent {
  seq: number;
  /** The complete JSON payload, exactly as published. */
  body: string;
}

export interface OutboxOptions {
  maxEvents: number;
  clock: Clock;
  /** Called after events were dropped because the outbox was full. */
  onDrop?: (info: { count: number; fromSeq: number; toSeq: number }) => void;
  /** Events held in memory at most while the disk refuses writes (default 2,000). */
  maxHeld?: number;
  /** The disk refused a write (first time), or took them again: for logs. */
  onDisk?: (state: 'refused' | 'recovered', detail: string) => void;
}

interface Held {
  seq: number;
  ts: string;
  type: string;
  body: string;
}

export class Outbox implements EventSink {
  private readonly listeners = new Set<(seq: number) => void>();
  readonly epoch: string;
  private lastSeq: number;
  private rows: number;
  private readonly insert: Statement<[number, string, string, string]>;
  private readonly selectAfter: Statement<[number, number], StoredEvent>;
  private readonly deleteOne: Statement<[number]>;
  private readonly dropOldest: Statement<[number], { seq: number }>;
  private readonly ackMany: (seqs: readonly number[]) => number;
  private readonly appendTx: (type: string, fields: object) => number;
  private readonly flushTx: (held: readonly Held[]) => void;
  private held: Held[] = [];
  private heldDropped: { count: number; fromSeq: number; toSeq: number } | undefined;
  private retryTimer: TimerHandle | undefined;

  constructor(
    private readonly db: Db,
    private readonly opts: OutboxOptions,
  ) {
    this.epoch = epochOf(db);
    this.lastSeq =
      (db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'outbox'`).get() as { seq: number } | undefined)?.seq ??
      0;
    this.rows = (db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
    this.insert = db.prepare('INSERT INTO outbox (seq, ts, type, body) VALUES (?, ?, ?, ?)');
    this.selectAfter = db.prepare('SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?');
    this.deleteOne = db.prepare('DELETE FROM outbox WHERE seq = ?');
    this.dropOldest = db.prepare(
      'DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?) RETURNING seq',
    );
    this.ackMany = db.transaction((seqs: readonly number[]) => {
      let n = 0;
      for (const s of seqs) n += this.deleteOne.run(s).changes;
      this.rows -= n;
      return n;
    });
    this.appendTx = db.transaction((type: string, fields: object) => {
      if (this.rows >= this.opts.maxEvents) this.makeRoom();
      return this.put(type, fields);
    });
    this.flushTx = db.transaction((held: readonly Held[]) => {
      for (const h of held) this.insert.run(h.seq, h.ts, h.type, h.body);
    });
  }

  emit<T extends EventType>(type: T, fields: EventFields[T]): number {
    let seq: number;
    if (this.held.length === 0) {
      try {
        seq = this.appendTx(type, fields);
      } catch (err) {
        if (!isDiskError(err)) throw err;
        this.opts.onDisk?.('refused', (err as Error).message);
        seq = this.hold(type, fields);
      }
    } else {
      seq = this.hold(type, fields);
      this.flushHeld();
    }
    for (const l of this.listeners) l(seq);
    return seq;
  }

  /** Events waiting in memory for the disk (not yet sendable). */
  get heldCount(): number {
    return this.held.length;
  }

  /** Try to write the events held in memory; true when none remain. */
  flushHeld(): boolean {
    if (this.held.length === 0) return true;
    try {
      this.flushTx(this.held);
    } catch (err) {
      if (!isDiskError(err)) throw err;
      this.armRetry();
      return false;
    }
    const n = this.held.length;
    this.rows += n; // counted only once the transaction committed
    this.held = [];
    this.opts.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.heldDropped) {
      const info = this.heldDropped;
      this.heldDropped = undefined;
      try {
        this.appendTx('outbox.dropped', { ...info, reason: 'disk-full' });
      } catch {
        this.heldDropped = info; // reported with the next successful write
      }
      this.opts.onDrop?.(info);
    }
    this.opts.onDisk?.('recovered', `${n} events held in memory were written`);
    for (const l of this.listeners) l(this.lastSeq);
    return true;
  }

  /** Stop retrying (agent stop); what is still held is lost with the process. */
  close(): void {
    this.opts.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private hold(type: string, fields: object): number {
    const seq = this.lastSeq + 1;
    const ts = new Date(this.opts.clock.now()).toISOString();
    const body = JSON.stringify({ epoch: this.epoch, seq, ts, type, ...withoutEnvelope(fields) });
    this.held.push({ seq, ts, type, body });
    this.lastSeq = seq;
    const max = this.opts.maxHeld ?? 2000;
    if (this.held.length > max) {
      const gone = this.held.shift()!;
      const d = this.heldDropped;
      this.heldDropped = d
        ? { count: d.count + 1, fromSeq: d.fromSeq, toSeq: gone.seq }
        : { count: 1, fromSeq: gone.seq, toSeq: gone.seq };
    }
    this.armRetry();
    return seq;
  }

  private armRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = this.opts.clock.setTimeout(
      () => {
        this.retryTimer = undefined;
        this.flushHeld();
      },
      5000,
      { unref: true },
    );
  }

  /** Be told of each new event (the sender wakes up); returns the unsubscribe function. */
  onAppend(listener: (seq: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Up to `limit` events with seq > afterSeq, oldest first. */
  peekAfter(afterSeq: number, limit: number): StoredEvent[] {
    return this.selectAfter.all(afterSeq, limit);
  }

  /** Delete acknowledged events in one transaction (one fsync for the batch). */
  ack(seqs: readonly number[]): number {
    if (seqs.length === 0) return 0;
    try {
      return this.ackMany(seqs);
    } catch (err) {
      // A full disk cannot even take a delete: the events stay and are sent again later
      // (at least once; the centre de-duplicates on epoch and seq).
      if (!isDiskError(err)) throw err;
      return 0;
    }
  }

  /** Events waiting to be acknowledged by the broker (including those held in memory). */
  get size(): number {
    return this.rows + this.held.length;
  }

  get highestSeq(): number {
    return this.lastSeq;
  }

  private put(type: string, fields: object): number {
    const seq = this.lastSeq + 1;
    const ts = new Date(this.opts.clock.now()).toISOString();
    // epoch, seq, ts and type first, then the type's own fields (which cannot override them).
    const body = JSON.stringify({ epoch: this.epoch, seq, ts, type, ...withoutEnvelope(fields) });
    this.insert.run(seq, ts, type, body);
    this.lastSeq = seq;
    this.rows++;
    return seq;
  }

  private makeRoom(): void {
    const batch = Math.max(1, Math.floor(this.opts.maxEvents / 100));
    const dropped = this.dropOldest.all(batch).map((r) => r.seq);
    if (dropped.length === 0) return;
    this.rows -= dropped.length;
    const info = { count: dropped.length, fromSeq: Math.min(...dropped), toSeq: Math.max(...dropped) };
    this.put('outbox.dropped', { ...info, reason: 'full' });
    this.opts.onDrop?.(info);
  }
}

const ENVELOPE = new Set(['epoch', 'seq', 'ts', 'type']);
function withoutEnvelope(fields: object): object {
  return Object.fromEntries(Object.entries(fields).filter(([k]) => !ENVELOPE.has(k)));
}
