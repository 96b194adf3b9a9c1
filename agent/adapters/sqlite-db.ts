// The box's one SQLite database (WAL). It outlives processes, `kill -9` and power cuts,
// and owns the identity of the event stream: `epoch` is created with the database, so
// a box whose disk was replaced starts a new epoch and the centre never confuses its
// seq 1 with the old disk's seq 1.
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { LoaError } from '../errors.js';

export type Db = Database.Database;

/** Schema steps, applied in order; PRAGMA user_version records how many ran. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
   CREATE TABLE outbox (
     seq  INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a seq is never reused, even after deletes
     ts   TEXT NOT NULL,
     type TEXT NOT NULL,
     body TEXT NOT NULL
   );`,
  // Signed schedules, the media cache and the occurrence ledger.
  `CREATE TABLE doc_versions (          -- anti-replay: highest version accepted per document id, forever
     doc_id      TEXT PRIMARY KEY,
     version     INTEGER NOT NULL,
     accepted_at TEXT NOT NULL
   ) STRICT;
   CREATE TABLE docs_in_force (         -- one document per topic (contract §3)
     topic       TEXT PRIMARY KEY,
     doc_id      TEXT NOT NULL,
     version     INTEGER NOT NULL,
     jws         TEXT NOT NULL,          -- as received, so it can be re-verified
     payload     TEXT NOT NULL,          -- the validated JSON payload
     accepted_at TEXT NOT NULL
   ) STRICT;
   CREATE TABLE ledger (                -- the fate of each occurrence, so a restart never plays one twice
     occ_key     TEXT PRIMARY KEY,       -- docId/itemId/scheduled start (ISO, UTC)
     doc_id      TEXT,
     item_id     TEXT NOT NULL,
     occurrence  TEXT NOT NULL,
     state       TEXT NOT NULL,          -- started | finished | interrupted | failed | skipped
     updated_at  TEXT NOT NULL,
     detail      TEXT
   ) STRICT;
   CREATE INDEX ledger_occurrence ON ledger (occurrence);
   CREATE TABLE media (                 -- what the content-addressed cache holds, for LRU eviction
     sha256       TEXT PRIMARY KEY,
     bytes        INTEGER NOT NULL,
     cached_at    TEXT NOT NULL,
     last_used_at TEXT NOT NULL
   ) STRICT;`,
  `CREATE TABLE commands (             -- at most once per command id (contract §4), until it expires
     id          TEXT PRIMARY KEY,
     action      TEXT NOT NULL,
     received_at TEXT NOT NULL,
     expires_at  TEXT NOT NULL,
     state       TEXT NOT NULL,          -- running | done
     result      TEXT,                   -- the cmd/result message, once known
     sent        INTEGER NOT NULL DEFAULT 0  -- 1 once the broker acknowledged the result
   ) STRICT;
   CREATE INDEX commands_expiry ON commands (expires_at);`,
];

export interface OpenOptions {
  /**
   * 'full' fsyncs every commit: an event survives a power cut the moment emit()
   * returns. 'normal' (WAL) survives kill -9 and crashes but a power cut may lose the
   * last commits. See FINDINGS / bench for the cost.
   */
  synchronous?: 'full' | 'normal';
}

export function openDb(path: string, opts: OpenOptions = {}): Db {
  let db: Db;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
  } catch (err) {
    throw new LoaError('STORE_OPEN', `cannot open database ${path}: ${(err as Error).message}`, { cause: err });
  }
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new LoaError(
      'STORE_OPEN',
      `database schema ${version} is newer than this agent knows (${MIGRATIONS.length}); refusing to downgrade it`,
    );
  }
  db.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
    db.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)`).run(randomUUID());
  })();
}

export function getMeta(db: Db, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

export function setMeta(db: Db, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(
    key,
    value,
  );
}

export function epochOf(db: Db): string {
  const e = getMeta(db, 'epoch');
  if (!e) throw new LoaError('STORE_OPEN', 'database has no epoch');
  return e;
}

/** SQLite result codes that say the file is not a sound database (better-sqlite3's `err.code`). */
export function isCorruption(err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? '');
  return code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB';
}

/** The disk refuses writes: full, failing, or read-only. */
export function isDiskError(err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? '');
  return (
    code === 'SQLITE_FULL' ||
    code.startsWith('SQLITE_IOERR') ||
    code.startsWith('SQLITE_READONLY') ||
    code === 'SQLITE_CANTOPEN'
  );
}

export interface StoreReset {
  reason: 'corrupt' | 'missing' | 'full';
  movedTo: string | null;
  message: string;
}

export interface OpenedStore {
  db: Db;
  /** Set when the database had to be rebuilt (or, on a full disk, replaced by one in memory). */
  reset?: StoreReset;
  /** true while the database lives in memory because the disk refused it. */
  inMemory: boolean;
}

/**
 * Open the box's database so that a broken SD card degrades the box instead of stopping
 * it (no crash loop, hence no reboot loop under systemd):
 * - a file that is not a database, or fails `PRAGMA quick_check`, is moved aside to
 *   `loa.db.corrupt-<time>` (kept for inspection) and a fresh one is created;
 * - a disk that refuses to open or create it (full, read-only) gives a database in
 *   memory: the box plays and queues events there, and says so (`store.reset` full);
 * - `hadState` says whether this box had a database before (the replay state exists),
 *   so a deleted database is reported as `missing`.
 * A schema newer than this agent still fails (STORE_OPEN): that is a downgrade to undo.
 */
export function openStore(
  path: string,
  opts: OpenOptions & { hadState: boolean; now?: () => number } = { hadState: false },
): OpenedStore {
  const existed = existsSync(path);
  try {
    const db = openDb(path, opts);
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') {
      db.close();
      throw Object.assign(new Error(`quick_check: ${String(check).slice(0, 200)}`), { code: 'SQLITE_CORRUPT' });
    }
    if (!existed && opts.hadState) {
      return {
        db,
        inMemory: false,
        reset: {
          reason: 'missing',
          movedTo: null,
          message: 'the database was missing and a new one was created (new epoch)',
        },
      };
    }
    return { db, inMemory: false };
  } catch (err) {
    const cause = err instanceof LoaError && err.cause !== undefined ? err.cause : err;
    if (isCorruption(cause)) {
      const stamp = new Date(opts.now?.() ?? Date.now()).toISOString().replace(/[:.]/g, '-');
      const movedTo = `${path}.corrupt-${stamp}`;
      for (const suffix of ['', '-wal', '-shm']) {
        try {
          if (existsSync(path + suffix)) renameSync(path + suffix, movedTo + suffix);
        } catch (e) {
          throw new LoaError(
            'STORE_OPEN',
            `database ${path} is corrupt and cannot be moved aside: ${(e as Error).message}`,
            { cause: e },
          );
        }
      }
      const fresh = openStore(path, { ...opts, hadState: false });
      return {
        ...fresh,
        reset: {
          reason: 'corrupt',
          movedTo,
          message: `the database was corrupt (${(cause as Error).message.slice(0, 120).replace(/;/g, ',')}) and was moved aside, a new one was created (new epoch)`,
        },
      };
    }
    if (isDiskError(cause)) {
      const db = openDb(':memory:', opts);
      return {
        db,
        inMemory: true,
        reset: {
          reason: 'full',
          movedTo: null,
          message: `the database cannot be opened for writing (${(cause as Error).message.slice(0, 120).replace(/;/g, ',')}), the box runs on a database in memory until the agent restarts`,
        },
      };
    }
    throw err;
  }
}
