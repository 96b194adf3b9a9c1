// Documents in force and the anti-replay versions, in SQLite: after a restart with no
// broker the box still has its plan, and a replayed old document is still refused.
import type { Db } from './sqlite-db.js';
import type { DocInForce } from '../domain/occurrences.js';
import { validateSchedule } from '../domain/schedule-doc.js';
import type { ScheduleDoc } from '../domain/schedule-doc.js';

export class ScheduleStore {
  /** Parsed documents in force; rebuilt only after put(), since heartbeats and re-plans read it often. */
  private cached: DocInForce[] | undefined;
  private readonly accept: (topic: string, doc: ScheduleDoc, jws: string, at: string) => void;

  constructor(private readonly db: Db) {
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
    const row = this.db.prepare('SELECT version FROM doc_versions WHERE doc_id = ?').get(docId) as { version: number } | undefined;
    return row?.version;
  }

  /** Record an accepted document: it replaces whatever the topic had (contract §3). */
  put(topic: string, doc: ScheduleDoc, jws: string, now: number): void {
    this.accept(topic, doc, jws, new Date(now).toISOString());
    this.cached = undefined;
  }

  /** The documents in force, one per topic. A row that no longer validates is skipped, not fatal. */
  inForce(): DocInForce[] {
    if (this.cached) return this.cached;
    const rows = this.db.prepare('SELECT topic, payload FROM docs_in_force ORDER BY topic').all() as { topic: string; payload: string }[];
    const out: DocInForce[] = [];
    for (const r of rows) {
      const v = validateSchedule(JSON.parse(r.payload));
      if (v.ok) out.push({ topic: r.topic, doc: v.doc });
    }
    this.cached = out;
    return out;
  }
}
