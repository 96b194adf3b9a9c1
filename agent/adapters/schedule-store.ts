// Documents in force and the anti-replay versions, in SQLite: after a restart with no
// broker the box still has its plan, and a replayed old document is still refused.
// (The replay state is also kept beside the database, adapters/replay-state.ts.)
// A document the disk refuses (full) is kept in memory and in force meanwhile; it is
// written on the next put() or flush() that the disk takes.
import type { Db } from './sqlite-db.js';
import type { Logger } from '../log.js';
import type { DocInForce } from '../domain/occurrences.js';
import { validateSchedule } from '../../contract/schedule-doc.js';
import type { ScheduleDoc } from '../../contract/schedule-doc.js';

export class ScheduleStore {
  /** Parsed documents in force; rebuilt only after put(), since heartbeats and re-plans read it often. */
  private cached: DocInForce[] | undefined;
  private readonly accept: (topic: string, doc: ScheduleDoc, jws: string, at: string) => void;
  /** Accepted documents not yet written (the disk refused them), by topic. */
  private readonly unwritten = new Map<string, { doc: ScheduleDoc; jws: string; at: string }>();

  /** Topics whose documents are "in force" now: a box that left a group no longer plays that group's schedule. */
  private readonly topics: ReadonlySet<string> | undefined;
  private reportedStale = false;

  constructor(
    private readonly db: Db,
    private readonly log?: Logger,
    topics?: Iterable<string>,
  ) {
    this.topics = topics === undefined ? undefined : new Set(topics);
    const upVersion = db.prepare(
      `INSERT INTO doc_versions (doc_id, version, accepted_at) VALUES (?, ?, ?)
       ON CONFLICT(doc_id) DO UPDATE SET version = excluded.version, accepted_at = excluded.accepted_at
       WHERE excluded.version > doc_versions.version`,
    );
    const upDoc = db.prepare(
      `INSERT INTO docs_in_force (topic, doc_id, version, jws, payload, accepted_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(topic) DO UPDATE SET doc_id = excluded.doc_id, version = excluded.version, jws = excluded.jws,
         payload = excluded.payload, accepted_at = excluded.accepted_at`,
    );
    this.accept = db.transaction((topic: string, doc: ScheduleDoc, jws: string, at: string) => {
      upVersion.run(doc.id, doc.version, at);
      upDoc.run(topic, doc.id, doc.version, jws, JSON.stringify(doc), at);
    });
  }

  acceptedVersion(docId: string): number | undefined {
    const row = this.db.prepare('SELECT version FROM doc_versions WHERE doc_id = ?').get(docId) as
      { version: number } | undefined;
    return row?.version;
  }

  /** Record an accepted document: it replaces whatever the topic had (contract §3). */
  put(topic: string, doc: ScheduleDoc, jws: string, now: number): void {
    this.unwritten.set(topic, { doc, jws, at: new Date(now).toISOString() });
    // The document was just validated: update the parsed list in place rather than parse
    // and validate every stored document again on the next read.
    if (this.cached && (!this.topics || this.topics.has(topic))) {
      this.cached = [...this.cached.filter((d) => d.topic !== topic), { topic, doc }].sort((a, b) =>
        a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0,
      );
    }
    this.flush();
  }

  /** Write documents the disk refused before; false while some remain in memory only. */
  flush(): boolean {
    for (const [topic, u] of this.unwritten) {
      try {
        this.accept(topic, u.doc, u.jws, u.at);
        this.unwritten.delete(topic);
      } catch (err) {
        this.log?.error(
          { code: 'STORE_WRITE', err: (err as Error).message, topic, docId: u.doc.id },
          'document in force kept in memory: the database refused it',
        );
        return false;
      }
    }
    return true;
  }

  /** Per topic, the document in force as the database has it (id, version, issuedAt, JWS). */
  marks(): { topic: string; id: string; version: number; issuedAt: string; jws: string }[] {
    const rows = this.db.prepare('SELECT topic, doc_id AS id, version, jws, payload FROM docs_in_force').all() as {
      topic: string;
      id: string;
      version: number;
      jws: string;
      payload: string;
    }[];
    return rows.map((r) => ({
      topic: r.topic,
      id: r.id,
      version: r.version,
      jws: r.jws,
      issuedAt: String((JSON.parse(r.payload) as { issuedAt?: unknown }).issuedAt ?? '1970-01-01T00:00:00Z'),
    }));
  }

  /** Every anti-replay version the database holds. */
  versions(): { docId: string; version: number }[] {
    return this.db.prepare('SELECT doc_id AS docId, version FROM doc_versions').all() as {
      docId: string;
      version: number;
    }[];
  }

  /** The documents in force, one per topic. A row that no longer validates is skipped, not fatal. */
  inForce(): DocInForce[] {
    if (this.cached) return this.cached;
    const rows = this.db.prepare('SELECT topic, payload FROM docs_in_force ORDER BY topic').all() as {
      topic: string;
      payload: string;
    }[];
    const out: DocInForce[] = [];
    const stale: string[] = [];
    for (const r of rows) {
      if (this.unwritten.has(r.topic)) continue;
      if (this.topics && !this.topics.has(r.topic)) {
        // Kept (its replay mark still counts if the box rejoins), but not played.
        stale.push(r.topic);
        continue;
      }
      const v = validateSchedule(JSON.parse(r.payload), { stored: true });
      if (v.ok) out.push({ topic: r.topic, doc: v.doc });
      else
        this.log?.warn(
          { code: 'STORE_REPLAY', topic: r.topic, message: v.message },
          'a stored document no longer validates; not in force',
        );
    }
    if (stale.length > 0 && !this.reportedStale) {
      this.reportedStale = true;
      this.log?.warn(
        { topics: stale },
        'documents on topics this box no longer subscribes to (a group it left) are not in force',
      );
    }
    for (const [topic, u] of this.unwritten)
      if (!this.topics || this.topics.has(topic)) out.push({ topic, doc: u.doc });
    out.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
    this.cached = out;
    return out;
  }
}
