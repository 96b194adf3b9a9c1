// The heart of `noc events`: messages in, batches committed, acknowledgements out, in that
// order and never another. No MQTT here (each message brings its own `ack`), so it is
// tested with a fake archive that fails on demand (test/unit/noc-events-commit.test.ts).
//
// - Group commit: the first message of an idle committer is written at the next turn of
//   the event loop with whatever arrived meanwhile; while a batch is being committed the
//   next one gathers (up to maxBatch). A quiet fleet gets one-message batches and no added
//   delay; a draining one gets batches as large as the broker's in-flight window allows.
// - A message is acknowledged only after the batch holding it is committed, and in the
//   order the messages came (MQTT wants PUBACKs in order).
// - The database failing (down, restarting, disk full): the batch is retried with backoff
//   and nothing is acknowledged meanwhile, so the broker stops sending once its in-flight
//   window is full and keeps the rest; one line says so, one line when it is back.
// - Held messages are bounded (maxHeld): Mosquitto 2.0.11 honours our Receive Maximum
//   (or its max_inflight_messages) only until the first PUBACK, then sends its whole queue
//   (measured: 1,801 unacknowledged with a Receive Maximum of 10). Past maxHeld the
//   collector holds mqtt.js's handleMessage callback (afterAdd) until half of them are
//   committed: mqtt.js then reads no further, and TCP pushes back on the broker. (Pausing
//   the socket does not hold: the pipe into mqtt.js's parser resumes it on every drain.)
//   A message whose connection has closed before its batch was formed is dropped: it
//   cannot be acknowledged, and the broker sends it again on the new connection.
// - A message the database refuses as data (it cannot be stored whatever we retry) is
//   found by retrying the batch one message at a time and quarantined with the database's
//   reason: it never blocks the messages behind it.
import { intake } from './archive-intake.js';
import { emptyBatch, isDataError, type ArchiveBatch, type EventArchive, type WriteResult } from './archive-port.js';

export interface Incoming {
  topic: string;
  payload: Buffer;
  /** Sends the PUBACK; absent for QoS 0. */
  ack?: () => void;
  /** False once the connection it came on has closed. */
  live?: () => boolean;
}

export interface CommitDeps {
  archive: EventArchive;
  root: string;
  say: (line: string) => void;
  maxBatch: number;
  now?: () => number;
  /** First retry delay after a failed commit (doubles up to maxRetryMs). */
  retryMs?: number;
  maxRetryMs?: number;
  /** At most this many messages held (default 10 batches): see afterAdd. */
  maxHeld?: number;
}

export interface Counts {
  stored: number;
  duplicate: number;
  quarantined: number;
  births: number;
  batches: number;
  acked: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Committer {
  readonly counts: Counts = { stored: 0, duplicate: 0, quarantined: 0, births: 0, batches: 0, acked: 0 };
  private pending: Incoming[] = [];
  private running: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private warned = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly maxHeld: number;

  constructor(private readonly d: CommitDeps) {
    this.maxHeld = d.maxHeld ?? d.maxBatch * 10;
  }

  /** Messages received and not yet acknowledged (committed or not). */
  get held(): number {
    return this.pending.length;
  }

  add(m: Incoming): void {
    this.pending.push(m);
    if (!this.running && !this.stopping) this.running = this.loop().finally(() => (this.running = undefined));
  }

  /** Runs `next` (read the next message) now, or once fewer than half of maxHeld are held. */
  afterAdd(next: () => void): void {
    if (this.pending.length < this.maxHeld || this.stopping) next();
    else this.waiting.push(next);
  }

  private room(): void {
    if (this.pending.length > this.maxHeld / 2 && !this.stopping) return;
    for (const next of this.waiting.splice(0)) next();
  }

  /** Finishes the batch in hand (or gives it up while the database is down) and takes no more. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    this.room();
    await this.running;
  }

  private async loop(): Promise<void> {
    await new Promise((r) => setImmediate(r)); // let what is already in the socket arrive
    while (this.pending.length && !this.stopping) {
      if (this.pending.some((m) => m.live?.() === false))
        this.pending = this.pending.filter((m) => m.live?.() !== false);
      if (!this.pending.length) break;
      const items = this.pending.slice(0, this.d.maxBatch);
      const ok = await this.commit(items);
      if (!ok) return; // stopping with the database down: nothing acknowledged, the broker keeps it
      this.pending.splice(0, items.length);
      for (const m of items) m.ack?.();
      this.counts.acked += items.filter((m) => m.ack).length;
      this.room();
    }
  }

  private batch(items: readonly Incoming[]): ArchiveBatch {
    const b = emptyBatch();
    const now = (this.d.now ?? Date.now)();
    for (const m of items) {
      const r = intake(this.d.root, m.topic, m.payload, now);
      if (r.kind === 'event') b.events.push(r.row);
      else if (r.kind === 'birth') b.births.push(r.row);
      else if (r.kind === 'quarantine') {
        b.quarantine.push(r.row);
        if (this.warned++ < 20)
          this.d.say(
            `noc events: quarantined a message on ${m.topic} (${r.row.reason}): ${m.payload.toString('utf8').slice(0, 200)}`,
          );
      }
    }
    return b;
  }

  private tally(r: WriteResult): void {
    this.counts.stored += r.stored;
    this.counts.duplicate += r.duplicate;
    this.counts.births += r.births;
    this.counts.quarantined += r.quarantined;
    this.counts.batches++;
  }

  /** Commits `items`, retrying while the database fails; false when stopped before it could. */
  private async commit(items: readonly Incoming[]): Promise<boolean> {
    let delay = this.d.retryMs ?? 500;
    let downSince: number | undefined;
    for (;;) {
      try {
        this.tally(await this.d.archive.write(this.batch(items)));
        if (downSince !== undefined)
          this.d.say(
            `noc events: ${this.d.archive.where} is back after ${Math.round((performance.now() - downSince) / 1000)} s; committing what was held`,
          );
        return true;
      } catch (err) {
        if (isDataError(err)) return this.oneByOne(items, err);
        if (downSince === undefined) {
          downSince = performance.now();
          this.d.say(
            `noc events: cannot commit to ${this.d.archive.where}: ${(err as Error).message}; not acknowledging (${this.pending.length} messages held), retrying`,
          );
        }
      }
      if (this.stopping) return false;
      await new Promise<void>((r) => {
        this.wake = r;
        void sleep(delay).then(() => r());
      });
      this.wake = undefined;
      if (this.stopping) return false;
      delay = Math.min(delay * 2, this.d.maxRetryMs ?? 5000);
    }
  }

  /** A batch refused as data: each message alone, the refused ones quarantined with the reason. */
  private async oneByOne(items: readonly Incoming[], first: unknown): Promise<boolean> {
    if (items.length === 1) {
      const m = items[0]!;
      const reason = `refused: ${(first as Error).message}`.slice(0, 500);
      this.d.say(`noc events: ${this.d.archive.where} refused a message on ${m.topic}; quarantined (${reason})`);
      const b = emptyBatch();
      b.quarantine.push({ topic: m.topic, deviceId: null, reason, payload: m.payload, receivedAt: Date.now() });
      return this.commitBatch(b);
    }
    for (const m of items) if (!(await this.commit([m]))) return false;
    return true;
  }

  private async commitBatch(b: ArchiveBatch): Promise<boolean> {
    for (;;) {
      try {
        this.tally(await this.d.archive.write(b));
        return true;
      } catch {
        if (this.stopping) return false;
        await sleep(this.d.retryMs ?? 500);
      }
    }
  }
}

/** A PUBACK with reason 0 and no properties: the same 4 bytes in MQTT 3.1.1 and 5 (MQTT 5 §3.4.2.1). */
export function puback(messageId: number): Buffer {
  return Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]);
}

export type { WriteResult };
