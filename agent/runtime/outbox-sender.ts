// Drains the durable outbox to the broker: in seq order, QoS 1, a window of events in
// flight, each deleted only after its PUBACK. On a lost connection everything not yet
// acknowledged is sent again from the oldest, so the broker may see an event twice
// (the centre de-duplicates on epoch+seq) but never misses one and never sees seq n+1
// before seq n is first sent.
import type { Link } from '../adapters/mqtt-link.js';
import type { Outbox } from '../adapters/outbox-store.js';
import type { Logger } from '../log.js';

export interface OutboxSenderDeps {
  outbox: Outbox;
  link: Link;
  topic: string;
  window: number;
  log: Logger;
}

export class OutboxSender {
  /** Highest seq handed to the link on the current connection. */
  private cursor = 0;
  private readonly inflight = new Set<number>();
  private acked: number[] = [];
  private ackFlush: NodeJS.Immediate | undefined;
  private generation = 0;
  private running = false;
  private offAppend: (() => void) | undefined;
  private readonly onUp = () => {
    this.rewind();
    this.pump();
  };
  private readonly onDown = () => this.rewind();

  constructor(private readonly d: OutboxSenderDeps) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.d.link.on('up', this.onUp);
    this.d.link.on('down', this.onDown);
    this.offAppend = this.d.outbox.onAppend(() => this.pump());
    this.pump();
  }

  stop(): void {
    this.running = false;
    this.d.link.off('up', this.onUp);
    this.d.link.off('down', this.onDown);
    this.offAppend?.();
    this.flushAcks();
    this.generation++;
    this.inflight.clear();
  }

  /** Events sent and awaiting PUBACK. */
  get inFlight(): number {
    return this.inflight.size;
  }

  private rewind(): void {
    this.flushAcks();
    this.generation++;
    this.inflight.clear();
    this.cursor = 0;
  }

  private pump(): void {
    if (!this.running || !this.d.link.connected) return;
    const room = this.d.window - this.inflight.size;
    if (room <= 0) return;
    const gen = this.generation;
    for (const ev of this.d.outbox.peekAfter(this.cursor, room)) {
      this.cursor = ev.seq;
      this.inflight.add(ev.seq);
      this.d.link.publish(this.d.topic, ev.body, { qos: 1, retain: false }).then(
        () => this.onAck(ev.seq, gen),
        (err: unknown) => {
          // The connection dropped under it; 'down' rewinds and 'up' sends it again.
          if (gen === this.generation) this.d.log.debug({ seq: ev.seq, err }, 'event publish not acknowledged');
        },
      );
    }
  }

  private onAck(seq: number, gen: number): void {
    // A PUBACK is proof of delivery whichever connection it came on.
    this.acked.push(seq);
    this.ackFlush ??= setImmediate(() => this.flushAcks());
    if (gen !== this.generation) return;
    this.inflight.delete(seq);
    this.pump();
  }

  private flushAcks(): void {
    if (this.ackFlush) clearImmediate(this.ackFlush);
    this.ackFlush = undefined;
    if (this.acked.length === 0) return;
    const batch = this.acked;
    this.acked = [];
    this.d.outbox.ack(batch);
  }
}
