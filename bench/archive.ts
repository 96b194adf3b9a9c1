// `npm run bench -- archive` (issue 31): the proof-of-play archive on PostgreSQL (a durable
// throwaway cluster, test/helpers/postgres.ts) with the built noc, each row beside an
// anchor measured in the same run:
// - ingest: N events queued in the archiver's persistent session on a real Mosquitto, then
//   the archiver started: events/s from its subscription to the last one committed and
//   acknowledged; its peak RSS meanwhile. Anchor: COPY of the same rows through psql.
// - export: one province's month (a generated fleet, every outcome) and the country's, by
//   `noc events export`: time and peak RSS (GNU time). Anchor: psql \copy of the same
//   events, ordered as the export reads them.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mqtt } from '../cli-kit/mqtt-lib.js';
import { intake } from '../noc/archive-intake.js';
import { PgArchive } from '../noc/events-pg.js';
import { createPartition, monthStart } from '../noc/events-pg-schema.js';
import { addDays, startOfDay } from '../noc/tz.js';
import { startBroker, type TestBroker } from '../test/helpers/broker.js';
import { REPO_ROOT } from '../test/helpers/paths.js';
import { postgresMissing, PSQL, startPostgres, type TestPostgres } from '../test/helpers/postgres.js';
import { fleetMessages, type FleetSpec } from '../test/helpers/pop-fleet.js';
import { tempDir } from '../test/helpers/tmp.js';
import { onLines } from '../test/helpers/wait.js';
import { batchOf } from '../test/contract/archive.contract.js';
import type { EventRow } from '../noc/archive-port.js';
import type { Add } from './agent-proc.js';
import { size } from './smoke.js';

const ROOT = 'loa/v1';
const COLUMNS = 'device_id, epoch, seq, at, ts, type, occurrence, item_id, priority, received_at, body';
const GOAL = 1400;
const HEAP_MB = 32;
const INGEST_HEAP_MB = 64;

type Msg = { topic: string; payload: Buffer };
/** The built noc, run as the centre runs it (plain node: the agent's memory flags are for a Pi). */
const NOC_DIST = join(REPO_ROOT, 'dist/noc/cli.js');

interface Stats {
  stored: number;
  duplicate: number;
  held: number;
  batches: number;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** A COPY text-format line of an event row (tabs, newlines and backslashes escaped). */
function copyLine(e: EventRow): string {
  const esc = (v: string | number | null) =>
    v === null
      ? '\\N'
      : String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  const t = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return (
    [
      e.deviceId,
      e.epoch,
      e.seq,
      t(e.atMs),
      t(e.tsMs),
      e.type,
      t(e.occurrenceMs),
      e.itemId,
      e.priority,
      t(e.receivedAt),
      e.raw,
    ]
      .map(esc)
      .join('\t') + '\n'
  );
}

/** `/usr/bin/time -f '%e %M' cmd...`: wall seconds and peak RSS (MB) of a program. */
function timed(cmd: string[]): { s: number; mb: number; stderr: string } {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M', ...cmd], { encoding: 'utf8', cwd: REPO_ROOT });
  const m = /TIME ([\d.]+) (\d+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m)
    throw new Error(`${cmd.slice(0, 3).join(' ')} failed (${r.status}): ${r.stderr.slice(-800)}`);
  return { s: Number(m[1]), mb: Number(m[2]) / 1024, stderr: r.stderr };
}

function database(pg: TestPostgres, name: string): string {
  pg.psql(`CREATE DATABASE ${name}`);
  return pg.url.replace(/\/loa$/, `/${name}`);
}

/** Writes the rows as a COPY file and makes the partitions their months need. */
async function copyFile(url: string, rows: EventRow[], file: string): Promise<void> {
  const a = await PgArchive.open(url, { migrate: true });
  for (const m of new Set(rows.map((e) => monthStart(e.atMs)))) await createPartition(a.sql, m);
  await a.close();
  const out = createWriteStream(file);
  for (const e of rows) if (!out.write(copyLine(e))) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((r) => out.end(() => r()));
}

function peakRss(pid: number, into: { mb: number }): NodeJS.Timeout {
  return setInterval(() => {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
      into.mb = Math.max(into.mb, kb / 1024);
    } catch {
      /* exited */
    }
  }, 50);
}

interface Drain {
  rate: number;
  rssMb: number;
  held: number;
  perBatch: number;
}

/** Queues `msgs` in the archiver's session while it is stopped, then times its drain. */
async function drain(broker: TestBroker, url: string, msgs: Msg[], nodeFlags: string[]): Promise<Drain> {
  const args = ['events', '--broker', broker.url, '--db', url, '--client-id', 'bench-archive', '--mqtt-version', '5'];
  const run = (extra: string[] = []) =>
    spawn(process.execPath, [...nodeFlags, NOC_DIST, ...args, ...extra], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  const collecting = (p: ReturnType<typeof run>, onStats?: (s: Stats) => void) =>
    new Promise<number>((resolve, reject) => {
      p.once('exit', (code) => reject(new Error(`noc events exited ${code}`)));
      onLines(p.stderr!, (line) => {
        if (line.includes('collecting')) resolve(performance.now());
        if (onStats && line.startsWith('{"stats"')) onStats(JSON.parse(line) as Stats);
      });
    });
  // The session (and the schema) first; then the events wait in the session.
  const first = run();
  await collecting(first);
  first.kill('SIGINT');
  await new Promise((r) => first.once('exit', r));
  const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-archive-pub' });
  for (let i = 0; i < msgs.length; i += 1000)
    await Promise.all(msgs.slice(i, i + 1000).map((m) => pub.publishAsync(m.topic, m.payload, { qos: 1 })));
  await pub.endAsync();
  const rss = { mb: 0 };
  let done: () => void = () => {};
  const all = new Promise<number>((r) => (done = () => r(performance.now())));
  const p = run(['--stats', '0.1']);
  const sampler = peakRss(p.pid!, rss);
  let held = 0;
  let last: Stats | undefined;
  const t0 = await collecting(p, (s) => {
    held = Math.max(held, s.held);
    last = s;
    if (s.stored + s.duplicate >= msgs.length) done();
  });
  const t1 = await Promise.race([
    all,
    new Promise<number>((_, j) => setTimeout(() => j(new Error('ingest: no end in 300 s')), 300_000)),
  ]);
  clearInterval(sampler);
  p.kill('SIGINT');
  await new Promise((r) => p.once('exit', r));
  return {
    rate: msgs.length / ((t1 - t0) / 1000),
    rssMb: rss.mb,
    held,
    perBatch: msgs.length / Math.max(1, last?.batches ?? 1),
  };
}

async function benchIngest(add: Add, broker: TestBroker, pg: TestPostgres): Promise<void> {
  const n = size(60_000, 2_000, 'BENCH_ARCHIVE_EVENTS');
  const spec: FleetSpec = {
    provinces: 1,
    districts: 1,
    communes: 10,
    boxes: 10,
    days: 31,
    playsPerDay: 45,
    startMs: monthStart(Date.now(), -1),
  };
  const msgs: Msg[] = [];
  for (const m of fleetMessages(spec)) {
    if (m.leaf !== 'events') continue;
    msgs.push({ topic: `${ROOT}/d/${m.device}/events`, payload: Buffer.from(JSON.stringify(m.body)) });
    if (msgs.length === n) break;
  }
  const url = database(pg, 'ingest');
  const d = await drain(broker, url, msgs, []);
  add(
    `archive: ingest, ack after commit (${fmt(n)} events, PostgreSQL durable)`,
    `${fmt(d.rate)} events/s`,
    `>= ${fmt(GOAL)} events/s`,
    d.rate >= GOAL,
  );
  // The anchor: the same rows by COPY, into a database of the same schema and partitions.
  const rows = batchOf([], 0).events;
  for (const m of msgs) {
    const r = intake(ROOT, m.topic, m.payload, Date.now());
    if (r.kind === 'event') rows.push(r.row);
  }
  const anchorUrl = database(pg, 'ingest_copy');
  const file = join(tempDir('bench-archive'), 'ingest.copy');
  await copyFile(anchorUrl, rows, file);
  const c = timed([PSQL, '-X', '-q', '-d', anchorUrl, '-c', `\\copy events (${COLUMNS}) FROM '${file}'`]);
  add('archive: anchor, psql COPY of the same rows', `${fmt(rows.length / c.s)} events/s`);
  rmSync(file);
  add(
    `archive: noc events peak RSS while ingesting (at most ${fmt(d.held)} messages held, ${fmt(d.perBatch)} per batch)`,
    `${d.rssMb.toFixed(0)} MB`,
  );
  // The same again (other boxes' ids: new events) under a heap cap: what it needs, not what V8 lets grow.
  const again = msgs.map((m) => ({ ...m, topic: m.topic.replace(`${ROOT}/d/`, `${ROOT}/d/x`) }));
  const capped = await drain(broker, url, again, [`--max-old-space-size=${INGEST_HEAP_MB}`]);
  add(
    `archive: the same under a ${INGEST_HEAP_MB} MB heap cap (--max-old-space-size)`,
    `${fmt(capped.rate)} events/s, peak RSS ${capped.rssMb.toFixed(0)} MB`,
  );
}

async function benchExport(add: Add, pg: TestPostgres): Promise<void> {
  // Last month, whole (dates from the run's clock), in the export's default zone.
  const start = monthStart(Date.now(), -1);
  const days = Math.round((monthStart(start, 1) - start) / 86_400_000);
  const spec: FleetSpec = {
    provinces: size(4, 2),
    districts: size(5, 1),
    communes: size(5, 2),
    boxes: 1,
    days: size(days, 3),
    playsPerDay: size(45, 10),
    startMs: start,
  };
  const url = database(pg, 'export');
  const rows: EventRow[] = [];
  const births: Parameters<typeof batchOf>[0] = [];
  for (const m of fleetMessages(spec)) {
    if (m.leaf === 'status') births.push(m);
    else {
      const r = intake(ROOT, `${ROOT}/d/${m.device}/events`, Buffer.from(JSON.stringify(m.body)), start);
      if (r.kind === 'event') rows.push(r.row);
    }
  }
  const file = join(tempDir('bench-archive'), 'month.copy');
  await copyFile(url, rows, file);
  const load = timed([PSQL, '-X', '-q', '-d', url, '-c', `\\copy events (${COLUMNS}) FROM '${file}'`]);
  rmSync(file);
  const a = await PgArchive.open(url);
  await a.write(batchOf(births, start));
  await a.close();
  pg.psql('VACUUM ANALYZE', url);
  process.stderr.write(
    `  (loaded ${fmt(rows.length)} events of ${births.length} boxes by COPY in ${load.s.toFixed(1)} s)\n`,
  );
  const from = new Date(start).toISOString().slice(0, 10);
  const to = addDays(from, spec.days - 1);
  const out = join(tempDir('bench-archive'), 'pop.csv');
  // Under a 32 MB old-space cap: an export that held the range in memory (~0.4 GB of
  // objects for the country) would die here. Without it V8 lets the heap grow lazily with
  // the garbage (measured: 140 MB for the province, 183 MB for the country; 122 and 123 MB
  // with the cap).
  const exportOf = (group: string[]) =>
    timed([
      process.execPath,
      `--max-old-space-size=${HEAP_MB}`,
      NOC_DIST,
      'events',
      'export',
      '--db',
      url,
      '--from',
      from,
      '--to',
      to,
      ...group,
      '--out',
      out,
    ]);
  const occurrences = (s: string) => /(\d+) occurrences/.exec(s)?.[1] ?? '?';
  const province = exportOf(['--group', 'p01']);
  const provinceEvents = Number(
    pg.psql(
      `SELECT count(*) FROM events WHERE device_id = ANY(ARRAY(SELECT device_id FROM births WHERE groups @> '{p01}'))`,
      url,
    ),
  );
  add(
    `archive: export one province's month (${occurrences(province.stderr)} rows from ${fmt(provinceEvents)} events, heap cap ${HEAP_MB} MB)`,
    `${province.s.toFixed(2)} s, peak RSS ${province.mb.toFixed(0)} MB`,
  );
  const tz = 'Asia/Ho_Chi_Minh';
  const [f, t] = [new Date(startOfDay(from, tz)).toISOString(), new Date(startOfDay(addDays(to, 1), tz)).toISOString()];
  const anchor = timed([
    PSQL,
    '-X',
    '-q',
    '-d',
    url,
    '-c',
    `\\copy (SELECT device_id, epoch, seq, body FROM events WHERE at >= '${f}' AND at < '${t}' AND occurrence >= '${f}' AND occurrence < '${t}' AND device_id = ANY(ARRAY(SELECT device_id FROM births WHERE groups @> '{p01}')) ORDER BY device_id, epoch, seq) TO '${out}.anchor' WITH CSV`,
  ]);
  add(
    `archive: anchor, psql \\copy of the same events`,
    `${anchor.s.toFixed(2)} s, peak RSS ${anchor.mb.toFixed(0)} MB`,
  );
  const country = exportOf([]);
  add(
    `archive: export the country's month (${occurrences(country.stderr)} rows from ${fmt(rows.length)} events, heap cap ${HEAP_MB} MB)`,
    `${country.s.toFixed(2)} s, peak RSS ${country.mb.toFixed(0)} MB`,
    `done under the ${HEAP_MB} MB heap cap (streams)`,
    true, // timed() throws when the export fails (out of memory included)
  );
}

export async function benchArchive(add: Add): Promise<void> {
  const missing = postgresMissing();
  if (missing) throw new Error(missing);
  const broker = await startBroker();
  const pg = await startPostgres({ durable: true });
  try {
    await benchIngest(add, broker, pg);
    await benchExport(add, pg);
  } finally {
    await pg.close();
    await broker.close();
  }
}
