// The port of the centre's event archive: what `noc events` writes and `noc events export`
// reads, whatever the database. Two adapters implement it, SQLite (events-store.ts, the
// embedded default) and PostgreSQL (events-pg.ts, a national fleet), and one contract
// test (test/contract/archive.contract.ts) runs against both, so they cannot drift.
//
// Invariants every adapter keeps:
// - write() resolves only once the whole batch is committed (the collector acknowledges
//   the MQTT messages after that, never before); it rejects without a partial commit.
// - An event is stored once per (deviceId, epoch, seq) (contract §7): a re-sent event is
//   counted as a duplicate and changes nothing.
// - A birth replaces the stored one only if it is at least as new (ts).
// - Quarantined messages are kept whole (topic, reason, payload bytes), never dropped.
// - playEvents() yields devices in ascending id order (byte order: ids are ASCII,
//   contract ID_RE), each with its play.* events of the range ordered by epoch, seq.
import type { StoredEvent } from './proof-of-play.js';

/** One event that passed intake (archive-intake.ts), ready to store. */
export interface EventRow {
  deviceId: string;
  epoch: string;
  seq: number;
  /** The box's `ts`, as sent, and parsed. */
  ts: string;
  tsMs: number;
  type: string;
  /** play.* only: the scheduled start. */
  occurrenceMs: number | null;
  /** The time an event is filed under (PostgreSQL's partition key): the occurrence of a play event, else ts. */
  atMs: number;
  itemId: string | null;
  priority: number | null;
  receivedAt: number;
  /** The payload as received (UTF-8). */
  raw: string;
}

export interface BirthRow {
  deviceId: string;
  bootId: string | null;
  tsMs: number;
  groups: string[];
  /** JSON text of the birth's site, or 'null'. */
  site: string;
  receivedAt: number;
}

export interface QuarantineRow {
  topic: string;
  deviceId: string | null;
  /** Short code: not-json, not-object, epoch, seq, type, ts, text (a NUL or a lone surrogate). */
  reason: string;
  payload: Buffer;
  receivedAt: number;
}

export interface ArchiveBatch {
  events: EventRow[];
  births: BirthRow[];
  quarantine: QuarantineRow[];
}

export interface WriteResult {
  stored: number;
  duplicate: number;
  births: number;
  quarantined: number;
}

export interface DeviceEvents {
  deviceId: string;
  events: StoredEvent[];
}

export interface BirthInfo {
  groups: string[];
  tsMs: number;
}

export interface EventArchive {
  /** For messages: the file, or the database URL without its password. */
  readonly where: string;
  write(batch: ArchiveBatch): Promise<WriteResult>;
  /** Each box's newest birth. */
  births(): Promise<Map<string, BirthInfo>>;
  /**
   * play.* events whose scheduled start is in [fromMs, toMs), one device at a time (see
   * the invariants above); only `devices` when given. Streams: memory holds one device.
   */
  playEvents(fromMs: number, toMs: number, devices?: readonly string[]): AsyncIterable<DeviceEvents>;
  countEvents(): Promise<number>;
  quarantined(): Promise<QuarantineRow[]>;
  close(): Promise<void> | void;
}

export const emptyBatch = (): ArchiveBatch => ({ events: [], births: [], quarantine: [] });

/**
 * An error that retrying cannot cure, because of what was written (PostgreSQL SQLSTATE
 * classes 22 data exception, 23 integrity, 54 program limit; SQLite's constraint, too big,
 * mismatch), as opposed to the database being down, restarting or full.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  if (/^(22|23|54)[0-9A-Z]{3}$/.test(code)) return true;
  return /^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH)/.test(code);
}
