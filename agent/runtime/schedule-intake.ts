// Takes signed schedule documents off the device and group topics, verifies them
// (contract/verify.ts), and either puts them in force (persisted in the database and in
// the replay state beside it, `schedule.accepted`) or reports why not
// (`schedule.rejected`, within the box's rejection budget), keeping the last good plan
// either way.
//
// Each message is handled synchronously as it arrives: the checks before the signature
// are a few string operations and the signature one Ed25519 verify, so an unsigned flood
// never builds a queue in front of a genuine document, and timers run between messages.
import type { Link } from '../adapters/mqtt-link.js';
import type { ScheduleStore } from '../adapters/schedule-store.js';
import type { ReplayState } from '../adapters/replay-state.js';
import type { Clock } from '../adapters/clock.js';
import type { EventSink } from '../../contract/events.js';
import type { Logger } from '../log.js';
import type { Rejections } from './rejections.js';
import { verifySchedule, type Binding, type KeyRing } from '../../contract/verify.js';

/** What the schedule intake and the command service share: a signed-topic context. */
export interface SignedTopicDeps {
  link: Link;
  keys: KeyRing;
  events: EventSink;
  clock: Clock;
  log: Logger;
  deviceId: string;
  groups: readonly string[];
  /** The subscribed topics and the device or group each stands for. */
  bindings: ReadonlyMap<string, Binding>;
  maxBytes: number;
  /** Longest accepted `expiresAt - issuedAt`, ms. */
  maxLifetimeMs: number;
  /** Config `schedule.minRepeatS`: the shortest `repeat.everyS` accepted (default 60, the contract's). */
  minRepeatS?: number;
  /** false when the box knows its clock is not synchronised (issuedAt in the future is then tolerated). */
  clockSynced: () => boolean | undefined;
  /** A verified document (`id`) was issued at this instant (ms): a lower bound of the real time, on its word alone (runtime/clock-watch.ts). */
  clockEvidence?: (id: string, issuedAtMs: number) => void;
  /** The latest time the box can prove (its clock, or the lower bound if later): what expiry is judged by. Default: the clock. */
  provableNow?: () => number;
  /** The latest time corroborated evidence proves (never one document's word): what a signed emergency's expiry is judged by (contract v1.2 §2.2). */
  vouchedNow?: () => number;
  replay: ReplayState;
  rejections: Rejections;
}

export interface IntakeDeps extends SignedTopicDeps {
  store: ScheduleStore;
  /** A document was put in force. */
  onAccepted: () => void;
}

export class ScheduleIntake {
  private running = false;
  private subscribed = false;

  constructor(private readonly d: IntakeDeps) {}

  start(): void {
    this.running = true;
    if (this.subscribed) return;
    this.subscribed = true;
    this.d.link.subscribe([...this.d.bindings.keys()], (topic, payload) => {
      if (!this.running) return false; // stopping: the broker delivers it again after the restart
      try {
        this.handle(topic, payload);
      } catch (err) {
        this.d.log.error({ code: 'INTERNAL', err, topic }, 'schedule intake failed');
      }
    });
  }

  stop(): void {
    this.running = false;
  }

  /** Messages are handled as they arrive; kept for callers that wait on the intake. */
  idle(): Promise<void> {
    return Promise.resolve();
  }

  handle(topic: string, payload: Buffer): void {
    const d = this.d;
    if (payload.length === 0) {
      // How MQTT clears a retained message; only a signed document may change the plan.
      d.log.info({ topic }, 'empty retained message on a schedule topic ignored');
      return;
    }
    const binding = d.bindings.get(topic);
    if (!binding) return; // not one of ours (a wildcard elsewhere in the process)
    const v = verifySchedule(payload, d.keys, {
      deviceId: d.deviceId,
      groups: d.groups,
      now: d.provableNow?.() ?? d.clock.now(),
      maxBytes: d.maxBytes,
      binding,
      topicMark: () => d.replay.topicMark(topic),
      acceptedVersion: (id) => d.replay.acceptedVersion(id),
      maxLifetimeMs: d.maxLifetimeMs,
      ...(d.minRepeatS !== undefined ? { minRepeatS: d.minRepeatS } : {}),
      ...(d.clockSynced() === false ? { clockSynced: false } : {}),
    });
    if (v.ok === false) {
      d.rejections.report(topic, v.reason, () => {
        d.events.emit('schedule.rejected', {
          docId: v.docId,
          version: v.version,
          topic,
          reason: v.reason,
          message: v.message.slice(0, 500),
        });
        d.log.warn(
          {
            code: 'SCHEDULE_REJECTED',
            topic,
            reason: v.reason,
            docId: v.docId,
            version: v.version,
            message: v.message.slice(0, 500),
          },
          'schedule rejected',
        );
      });
      return;
    }
    if (v.ok === 'same') {
      d.log.debug({ topic, docId: v.doc.id, version: v.doc.version }, 'schedule already in force');
      return;
    }
    const doc = v.doc;
    const jws = payload.toString('utf8').trim();
    // The replay mark is in memory at once (the next message is judged by it) and in the
    // database within this turn; the copy beside the database, and the re-plan, each take a
    // loop turn of their own, so accepting a dense document is never one long stall.
    d.replay.absorbTopic(topic, { id: doc.id, version: doc.version, issuedAt: doc.issuedAt, jws });
    d.store.put(topic, doc, jws, d.clock.now());
    d.events.emit('schedule.accepted', { docId: doc.id, version: doc.version, topic });
    d.clockEvidence?.(`schedule:${doc.id}:${doc.version}`, Date.parse(doc.issuedAt));
    d.log.info(
      { topic, docId: doc.id, version: doc.version, items: doc.items.length, kid: v.kid },
      'schedule accepted',
    );
    setImmediate(() => {
      d.replay.save();
      setImmediate(() => {
        if (this.running) d.onAccepted();
      });
    });
  }
}
