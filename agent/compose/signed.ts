// What the signed topics share (the schedule intake and the command service each add their
// topics, lifetime and logger): the link, the trusted keys, the event sink (redacting:
// a rejection may quote a field of an unverified payload, and no credential leaves in one),
// the replay state, the flood budget of rejections, and the clock's trust.
//
// The clock's trust (runtime/clock-watch.ts): its sources and the checkpoint beside the
// database (ports), and the newest issuedAt of the documents restored. The signed intakes
// feed it evidence and refuse an issuedAt ahead only of a clock a source vouches for.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { redactingSink } from '../domain/redact.js';
import { ClockWatch } from '../runtime/clock-watch.js';
import type { Rejections } from '../runtime/rejections.js';
import type { SignedTopicDeps } from '../runtime/schedule-intake.js';
import type { Ports } from './ports.js';

/** What the schedule intake and the command service share; each adds its topics, lifetime and logger. */
export type SharedSigned = Omit<SignedTopicDeps, 'bindings' | 'maxLifetimeMs' | 'log'>;

export function buildClockWatch(p: Ports, log: Logger, onChange: () => void): ClockWatch {
  const { clock, stores } = p;
  const issued = stores.schedules
    .inForce()
    .map(({ doc }) => ({ id: `schedule:${doc.id}:${doc.version}`, at: Date.parse(doc.issuedAt) }));
  return new ClockWatch({
    clock,
    sources: p.clockSources,
    store: p.clockCheckpoint,
    log: log.child({ mod: 'clock' }),
    evidence: issued,
    emit: (type, fields) => stores.outbox.emit(type, fields),
    onChange,
  });
}

export function sharedSigned(p: Ports, c: Config, watch: ClockWatch, rejections: Rejections): SharedSigned {
  return {
    link: p.link,
    keys: p.keys,
    events: redactingSink(p.stores.outbox),
    clock: p.clock,
    deviceId: c.deviceId,
    groups: c.groups,
    maxBytes: c.schedule.maxBytes,
    minRepeatS: c.schedule.minRepeatS,
    clockSynced: () => watch.syncedForIntake(),
    clockEvidence: (id, ms) => watch.note(id, ms),
    provableNow: () => watch.provableNow(),
    vouchedNow: () => watch.vouchedNow(),
    replay: p.stores.replay,
    rejections,
  };
}
