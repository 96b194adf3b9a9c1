// The occurrence ledger: each occurrence's fate, keyed by its stable identity
// (document, item, scheduled start). It is what makes a restart never play an
// occurrence twice, and what turns a crash mid-play into `play.interrupted`.
//
// A write the disk refuses (full) is kept in memory and answers has()/get() meanwhile,
// so a full SD card never makes the box play an occurrence twice or stop playing; the
// rows reach the disk with the next write it takes.
import { isDiskError, type Db } from './sqlite-db.js';

export type OccState = 'started' | 'finished' | 'interrupted' | 'failed' | 'skipped';

export interface LedgerRow {
  key: string;
  docId: string | null;
  itemId: string;
  occurrence: string;
  state: OccState;
  detail: string | null;
}

export class LedgerStore {
  private readonly unwritten = new Map<string, { row: LedgerRow; now: number }>();

  constructor(private readonly db: Db) {}

  get(key: string): LedgerRow | undefined {
    const mem = this.unwritten.get(key);
    if (mem) return mem.row;
    return this.db
      .prepare(
        'SELECT occ_key AS key, doc_id AS docId, item_id AS itemId, occurrence, state, detail FROM ledger WHERE occ_key = ?',
      )
      .get(key) as LedgerRow | undefined;
  }

  has(key: string): boolean {
    if (this.unwritten.has(key)) return true;
    return this.db.prepare('SELECT 1 FROM ledger WHERE occ_key = ?').get(key) !== undefined;
  }

  set(row: Omit<LedgerRow, 'detail'> & { detail?: string | null }, now: number): void {
    const full: LedgerRow = { ...row, detail: row.detail ?? null };
    this.unwritten.delete(row.key);
    this.unwritten.set(row.key, { row: full, now });
    for (const [key, u] of this.unwritten) {
      try {
        this.write(u.row, u.now);
        this.unwritten.delete(key);
      } catch (err) {
        if (!isDiskError(err)) throw err;
        return; // kept in memory; written with a later set()
      }
    }
  }

  /** Rows only in memory because the disk refused them. */
  get unwrittenCount(): number {
    return this.unwritten.size;
  }

  private write(row: LedgerRow, now: number): void {
    this.db
      .prepare(
        `INSERT INTO ledger (occ_key, doc_id, item_id, occurrence, state, updated_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(occ_key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, detail = excluded.detail`,
      )
      .run(row.key, row.docId, row.itemId, row.occurrence, row.state, new Date(now).toISOString(), row.detail);
  }

  /** Occurrences that started and never reached a terminal state (the agent died mid-play). */
  unfinished(): LedgerRow[] {
    // Memory rows are this process's own: a restart begins with none.
    return this.db
      .prepare(
        `SELECT occ_key AS key, doc_id AS docId, item_id AS itemId, occurrence, state, detail FROM ledger WHERE state = 'started' ORDER BY occurrence`,
      )
      .all() as LedgerRow[];
  }

  /** Forget fates older than `before` (ISO); the window of replanning never reaches back that far. */
  prune(beforeIso: string): number {
    return this.db.prepare('DELETE FROM ledger WHERE occurrence < ?').run(beforeIso).changes;
  }
}
