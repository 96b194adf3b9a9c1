// The PostgreSQL archive's schema: numbered migrations (run on upgrade, under a lock, so
// several archivers starting at once apply each one once), monthly partitions made as
// events arrive, and retention by whole partitions. docs/noc.md §9 explains the choices.
//
// Partitioning: `events` is partitioned by range of `at`, one partition per calendar month
// (UTC): `at` is the occurrence of a play event (a month's proof of play lives in that
// month's partition, however late the box reported it) and the box's ts otherwise.
// PostgreSQL wants the partition key in every unique key, so the primary key is
// (device_id, epoch, seq, at): `at` is read from the event itself, and a re-sent event is
// the same bytes (the box stores it before sending, contract §7), so its copy has the same
// `at` and is dropped. Months outside [now - 12, now + 2] (a box's wrong clock, a very late
// outbox) go to `events_default` instead of making partitions; a month's partition made
// later takes its rows out of the default first.
import type { Sql, TransactionSql } from 'postgres';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'events partitioned by month, births, quarantine',
    sql: `
CREATE TABLE events (
  device_id   text COLLATE "C" NOT NULL,   -- from the topic: a box cannot speak for another
  epoch       text COLLATE "C" NOT NULL,
  seq         bigint NOT NULL,
  at          timestamptz NOT NULL,        -- the partition key: occurrence of a play event, else ts
  ts          timestamptz NOT NULL,
  type        text NOT NULL,
  occurrence  timestamptz,                 -- play.* only: the scheduled start
  item_id     text,
  priority    integer,
  received_at timestamptz NOT NULL,
  body        jsonb NOT NULL,
  PRIMARY KEY (device_id, epoch, seq, at)
) PARTITION BY RANGE (at);
CREATE TABLE events_default PARTITION OF events DEFAULT;
-- Reports by date and outcome (type); the emergencies (priority 100) on their own.
CREATE INDEX events_at_type ON events (at, type);
CREATE INDEX events_emergency ON events (at) WHERE priority >= 100;
CREATE TABLE births (
  device_id   text COLLATE "C" PRIMARY KEY,
  boot_id     text,
  ts          timestamptz NOT NULL,
  groups      text[] NOT NULL,             -- commune, district, province ... as the box's birth lists them
  site        jsonb,
  received_at timestamptz NOT NULL
);
CREATE INDEX births_groups ON births USING gin (groups);
CREATE TABLE quarantine (
  id          bigserial PRIMARY KEY,
  topic       text NOT NULL,
  device_id   text,
  reason      text NOT NULL,
  payload     bytea NOT NULL,
  received_at timestamptz NOT NULL
);
CREATE INDEX quarantine_received ON quarantine (received_at);`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

// Advisory lock keys (any constants; one per purpose).
const MIGRATE_LOCK = 0x6c6f6101;
const PARTITION_LOCK = 0x6c6f6102;

/** The schema's version, 0 for an empty database. */
export async function schemaVersion(sql: Sql | TransactionSql): Promise<number> {
  const [t] = await sql`SELECT to_regclass('loa_schema') IS NOT NULL AS present`;
  if (!t?.present) return 0;
  const [r] = await sql`SELECT coalesce(max(version), 0)::int AS v FROM loa_schema`;
  return Number(r?.v ?? 0);
}

/** Applies the migrations the database lacks; returns them. Throws on a database newer than this noc. */
export async function migrate(sql: Sql, migrations: readonly Migration[] = MIGRATIONS): Promise<Migration[]> {
  const latest = migrations[migrations.length - 1]!.version;
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS loa_schema (
      version int PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
    const have = await schemaVersion(tx);
    if (have > latest)
      throw new Error(`the database's schema is version ${have}; this noc knows up to ${latest}: upgrade noc`);
    const todo = migrations.filter((m) => m.version > have);
    for (const m of todo) {
      await tx.unsafe(m.sql);
      await tx`INSERT INTO loa_schema (version, description) VALUES (${m.version}, ${m.description})`;
    }
    return todo;
  });
}

/** Start of the UTC month of `ms`, moved by `add` months. */
export function monthStart(ms: number, add = 0): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + add, 1);
}

export function partitionName(month: number): string {
  const d = new Date(month);
  return `events_${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The months that get a partition of their own when an event arrives for them. */
export function inWindow(month: number, nowMs: number): boolean {
  return month >= monthStart(nowMs, -12) && month <= monthStart(nowMs, 2);
}

/** The month partitions that exist, as month starts. */
export async function partitions(sql: Sql): Promise<Set<number>> {
  const rows = await sql`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{4}_[0-9]{2}$'`;
  return new Set(
    rows.map((r) => {
      const [, y, m] = /^events_(\d{4})_(\d{2})$/.exec(String(r.relname))!;
      return Date.UTC(Number(y), Number(m) - 1, 1);
    }),
  );
}

/** Makes the month's partition unless another archiver did; moves its rows out of the default first. */
export async function createPartition(sql: Sql, month: number): Promise<boolean> {
  const name = partitionName(month);
  const from = new Date(month).toISOString();
  const to = new Date(monthStart(month, 1)).toISOString();
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`;
    const [exists] = await tx`SELECT to_regclass(${name}) IS NOT NULL AS present`;
    if (exists?.present) return false;
    await tx.unsafe(`CREATE TABLE ${name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
    await tx.unsafe(
      `WITH moved AS (DELETE FROM events_default WHERE at >= $1 AND at < $2 RETURNING *) INSERT INTO ${name} SELECT * FROM moved`,
      [from, to],
    );
    await tx.unsafe(`ALTER TABLE events ATTACH PARTITION ${name} FOR VALUES FROM ('${from}') TO ('${to}')`);
    return true;
  });
}

export interface RetentionPlan {
  cutoff: number;
  drop: string[];
}

/** Partitions wholly before the cutoff: the start of the month `keepMonths` before the current one. */
export function retentionPlan(existing: Iterable<number>, nowMs: number, keepMonths: number): RetentionPlan {
  const cutoff = monthStart(nowMs, -keepMonths);
  const drop = [...existing]
    .filter((m) => monthStart(m, 1) <= cutoff)
    .sort((a, b) => a - b)
    .map(partitionName);
  return { cutoff, drop };
}

/** Drops the old partitions, deletes the old rows of the default partition and of the quarantine. */
export async function applyRetention(
  sql: Sql,
  plan: RetentionPlan,
): Promise<{ dropped: string[]; defaultRows: number; quarantineRows: number }> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`;
    for (const name of plan.drop) {
      await tx.unsafe(`ALTER TABLE events DETACH PARTITION ${name}`);
      await tx.unsafe(`DROP TABLE ${name}`);
    }
    const cutoff = new Date(plan.cutoff).toISOString();
    const d = await tx`DELETE FROM events_default WHERE at < ${cutoff}`;
    const q = await tx`DELETE FROM quarantine WHERE received_at < ${cutoff}`;
    return { dropped: plan.drop, defaultRows: d.count, quarantineRows: q.count };
  });
}
