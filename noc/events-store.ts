// The centre's event archive: every event of every box, once, and each box's latest
// birth (for its groups). SQLite in WAL mode; the primary key (deviceId, epoch, seq)
// is the contract's de-duplication key (§7), so a re-sent event is an INSERT OR IGNORE
// that changes nothing.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage, Failure } from '../cli-kit/index.js';
import { occurrenceOf, type StoredEvent } from './proof-of-play.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  device_id     TEXT NOT NULL,   -- from the topic, not the payload: a box cannot speak for another
  epoch         TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  ts            TEXT,
  type          TEXT NOT NULL,
  occurrence_ms INTEGER,         -- play.* only: the scheduled start, for the proof-of-play range
  received_at   INTEGER NOT NULL,
  body          TEXT NOT NULL,
  PRIMARY KEY (device_id, epoch, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_occurrence ON events (occurrence_ms) WHERE occurrence_ms IS NOT NULL;
CREATE TABLE IF NOT EXISTS births (
  device_id   TEXT PRIMARY KEY,
  boot_id     TEXT,
  ts_ms       INTEGER NOT NULL,
  groups      TEXT NOT NULL,     -- JSON array
  site        TEXT,              -- JSON object
  received_at INTEGER NOT NULL
);`;

export type InsertResult = 'stored' | 'duplicate' | 'invalid';

export interface StoreOptions {
  readonly?: boolean;
  /** 'normal' (default) survives a crash of noc; 'full' also a power cut, at one fsync per event. */
  synchronous?: 'normal' | 'full';
}

export class EventStore {
  readonly db: Database.Database;
  private readonly insert?: Database.Statement;
  private readonly birth?: Database.Statement;

  constructor(
    readonly path: string,
    o: StoreOptions = {},
  ) {
    try {
      if (!o.readonly) mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path, o.readonly ? { readonly: true, fileMustExist: true } : {});
      this.db.pragma('busy_timeout = 5000'); // several noc events instances may share one file
      if (!o.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma(`synchronous = ${o.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
        this.db.exec(SCHEMA);
      }
    } catch (err) {
      throw new Failure(`--db ${path}: ${errorMessage(err)}`);
    }
    if (!o.readonly) {
      this.insert = this.db.prepare(
        'INSERT OR IGNORE INTO events (device_id, epoch, seq, ts, type, occurrence_ms, received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      );
      // Keep the newest birth: retained births come back, older, on every reconnection.
      this.birth = this.db.prepare(
        `INSERT INTO births (device_id, boot_id, ts_ms, groups, site, received_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (device_id) DO UPDATE SET boot_id = excluded.boot_id, ts_ms = excluded.ts_ms, groups = excluded.groups,
           site = excluded.site, received_at = excluded.received_at
         WHERE excluded.ts_ms >= births.ts_ms`,
      );
    }
  }

  /** Stores one event of `deviceId` (taken from the topic). Synchronous: on return it is committed. */
  addEvent(deviceId: string, body: Record<string, unknown>, receivedAt: number, raw: string): InsertResult {
    const { epoch, seq, type, ts } = body;
    if (
      typeof epoch !== 'string' ||
      epoch === '' ||
      !Number.isSafeInteger(seq) ||
      (seq as number) < 1 ||
      typeof type !== 'string'
    )
      return 'invalid';
    const occ = occurrenceOf(body) ?? null;
    const r = this.insert!.run(deviceId, epoch, seq, typeof ts === 'string' ? ts : null, type, occ, receivedAt, raw);
    return r.changes === 1 ? 'stored' : 'duplicate';
  }

  /** Records a birth if it is the newest seen for the box; deaths are not stored. */
  addBirth(deviceId: string, body: Record<string, unknown>, receivedAt: number): boolean {
    if (body.online !== true) return false;
    const ts = typeof body.ts === 'string' ? Date.parse(body.ts) : NaN;
    const groups = Array.isArray(body.groups) ? body.groups.filter((g): g is string => typeof g === 'string') : [];
    const r = this.birth!.run(
      deviceId,
      typeof body.bootId === 'string' ? body.bootId : null,
      Number.isNaN(ts) ? receivedAt : ts,
      JSON.stringify(groups),
      JSON.stringify(body.site ?? null),
      receivedAt,
    );
    return r.changes === 1;
  }

  /** play.* events whose scheduled start is in [fromMs, toMs). */
  playEvents(fromMs: number, toMs: number): StoredEvent[] {
    const rows = this.db
      .prepare(
        'SELECT device_id, epoch, seq, body FROM events WHERE occurrence_ms >= ? AND occurrence_ms < ? ORDER BY device_id, epoch, seq',
      )
      .all(fromMs, toMs) as { device_id: string; epoch: string; seq: number; body: string }[];
    return rows.map((r) => ({
      deviceId: r.device_id,
      epoch: r.epoch,
      seq: r.seq,
      body: JSON.parse(r.body) as Record<string, unknown>,
    }));
  }

  /** Each box's groups, from its newest birth, with that birth's time (to merge several stores). */
  births(): Map<string, { groups: string[]; tsMs: number }> {
    const rows = this.db.prepare('SELECT device_id, groups, ts_ms FROM births').all() as {
      device_id: string;
      groups: string;
      ts_ms: number;
    }[];
    return new Map(rows.map((r) => [r.device_id, { groups: JSON.parse(r.groups) as string[], tsMs: r.ts_ms }]));
  }

  /** Each box's groups, from its newest birth. */
  groups(): Map<string, string[]> {
    return new Map([...this.births()].map(([id, b]) => [id, b.groups]));
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}
