// The centre's event archive in SQLite (the embedded default: one operator, the demo):
// every event of every box, once, each box's latest birth (for its groups), and the
// messages intake refused (quarantine). WAL mode; the primary key (deviceId, epoch, seq)
// is the contract's de-duplication key (§7), so a re-sent event is an INSERT OR IGNORE
// that changes nothing. One adapter of the archive port (archive-port.ts).
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage, Failure } from '../cli-kit/index.js';
import { eventRow, birthRow } from './archive-intake.js';
import type {
  ArchiveBatch,
  BirthInfo,
  BirthRow,
  DeviceEvents,
  EventArchive,
  EventRow,
  QuarantineRow,
  WriteResult,
} from './archive-port.js';

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
);
CREATE TABLE IF NOT EXISTS quarantine (
  id          INTEGER PRIMARY KEY,
  topic       TEXT NOT NULL,
  device_id   TEXT,
  reason      TEXT NOT NULL,
  payload     BLOB NOT NULL,
  received_at INTEGER NOT NULL
);`;

export type InsertResult = 'stored' | 'duplicate' | 'invalid';

export interface StoreOptions {
  readonly?: boolean;
  /** 'normal' (default) survives a crash of noc; 'full' also a power cut, at one fsync per batch. */
  synchronous?: 'normal' | 'full';
}

export class EventStore implements EventArchive {
  readonly db: Database.Database;
  readonly where: string;
  private readonly insert?: Database.Statement;
  private readonly birth?: Database.Statement;
  private readonly quarantine?: Database.Statement;

  constructor(
    readonly path: string,
    o: StoreOptions = {},
  ) {
    this.where = path;
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
      this.quarantine = this.db.prepare(
        'INSERT INTO quarantine (topic, device_id, reason, payload, received_at) VALUES (?, ?, ?, ?, ?)',
      );
    }
  }

  private putEvent(r: EventRow): boolean {
    const { deviceId, epoch, seq, ts, type, occurrenceMs, receivedAt, raw } = r;
    return this.insert!.run(deviceId, epoch, seq, ts, type, occurrenceMs, receivedAt, raw).changes === 1;
  }

  private putBirth(b: BirthRow): boolean {
    const r = this.birth!.run(b.deviceId, b.bootId, b.tsMs, JSON.stringify(b.groups), b.site, b.receivedAt);
    return r.changes === 1;
  }

  /** Stores one event of `deviceId` (taken from the topic). Synchronous: on return it is committed. */
  addEvent(deviceId: string, body: Record<string, unknown>, receivedAt: number, raw: string): InsertResult {
    const row = eventRow(deviceId, body, raw, receivedAt);
    if (typeof row === 'string') return 'invalid';
    return this.putEvent(row) ? 'stored' : 'duplicate';
  }

  /** Records a birth if it is the newest seen for the box; deaths are not stored. */
  addBirth(deviceId: string, body: Record<string, unknown>, receivedAt: number): boolean {
    const row = birthRow(deviceId, body, receivedAt);
    return row ? this.putBirth(row) : false;
  }

  /** The whole batch in one transaction: committed (or not at all) when it resolves. */
  write(batch: ArchiveBatch): Promise<WriteResult> {
    try {
      const r = this.db.transaction(() => {
        const out: WriteResult = { stored: 0, duplicate: 0, births: 0, quarantined: 0 };
        for (const e of batch.events) out[this.putEvent(e) ? 'stored' : 'duplicate']++;
        for (const b of batch.births) if (this.putBirth(b)) out.births++;
        for (const q of batch.quarantine) {
          this.quarantine!.run(q.topic, q.deviceId, q.reason, q.payload, q.receivedAt);
          out.quarantined++;
        }
        return out;
      })();
      return Promise.resolve(r);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async *playEvents(fromMs: number, toMs: number, devices?: readonly string[]): AsyncIterable<DeviceEvents> {
    const stmt = this.db.prepare(
      `SELECT device_id, epoch, seq, body FROM events WHERE occurrence_ms >= ? AND occurrence_ms < ?
       ${devices ? 'AND device_id IN (SELECT value FROM json_each(?))' : ''} ORDER BY device_id, epoch, seq`,
    );
    const args: unknown[] = devices ? [fromMs, toMs, JSON.stringify(devices)] : [fromMs, toMs];
    let cur: DeviceEvents | undefined;
    for (const r of stmt.iterate(...args) as IterableIterator<{
      device_id: string;
      epoch: string;
      seq: number;
      body: string;
    }>) {
      if (cur && cur.deviceId !== r.device_id) {
        yield cur;
        cur = undefined;
      }
      cur ??= { deviceId: r.device_id, events: [] };
      cur.events.push({
        deviceId: r.device_id,
        epoch: r.epoch,
        seq: r.seq,
        body: JSON.parse(r.body) as Record<string, unknown>,
      });
    }
    if (cur) yield cur;
  }

  /** Each box's groups, from its newest birth, with that birth's time (to merge several stores). */
  births(): Promise<Map<string, BirthInfo>> {
    return Promise.resolve(this.birthsSync());
  }

  birthsSync(): Map<string, BirthInfo> {
    const rows = this.db.prepare('SELECT device_id, groups, ts_ms FROM births').all() as {
      device_id: string;
      groups: string;
      ts_ms: number;
    }[];
    return new Map(rows.map((r) => [r.device_id, { groups: JSON.parse(r.groups) as string[], tsMs: r.ts_ms }]));
  }

  /** Each box's groups, from its newest birth. */
  groups(): Map<string, string[]> {
    return new Map([...this.birthsSync()].map(([id, b]) => [id, b.groups]));
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  }

  countEvents(): Promise<number> {
    return Promise.resolve(this.count());
  }

  quarantined(): Promise<QuarantineRow[]> {
    const hasTable = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'quarantine'").get();
    if (!hasTable) return Promise.resolve([]); // a read-only file from before the quarantine
    const rows = this.db
      .prepare('SELECT topic, device_id, reason, payload, received_at FROM quarantine ORDER BY id')
      .all() as { topic: string; device_id: string | null; reason: string; payload: Buffer; received_at: number }[];
    return Promise.resolve(
      rows.map((r) => ({
        topic: r.topic,
        deviceId: r.device_id,
        reason: r.reason,
        payload: r.payload,
        receivedAt: r.received_at,
      })),
    );
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
