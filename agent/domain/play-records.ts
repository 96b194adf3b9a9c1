// The proof of play as data: for each thing that happens to an occurrence, the ledger
// row and the `play.*` event that go together. Pure: runtime/record.ts writes the row
// and emits the event, in that order, in one call; playback and the scheduler only say
// which record.
//
// The ledger row is the occurrence's fate (what makes a restart never play it twice);
// the event is what the centre sees. One of them without the other is a lie, which is
// why they are built together here.
import type { EventFields, SoundOutput, SourceKind } from '../../contract/events.js';
import type { Occurrence } from './occurrences.js';
import { seriesFields } from './repeat.js';

/** An occurrence's fate in the ledger (adapters/ledger-store.ts stores it). */
export interface PlayRow {
  key: string;
  docId: string | null;
  itemId: string;
  occurrence: string;
  state: 'started' | 'finished' | 'interrupted' | 'failed' | 'skipped';
  detail: string | null;
}

export type PlayEventType = 'play.started' | 'play.finished' | 'play.interrupted' | 'play.failed' | 'play.skipped';
export type PlayEvent<K extends PlayEventType = PlayEventType> = { [T in K]: { type: T; fields: EventFields[T] } }[K];

/** A ledger row and the event that goes with it. */
export interface PlayRecord<K extends PlayEventType = PlayEventType> {
  row: PlayRow;
  event: PlayEvent<K>;
}

/** How a play segment ended. */
export type End = 'finished' | 'preempted' | 'stopped' | 'agent-restart' | 'hardware' | 'cancelled' | 'timeout';
export type SkipReason = EventFields['play.skipped']['reason'];

export const iso = (ms: number): string => new Date(ms).toISOString();

/** The fields every `play.*` event of a segment carries. */
export function playFields(occ: Occurrence, lateMs: number, source: SourceKind): EventFields['play.started'] {
  const f: EventFields['play.started'] = {
    itemId: occ.itemId,
    docId: occ.docId,
    docVersion: occ.docVersion,
    occurrence: iso(occ.start),
    lateMs,
    source,
    priority: occ.priority,
  };
  if (occ.cmdId) f.cmdId = occ.cmdId;
  if (occ.source.kind === 'live') f.sessionId = occ.source.sessionId;
  return { ...f, ...seriesFields(occ) };
}

function row(occ: Occurrence, state: PlayRow['state'], detail: string): PlayRow {
  return { key: occ.key, docId: occ.docId, itemId: occ.itemId, occurrence: iso(occ.start), state, detail };
}

/** The occurrence will not play: busy, missed, its media missing, the clock untrusted. */
export function skippedRecord(occ: Occurrence, reason: SkipReason): PlayRecord {
  return {
    row: row(occ, 'skipped', reason),
    event: {
      type: 'play.skipped',
      fields: {
        itemId: occ.itemId,
        docId: occ.docId,
        occurrence: iso(occ.start),
        reason,
        ...(occ.cmdId ? { cmdId: occ.cmdId } : {}),
        ...seriesFields(occ),
      },
    },
  };
}

/** What a play segment is, for its records. */
export interface SegmentFacts {
  occ: Occurrence;
  /** The source playing now (the item's, or its fallback). */
  source: SourceKind;
  lateMs: number;
  resumed: boolean;
}

/**
 * Audio came out at `startedAt`. The row's detail keeps what a restart needs to close
 * the occurrence honestly if the agent dies mid-play (restartRecord).
 */
export function startedRecord(s: SegmentFacts, startedAt: number): PlayRecord {
  const f = playFields(s.occ, s.lateMs, s.source);
  const detail = JSON.stringify({
    startedAt,
    lateMs: s.lateMs,
    docVersion: s.occ.docVersion,
    source: s.source,
    priority: s.occ.priority,
    ...seriesFields(s.occ),
  });
  return {
    row: row(s.occ, 'started', detail),
    event: { type: 'play.started', fields: s.resumed ? { ...f, resumed: true } : f },
  };
}

/**
 * The segment's one terminal record. One that never got audio (preempted or stopped
 * during its warm-up, a repeat dropped while it waited) is still closed: interrupted,
 * 0 ms played.
 */
export function endRecord(
  s: SegmentFacts,
  startedAt: number | null,
  how: End,
  now: number,
  output?: SoundOutput,
): PlayRecord {
  const f = playFields(s.occ, s.lateMs, s.source);
  if (startedAt === null) {
    return {
      row: row(s.occ, 'interrupted', how),
      event: { type: 'play.interrupted', fields: { ...f, playedMs: 0, reason: how === 'finished' ? 'stopped' : how } },
    };
  }
  const playedMs = Math.max(0, now - startedAt);
  const proof = output ? { output } : {};
  if (how === 'finished')
    return {
      row: row(s.occ, 'finished', how),
      event: { type: 'play.finished', fields: { ...f, playedMs, ...proof } },
    };
  return {
    row: row(s.occ, 'interrupted', how),
    event: { type: 'play.interrupted', fields: { ...f, playedMs, reason: how, ...proof } },
  };
}

export function failedRecord(s: SegmentFacts, reason: string, message: string): PlayRecord {
  const f = playFields(s.occ, s.lateMs, s.source);
  return {
    row: row(s.occ, 'failed', reason),
    event: { type: 'play.failed', fields: { ...f, reason, message: message.slice(0, 500) } },
  };
}

/**
 * A row a crash left `started`, closed as interrupted by `agent-restart`. The agent
 * cannot know when the sound stopped; `lastAliveMs` bounds it, so playedMs is an
 * estimate from below.
 */
export function restartRecord(r: PlayRow, lastAliveMs: number | undefined): PlayRecord<'play.interrupted'> {
  let detail: {
    startedAt?: number;
    lateMs?: number;
    docVersion?: number;
    source?: string;
    priority?: number;
    repeat?: number;
    capId?: string;
  } = {};
  try {
    detail = JSON.parse(r.detail ?? '{}') as typeof detail;
  } catch {
    // keep the defaults: an unreadable detail must not stop the report
  }
  const startedAt = detail.startedAt ?? Date.parse(r.occurrence);
  const playedMs = Math.max(0, (lastAliveMs ?? startedAt) - startedAt);
  return {
    row: { ...r, state: 'interrupted', detail: 'agent-restart' },
    event: {
      type: 'play.interrupted',
      fields: {
        itemId: r.itemId,
        docId: r.docId,
        docVersion: detail.docVersion ?? null,
        occurrence: r.occurrence,
        lateMs: detail.lateMs ?? 0,
        source: (detail.source ?? 'file') as 'file',
        priority: detail.priority ?? 50,
        playedMs,
        reason: 'agent-restart',
        ...seriesFields(detail),
      },
    },
  };
}
