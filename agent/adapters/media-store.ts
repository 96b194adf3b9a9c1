// What the content-addressed media cache holds, in the database's `media` table: each
// file's length and when it was last played (least-recently-used eviction). The files
// themselves are the truth (their names are their hashes, re-verified at start); this
// table only remembers what a directory listing cannot. So a write the disk refuses
// (full) is logged and skipped, never fatal: at worst an LRU time is lost, or a row is
// re-created by the next verification.
import { isDiskError, type Db } from './sqlite-db.js';
import type { Logger } from '../log.js';

export interface MediaRow {
  bytes: number;
  lastUsedAt: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class MediaStore {
  private readonly q;

  constructor(
    private readonly db: Db,
    private readonly log?: Logger,
  ) {
    this.q = {
      all: db.prepare('SELECT sha256, bytes, last_used_at FROM media'),
      add: db.prepare('INSERT OR IGNORE INTO media (sha256, bytes, cached_at, last_used_at) VALUES (?, ?, ?, ?)'),
      upsert: db.prepare(
        'INSERT INTO media (sha256, bytes, cached_at, last_used_at) VALUES (?, ?, ?, ?) ON CONFLICT(sha256) DO UPDATE SET bytes = excluded.bytes, cached_at = excluded.cached_at',
      ),
      forget: db.prepare('DELETE FROM media WHERE sha256 = ?'),
      touch: db.prepare('UPDATE media SET last_used_at = ? WHERE sha256 = ?'),
    };
  }

  all(): Map<string, MediaRow> {
    const rows = this.q.all.all() as { sha256: string; bytes: number; last_used_at: string }[];
    return new Map(rows.map((r) => [r.sha256, { bytes: r.bytes, lastUsedAt: Date.parse(r.last_used_at) }]));
  }

  /** A verified file found on disk that the table did not know. */
  add(sha256: string, bytes: number, now: number): void {
    this.write('add', () => this.q.add.run(sha256, bytes, iso(now), iso(now)));
  }

  /**
   * A download completed: record it, and run `alongside` (the `media.cached` event, when
   * the event sink is the outbox on this database) in the same transaction.
   */
  cached(sha256: string, bytes: number, now: number, alongside: () => void): void {
    try {
      this.db.transaction(() => {
        this.q.upsert.run(sha256, bytes, iso(now), iso(now));
        alongside();
      })();
    } catch (err) {
      if (!isDiskError(err)) throw err;
      this.log?.warn(
        { code: 'STORE_WRITE', err: (err as Error).message, sha256 },
        'cached media not recorded (the file is in place; the next verification records it)',
      );
      alongside(); // the event still goes out (the outbox holds it in memory)
    }
  }

  forget(sha256: string): void {
    this.write('forget', () => this.q.forget.run(sha256));
  }

  touch(sha256: string, now: number): void {
    this.write('touch', () => this.q.touch.run(iso(now), sha256));
  }

  private write(what: string, fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      if (!isDiskError(err)) throw err;
      this.log?.warn(
        { code: 'STORE_WRITE', err: (err as Error).message, what },
        'media table not updated (disk refuses writes)',
      );
    }
  }
}
