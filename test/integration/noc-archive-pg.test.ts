// The archive contract against PostgreSQL (a throwaway cluster, test/helpers/postgres.ts),
// then what only PostgreSQL has: migrations run once whoever starts first, monthly
// partitions made as events arrive (rows of the default partition moved into them), and
// retention by whole partitions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PgArchive } from '../../noc/events-pg.js';
import { MIGRATIONS, monthStart, partitionName, SCHEMA_VERSION } from '../../noc/events-pg-schema.js';
import { postgresSkip, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { archiveContract, batchOf } from '../contract/archive.contract.js';

const skip = postgresSkip();
let pg: TestPostgres | undefined;
let n = 0;

/** A fresh database of the cluster, its URL. */
function freshDb(): string {
  const name = `t${n++}`;
  pg!.psql(`CREATE DATABASE ${name}`);
  return pg!.url.replace(/\/loa$/, `/${name}`);
}

if (!skip) {
  before(async () => {
    pg = await startPostgres();
  });
  after(() => pg?.close());
  archiveContract('PostgreSQL', () => PgArchive.open(freshDb(), { migrate: true }));
}

test(
  'migrations: applied once by concurrent archivers, refused by an older noc',
  { skip, timeout: 60_000 },
  async () => {
    const url = freshDb();
    const opened = await Promise.all([1, 2, 3].map(() => PgArchive.open(url, { migrate: true })));
    for (const a of opened) await a.close();
    const rows = pg!.psql('SELECT version, description FROM loa_schema ORDER BY version', url);
    assert.deepEqual(
      rows.trim().split('\n'),
      MIGRATIONS.map((m) => `${m.version}|${m.description}`),
    );
    // A database one version ahead: this noc refuses to write into it.
    const a = await PgArchive.open(url, { migrate: true });
    await a.sql`INSERT INTO loa_schema (version, description) VALUES (${SCHEMA_VERSION + 1}, 'from the future')`;
    await a.close();
    await assert.rejects(
      PgArchive.open(url, { migrate: true }),
      /schema is version 2; this noc knows up to 1: upgrade noc/,
    );
    await assert.rejects(PgArchive.open(url), /upgrade noc/);
  },
);

test(
  'partitions: one per month as events arrive, the rest in the default; a later partition takes its rows; retention drops whole months',
  { skip, timeout: 60_000 },
  async () => {
    const url = freshDb();
    const now = Date.now();
    const month = (add: number) => monthStart(now, add);
    const ev = (seq: number, ms: number) => ({
      device: 'p1',
      body: { epoch: 'E', seq, ts: new Date(ms).toISOString(), type: 'hw.fault', component: 'amp' },
    });
    const a = await PgArchive.open(url, { migrate: true, now: () => now });
    const far = Date.parse('2101-01-01T00:00:00Z');
    await a.write(
      batchOf(
        [ev(1, month(0) + 1000), ev(2, month(-1) + 1000), ev(3, month(-3) + 1000), ev(4, far), ev(5, month(5) + 1000)],
        now,
      ),
    );
    await a.close();
    const parts = () =>
      pg!
        .psql(
          `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass ORDER BY 1`,
          url,
        )
        .trim()
        .split('\n');
    const rows = (table: string) => Number(pg!.psql(`SELECT count(*) FROM ${table}`, url));
    assert.deepEqual(
      parts(),
      [partitionName(month(-3)), partitionName(month(-1)), partitionName(month(0)), 'events_default'].sort(),
    );
    assert.equal(rows('events_default'), 2, 'the year 2101 and five months ahead');
    // Four months on, the month that was five ahead is in the window: its partition takes the row from the default.
    const later = await PgArchive.open(url, { now: () => month(4) + 1000 });
    await later.write(batchOf([ev(6, month(5) + 2000)], now));
    await later.close();
    assert.equal(rows(partitionName(month(5))), 2);
    assert.equal(rows('events_default'), 1);
    assert.equal(rows('events'), 6);
    // Retention, through the command an operator runs: keep the last month and this one.
    const { runNoc } = await import('./noc-cli.js');
    const dry = await runNoc(['events', 'retention', '--db', url, '--keep-months', '1', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`would drop ${partitionName(month(-3))}`));
    assert.equal(rows('events'), 6);
    const r = await runNoc(['events', 'retention', '--db', url, '--keep-months', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`dropped ${partitionName(month(-3))}`));
    assert.ok(!parts().includes(partitionName(month(-3))));
    assert.equal(rows('events'), 5);
    const bad = await runNoc(['events', 'retention', '--db', url, '--keep-months', '0']);
    assert.equal(bad.code, 64, bad.stderr);
  },
);

test(
  'export: the same proof-of-play CSV from PostgreSQL as from SQLite, for a commune, a province and the country',
  { skip, timeout: 120_000 },
  async () => {
    const { EventStore } = await import('../../noc/events-store.js');
    const { fleetMessages } = await import('../helpers/pop-fleet.js');
    const { tempDir } = await import('../helpers/tmp.js');
    const { join } = await import('node:path');
    const { runNoc } = await import('./noc-cli.js');
    // Dates from the run's clock: three days ending the day before yesterday.
    const startMs = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 4 * 86_400_000;
    const spec = { provinces: 2, districts: 2, communes: 2, boxes: 2, days: 3, playsPerDay: 12, startMs };
    const file = join(tempDir('export-both'), 'events.sqlite');
    const lite = new EventStore(file);
    const url = freshDb();
    const pga = await PgArchive.open(url, { migrate: true });
    let chunk: Parameters<typeof batchOf>[0] = [];
    const flush = async () => {
      const b = batchOf(chunk, startMs);
      const [x, y] = await Promise.all([lite.write(b), pga.write(b)]);
      assert.deepEqual(x, y);
      chunk = [];
    };
    for (const m of fleetMessages(spec)) {
      chunk.push(m);
      if (chunk.length === 400) await flush();
    }
    await flush();
    lite.close();
    await pga.close();
    const day = (n: number) => new Date(startMs + n * 86_400_000).toISOString().slice(0, 10);
    const range = ['--from', day(0), '--to', day(2)];
    const counts: number[] = [];
    for (const scope of [['--group', 'c01-02-01'], ['--group', 'p02'], []]) {
      const a = await runNoc(['events', 'export', '--db', file, ...range, ...scope]);
      const b = await runNoc(['events', 'export', '--db', url, ...range, ...scope]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(b.stdout, a.stdout, `the same CSV for ${scope.join(' ') || 'the country'}`);
      counts.push(a.stdout.split('\r\n').length - 2);
    }
    // A commune's 2 boxes, a province's 8, the country's 16; every outcome present.
    assert.ok(counts[0]! > 0 && counts[0]! * 3 < counts[1]! && counts[1]! * 1.5 < counts[2]!, counts.join(' / '));
    const all = await runNoc(['events', 'export', '--db', url, ...range]);
    for (const outcome of ['finished', 'failed', 'skipped', 'started-without-end'])
      assert.match(all.stdout, new RegExp(`,${outcome},`));
    assert.match(all.stdout, /,preempted,,,,2,,-?\d/); // a resumed relay: two segments, a measured level
    assert.match(all.stdout, /,100,[a-z]*,cmd-\d+-\d+,\d,VN-KTTV-/); // an emergency, its command and CAP id
  },
);

test(
  'an upgrade: a later migration runs once on a database holding events, in every partition',
  { skip, timeout: 60_000 },
  async () => {
    const { migrate } = await import('../../noc/events-pg-schema.js');
    const url = freshDb();
    const now = Date.now();
    const a = await PgArchive.open(url, { migrate: true, now: () => now });
    const ev = (seq: number, ms: number) => ({
      device: 'u1',
      body: { epoch: 'E', seq, ts: new Date(ms).toISOString(), type: 'hw.fault' },
    });
    await a.write(
      batchOf([ev(1, now), ev(2, monthStart(now, -1) + 1000), ev(3, Date.parse('2101-01-01T00:00:00Z'))], now),
    );
    // Version 2 as a later noc would ship it: a column on every partition, filled from the body.
    const v2 = {
      version: SCHEMA_VERSION + 1,
      description: 'test: component column',
      sql: "ALTER TABLE events ADD COLUMN component text; UPDATE events SET component = body->>'type';",
    };
    const applied = await Promise.all([migrate(a.sql, [...MIGRATIONS, v2]), migrate(a.sql, [...MIGRATIONS, v2])]);
    assert.deepEqual(
      applied.map((x) => x.map((m) => m.version)).sort((p, q) => q.length - p.length),
      [[SCHEMA_VERSION + 1], []],
      'applied once, by one of the two',
    );
    await a.close();
    assert.equal(pg!.psql("SELECT count(*) FROM events WHERE component = 'hw.fault'", url).trim(), '3');
    assert.equal(
      pg!.psql(`SELECT count(*) FROM ${partitionName(monthStart(now, -1))} WHERE component IS NOT NULL`, url).trim(),
      '1',
    );
  },
);
