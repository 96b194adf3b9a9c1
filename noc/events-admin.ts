// `noc events retention` and `noc events migrate`: the PostgreSQL archive's upkeep
// (docs/noc.md §9). Retention drops whole monthly partitions, which frees their disk at
// once and costs no vacuum, where a DELETE of millions of rows would do neither.
import { parseArgs, positionals, required, UsageError } from '../cli-kit/index.js';
import { isPostgresUrl, PgArchive } from './events-pg.js';
import { applyRetention, partitions, retentionPlan, SCHEMA_VERSION } from './events-pg-schema.js';
import type { Io } from './io.js';

export const RETENTION_HELP = `noc events retention --db postgres://... --keep-months N [--dry-run]

Keeps the current month and the N months before it; drops every monthly partition of the
archive that ends before that (its events gone at once, its disk freed), and deletes the
older rows of the default partition (events of far-off months) and of the quarantine.
Run it from a timer, e.g. monthly. SQLite archives have no partitions: not supported.

  --keep-months N   whole months to keep before the current one (at least 1)
  --dry-run         print what would be dropped, drop nothing`;

export const MIGRATE_HELP = `noc events migrate --db postgres://...

Brings the archive's schema to this noc's version (${SCHEMA_VERSION}); noc events does the same at start.
Prints each migration applied. Safe to run while archivers run.`;

function pgUrl(db: string | undefined, cmd: string): string {
  const url = required(db, '--db', 'postgres://noc@db.example.vn/loa');
  if (!isPostgresUrl(url)) throw new UsageError(`${cmd} needs a PostgreSQL --db (postgres://...), got "${url}"`);
  return url;
}

export async function retentionCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(
    argv,
    { db: { kind: 'string' }, 'keep-months': { kind: 'number', min: 1 }, 'dry-run': { kind: 'boolean' } } as const,
    'noc events retention',
  );
  if (help) return (io.out(RETENTION_HELP), 0);
  positionals(positional, [], 'noc events retention');
  const url = pgUrl(opts.db, 'noc events retention');
  const keep = required(opts['keep-months'], '--keep-months', '24');
  if (!Number.isInteger(keep)) throw new UsageError(`--keep-months must be a whole number of months (got ${keep})`);
  const a = await PgArchive.open(url);
  try {
    const plan = retentionPlan(await partitions(a.sql), Date.now(), keep);
    const cutoff = new Date(plan.cutoff).toISOString().slice(0, 10);
    if (opts['dry-run']) {
      for (const p of plan.drop) io.out(`would drop ${p}`);
      io.out(`would delete the default partition's and the quarantine's rows before ${cutoff}`);
      return 0;
    }
    const r = await applyRetention(a.sql, plan);
    for (const p of r.dropped) io.out(`dropped ${p}`);
    io.out(
      `kept from ${cutoff}: ${r.dropped.length} partitions dropped, ${r.defaultRows} rows of events_default and ${r.quarantineRows} quarantined messages deleted`,
    );
    return 0;
  } finally {
    await a.close();
  }
}

export async function migrateCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, { db: { kind: 'string' } } as const, 'noc events migrate');
  if (help) return (io.out(MIGRATE_HELP), 0);
  positionals(positional, [], 'noc events migrate');
  const url = pgUrl(opts.db, 'noc events migrate');
  const a = await PgArchive.open(url, { migrate: true });
  await a.close();
  for (const m of a.applied) io.out(`applied ${m.version}: ${m.description}`);
  if (!a.applied.length) io.out(`schema version ${SCHEMA_VERSION}: nothing to do`);
  return 0;
}
