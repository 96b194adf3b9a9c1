// One planned play, the value the planner (occurrences.ts) and repeat series (repeat.ts)
// both produce and the scheduler, the playback and the ledger consume. Its own module so
// the planner and the series can share it without importing each other.
import type { MediaRef, Source } from '../../contract/schedule-doc.js';

/** A live session (contract v1.2 §8): what its `live` command opened; played by runtime/live-session.ts. */
export interface LiveSource {
  kind: 'live';
  sessionId: string;
  /** The key that signs its chunks (role `live`). */
  kid: string;
  latencyMs: number;
  cmdId: string;
  /** Epoch ms after which the session is over whatever happened (its maxDurationS). */
  until: number;
}

export type PlaySource = Source | LiveSource;

export interface Occurrence {
  /** `${docId}/${itemId}/${startIso}`: the same play keeps its key across versions of a document. */
  key: string;
  /** null for an ad-hoc `play` command (contract §7). */
  docId: string | null;
  docVersion: number | null;
  topic: string;
  itemId: string;
  /** Scheduled start, epoch ms. */
  start: number;
  /** Epoch ms, or null when a file's length is not known in advance. */
  end: number | null;
  /** The item's own `durationS` in ms: a file item is cut at this long after it really started. */
  durationMs: number | null;
  priority: number;
  volume: number | undefined;
  source: PlaySource;
  /** What a `file` source or a file fallback plays, in order; [] otherwise. */
  media: MediaRef[];
  /** Set for an ad-hoc `play` command: its id (then `itemId` is the command id too). */
  cmdId?: string;
  /** In a repeat series (domain/repeat.ts): 1 = the first play, 2 = the first repeat ... */
  repeat?: number;
  /** In a repeat series: the first play's start (epoch ms), from which the cadence counts. */
  seriesStart?: number;
  /** The CAP identifier of the item's or command's `capRef`. */
  capId?: string;
}
