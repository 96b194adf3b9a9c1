// Takes signed schedule documents off the device and group topics, verifies them
// (domain/verify.ts), and either puts them in force (persisted, `schedule.accepted`)
// or reports why not (`schedule.rejected`), keeping the last good plan either way.
// Messages are handled one at a time, in arrival order.
import type { Link } from '../adapters/mqtt-link.js';
import type { ScheduleStore } from '../adapters/schedule-store.js';
import type { Clock } from '../adapters/clock.js';
import type { EventSink } from '../domain/events.js';
import type { Logger } from '../log.js';
import { verifySchedule, type KeyRing } from '../domain/verify.js';

export interface IntakeDeps {
  link: Link;
  store: ScheduleStore;
  keys: KeyRing;
  events: EventSink;
  clock: Clock;
  log: Logger;
  deviceId: string;
  groups: readonly string[];
  topics: readonly string[];
  maxBytes: number;
  /** A document was put in force. */
  onAccepted: () => void;
}

export class ScheduleIntake {
  private queue: Promise<void> = Promise.resolve();
  private running = false;
  private subscribed = false;

  constructor(private readonly d: IntakeDeps) {}

  start(): void {
    this.running = true;
    if (this.subscribed) return;
    this.subscribed = true;
    this.d.link.subscribe(this.d.topics, (topic, payload) => {
      if (!this.running) return;
      this.queue = this.queue.then(() => this.handle(topic, payload)).catch((err: unknown) => {
        this.d.log.error({ code: 'INTERNAL', err, topic }, 'schedule intake failed');
      });
    });
  }

  stop(): void {
    this.running = false;
  }

  /** Resolves when every message received so far has been handled (tests, shutdown). */
  idle(): Promise<void> {
    return this.queue;
  }

  async handle(topic: string, payload: Buffer): Promise<void> {
    const d = this.d;
    if (payload.length === 0) {
      // How MQTT clears a retained message; only a signed document may change the plan.
      d.log.info({ topic }, 'empty retained message on a schedule topic ignored');
      return;
    }
    const v = await verifySchedule(payload, d.keys, {
      deviceId: d.deviceId,
      groups: d.groups,
      now: d.clock.now(),
      maxBytes: d.maxBytes,
      acceptedVersion: (id) => d.store.acceptedVersion(id),
    });
    if (v.ok === false) {
      d.events.emit('schedule.rejected', { docId: v.docId, version: v.version, topic, reason: v.reason, message: v.message });
      d.log.warn({ code: 'SCHEDULE_REJECTED', topic, reason: v.reason, docId: v.docId, version: v.version, message: v.message }, 'schedule rejected');
      return;
    }
    if (v.ok === 'same') {
      d.log.debug({ topic, docId: v.doc.id, version: v.doc.version }, 'schedule already in force');
      return;
    }
    d.store.put(topic, v.doc, payload.toString('utf8').trim(), d.clock.now());
    d.events.emit('schedule.accepted', { docId: v.doc.id, version: v.doc.version, topic });
    d.log.info({ topic, docId: v.doc.id, version: v.doc.version, items: v.doc.items.length, kid: v.kid }, 'schedule accepted');
    d.onAccepted();
  }
}
