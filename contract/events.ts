// The events of docs/protocol.md §7. Each is written to the durable outbox before it is
// sent; `epoch` and `seq` are added by the outbox, so emitters give only type + fields.

export type HwComponent = 'amp' | 'line' | 'mains' | 'door' | 'mcu' | 'fm' | 'gpio' | 'output';

/**
 * Contract v1.2 §9: what the IO board measured while a play should have sounded. `levelDb`
 * is the median speaker-line level (dB of the amplifier's rated output), `silentMs` the
 * time the output was silent while its input carried signal. A board that cannot measure
 * (or measured under half of the play) says `measured: false`.
 */
export type SoundOutput = { measured: true; levelDb: number; silentMs: number } | { measured: false };
export type SourceKind = 'file' | 'stream' | 'fm' | 'line' | 'live';

interface PlayCommon {
  itemId: string;
  docId: string | null;
  docVersion: number | null;
  occurrence: string;
  lateMs: number;
  source: SourceKind;
  priority: number;
  cmdId?: string;
  /** Added: a relay resumed after a preemption starts a second segment of the same occurrence. */
  resumed?: boolean;
  /** Issue 16: in a repeat series, which play (1 = the first play, 2 = the first repeat ...). */
  repeat?: number;
  /** Issue 16: the CAP identifier of the item's or command's `capRef`. */
  capId?: string;
  /** Contract v1.2 §8: the live session a `live` source plays. */
  sessionId?: string;
}

export interface EventFields {
  'play.started': PlayCommon;
  'play.finished': PlayCommon & { playedMs: number; output?: SoundOutput };
  'play.interrupted': PlayCommon & {
    playedMs: number;
    output?: SoundOutput;
    reason: 'preempted' | 'stopped' | 'agent-restart' | 'hardware' | 'cancelled' | 'timeout';
  };
  'play.failed': PlayCommon & { reason: string; message: string };
  'play.skipped': {
    itemId: string;
    docId: string | null;
    occurrence: string;
    reason: 'busy' | 'missed' | 'media-missing' | 'clock';
    repeat?: number;
    capId?: string;
    cmdId?: string;
  };
  /**
   * Added to contract v1's table: a stream URL failed or went silent and playback moved
   * to the next URL (`to` is the URL) or to the item's fallback (`to` is `fallback:<kind>`).
   */
  'play.failover': PlayCommon & { from: string; to: string; reason: string };
  /** Contract v1.2 §9: a relay's input carried dead air for `relay.deadAirS`; it moved to its next URL or fallback. */
  'play.degraded': PlayCommon & { from: string; to: string; reason: 'dead-air' };
  'schedule.accepted': { docId: string; version: number; topic: string };
  /** Contract v1.2 §2.2: a synchronised clock contradicted the lower bound (more than 10 min below it); the bound was discarded. */
  'clock.bound-discarded': { lowerBound: string; clock: string; source: string };
  'schedule.rejected': {
    docId: string | null;
    version: number | null;
    topic: string;
    reason: 'signature' | 'unknown-key' | 'replay' | 'expired' | 'target' | 'invalid' | 'too-large';
    message: string;
  };
  'media.cached': { mediaId: string; sha256: string; bytes: number };
  'media.failed': { mediaId: string; sha256: string; reason: string };
  /**
   * `itemId`/`docId`/`occurrence` are added to contract v1's fields: the occurrence that
   * was playing when the fault was raised (a line fault during a warning), if any.
   */
  'hw.fault': {
    component: HwComponent;
    code: string;
    message: string;
    itemId?: string;
    docId?: string | null;
    occurrence?: string;
  };
  'hw.recovered': { component: HwComponent; code: string; message: string };
  /**
   * Not in contract v1's table (which allows added fields and types): the outbox was
   * full and dropped the oldest events `fromSeq`..`toSeq`. See docs/protocol.md §7.
   */
  /**
   * Not in contract v1's table (§4 asks for "an event instead"): a message on a command
   * topic that has no readable id, so no result can be addressed to it.
   */
  'cmd.rejected': { topic: string; reason: string; message: string };
  /**
   * Contract v1.2 §8: every 60 s of a live session and once at its end (`reason`): chunks
   * received, late (arrived after their turn) and invalid (dropped: `invalidBy` counts
   * them by reason), ms concealed, the jitter buffer's depth, the largest error of the
   * playout against the box's clock since the last report.
   */
  'live.stats': {
    sessionId: string;
    cmdId: string;
    synced: boolean;
    received: number;
    late: number;
    invalid: number;
    invalidBy?: Partial<Record<string, number>>;
    concealedMs: number;
    bufferMs: number;
    clockErrMs: number;
    reason?: 'end' | 'timeout' | 'stopped' | 'preempted' | 'max-duration' | 'failed';
  };
  /** Contract v1.2 §8: a session's first audio; `synced: false` plays at arrival + latency, not in step. */
  'live.started': { sessionId: string; cmdId: string; synced: boolean; latencyMs: number };
  'outbox.dropped': { count: number; fromSeq: number; toSeq: number; reason: 'full' | 'disk-full' };
  /** Contract v1.1 §7: rejections beyond the budget of a window, counted instead of sent one by one. */
  'intake.flood': {
    windowS: number;
    dropped: number;
    byReason: Record<string, number>;
    byTopic: Record<string, number>;
  };
  /** Contract v1.1 §7: the box's database was rebuilt (or could not be written); what was kept and lost is in `message`. */
  'store.reset': { reason: 'corrupt' | 'missing' | 'full'; movedTo: string | null; message: string };
  /** Over-the-air updates (docs/ota.md): one job per `update` command, `cmdId` its id. */
  'update.started': { cmdId: string; version: string; from: string; bytes: number; delta: boolean };
  'update.installed': { cmdId: string; version: string; previous: string };
  'update.committed': { cmdId: string; version: string; previous: string; trialMs: number };
  'update.rolledback': {
    cmdId: string;
    version: string;
    previous: string;
    reason: string;
    detail: string;
    logTail: string[];
  };
  'update.failed': {
    cmdId: string;
    version: string;
    reason: 'download' | 'verify' | 'unpack' | 'check-config' | 'no-quiet-window';
    message: string;
  };
}

export type EventType = keyof EventFields;

export type EventEnvelope<T extends EventType = EventType> = {
  epoch: string;
  seq: number;
  ts: string;
  type: T;
} & EventFields[T];

/** What the rest of the agent sees of the outbox: append-only, durable on return. */
export interface EventSink {
  emit<T extends EventType>(type: T, fields: EventFields[T]): number;
}
