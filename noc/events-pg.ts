// The centre's event archive in PostgreSQL (a national fleet, several archivers, years of
// proof of play): the PostgreSQL adapter of the archive port (archive-port.ts), through
// postgres.js (chosen by measurement: docs/noc.md §9). Schema, partitions and retention:
// events-pg-schema.ts.
//
// A batch is one transaction: the events in one INSERT ... SELECT FROM unnest(arrays)
// ON CONFLICT DO NOTHING (the primary key drops what is already there), then births and
// quarantined messages; write() resolves after COMMIT, which with PostgreSQL's default
// synchronous_commit means the WAL is on disk.
import postgres, { type Sql } from 'postgres';
import { errorMessage, Failure } from '../cli-kit/index.js';
import { newestBirths } from './archive-intake.js';
import type {
  ArchiveBatch,
  BirthInfo,
  DeviceEvents,
  EventArchive,
  QuarantineRow,
  WriteResult,
} from './archive-port.js';
import {
  createPartition,
  inWindow,
  migrate,
  monthStart,
  partitions,
  schemaVersion,
  SCHEMA_VERSION,
  type Migration,
} from './events-pg-schema.js';

export const isPostgresUrl = (db: string): boolean => /^postgres(ql)?:\/\//i.test(db);

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

// The body goes as text and is cast in SQL: a string sent as a jsonb parameter would be
// stored as a JSON string, not as the object it holds.
const INSERT = `INSERT INTO events (device_id, epoch, seq, at, ts, type, occurrence, item_id, priority, received_at, body)
SELECT d, e, s, a, t, ty, o, i, p, r, b::jsonb FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[],
  $5::timestamptz[], $6::text[], $7::timestamptz[], $8::text[], $9::int[], $10::timestamptz[], $11::text[])
  AS u(d, e, s, a, t, ty, o, i, p, r, b)
ON CONFLICT DO NOTHING`;

const iso = (ms: number) => new Date(ms).toISOString();

export interface PgOptions {
  /** Apply the migrations the database lacks (the archiver, `noc events migrate`); else require the current schema. */
  migrate?: boolean;
  /** The clock that decides which months get partitions (tests). */
  now?: () => number;
}

export class PgArchive implements EventArchive {
  readonly where: string;
  /** The migrations this open applied. */
  applied: Migration[] = [];
  private months = new Set<number>();

  private constructor(
    readonly sql: Sql,
    url: string,
    private readonly now: () => number,
  ) {
    this.where = redact(url);
  }

  /** Connects and checks (or brings) the schema to this noc's version. */
  static async open(url: string, o: PgOptions = {}): Promise<PgArchive> {
    const sql = postgres(url, {
      max: 2,
      onnotice: () => {},
      connect_timeout: 10,
      idle_timeout: 60,
      connection: { application_name: 'noc events' },
    });
    const a = new PgArchive(sql, url, o.now ?? Date.now);
    try {
      if (o.migrate) a.applied = await migrate(sql);
      else {
        const v = await schemaVersion(sql);
        if (v !== SCHEMA_VERSION)
          throw new Error(
            v < SCHEMA_VERSION
              ? `the database's schema is version ${v}, this noc needs ${SCHEMA_VERSION}: run noc events migrate --db URL (or start noc events once)`
              : `the database's schema is version ${v}; this noc knows up to ${SCHEMA_VERSION}: upgrade noc`,
          );
      }
      a.months = await partitions(sql);
    } catch (err) {
      await sql.end({ timeout: 1 });
      throw new Failure(`--db ${a.where}: ${errorMessage(err)}`);
    }
    return a;
  }

  /** Partitions for the batch's months (within the window), made before the insert that needs them. */
  private async ensurePartitions(batch: ArchiveBatch): Promise<void> {
    const now = this.now();
    for (const e of batch.events) {
      const m = monthStart(e.atMs);
      if (this.months.has(m) || !inWindow(m, now)) continue;
      await createPartition(this.sql, m);
      this.months.add(m);
    }
  }

  async write(batch: ArchiveBatch): Promise<WriteResult> {
    if (!batch.events.length && !batch.births.length && !batch.quarantine.length)
      return { stored: 0, duplicate: 0, births: 0, quarantined: 0 }; // only messages we do not keep
    await this.ensurePartitions(batch);
    const ev = batch.events;
    return this.sql.begin(async (tx) => {
      const out: WriteResult = { stored: 0, duplicate: 0, births: 0, quarantined: 0 };
      if (ev.length) {
        const r = await tx.unsafe(INSERT, [
          ev.map((e) => e.deviceId),
          ev.map((e) => e.epoch),
          ev.map((e) => e.seq),
          ev.map((e) => iso(e.atMs)),
          ev.map((e) => iso(e.tsMs)),
          ev.map((e) => e.type),
          ev.map((e) => (e.occurrenceMs === null ? null : iso(e.occurrenceMs))),
          ev.map((e) => e.itemId),
          ev.map((e) => e.priority),
          ev.map((e) => iso(e.receivedAt)),
          ev.map((e) => e.raw),
        ] as never[]);
        out.stored = r.count;
        out.duplicate = ev.length - r.count;
      }
      for (const b of newestBirths(batch.births)) {
        const r = await tx`INSERT INTO births (device_id, boot_id, ts, groups, site, received_at)
          VALUES (${b.deviceId}, ${b.bootId}, ${iso(b.tsMs)}, ${b.groups}::text[], ${b.site}::text::jsonb, ${iso(b.receivedAt)})
          ON CONFLICT (device_id) DO UPDATE SET boot_id = excluded.boot_id, ts = excluded.ts, groups = excluded.groups,
            site = excluded.site, received_at = excluded.received_at
          WHERE excluded.ts >= births.ts`;
        out.births += r.count;
      }
      for (const q of batch.quarantine) {
        await tx`INSERT INTO quarantine (topic, device_id, reason, payload, received_at)
          VALUES (${q.topic}, ${q.deviceId}, ${q.reason}, ${q.payload}, ${iso(q.receivedAt)})`;
        out.quarantined++;
      }
      return out;
    });
  }

  async *playEvents(fromMs: number, toMs: number, devices?: readonly string[]): AsyncIterable<DeviceEvents> {
    const params: unknown[] = [iso(fromMs), iso(toMs)];
    if (devices) params.push(devices);
    // `at` bounds too: they are what prunes the partitions (at = occurrence for play events).
    const q = this.sql.unsafe(
      `SELECT device_id, epoch, seq, body FROM events
       WHERE at >= $1 AND at < $2 AND occurrence >= $1 AND occurrence < $2 ${devices ? 'AND device_id = ANY($3::text[])' : ''}
       ORDER BY device_id, epoch, seq`,
      params as never[],
    );
    let cur: DeviceEvents | undefined;
    for await (const rows of q.cursor(2000)) {
      for (const r of rows) {
        const deviceId = String(r.device_id);
        if (cur && cur.deviceId !== deviceId) {
          yield cur;
          cur = undefined;
        }
        cur ??= { deviceId, events: [] };
        cur.events.push({
          deviceId,
          epoch: String(r.epoch),
          seq: Number(r.seq),
          body: r.body as Record<string, unknown>,
        });
      }
    }
    if (cur) yield cur;
  }

  async births(): Promise<Map<string, BirthInfo>> {
    const rows = await this.sql`SELECT device_id, groups, ts FROM births`;
    return new Map(
      rows.map((r) => [String(r.device_id), { groups: r.groups as string[], tsMs: (r.ts as Date).getTime() }]),
    );
  }

  async countEvents(): Promise<number> {
    const [r] = await this.sql`SELECT count(*)::bigint AS n FROM events`;
    return Number(r?.n ?? 0);
  }

  async quarantined(): Promise<QuarantineRow[]> {
    const rows = await this.sql`SELECT topic, device_id, reason, payload, received_at FROM quarantine ORDER BY id`;
    return rows.map((r) => ({
      topic: String(r.topic),
      deviceId: r.device_id === null ? null : String(r.device_id),
      reason: String(r.reason),
      payload: r.payload as Buffer,
      receivedAt: (r.received_at as Date).getTime(),
    }));
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
