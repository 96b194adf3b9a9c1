// `npm run bench`: the numbers we chase, printed as one table. Runs against a real
// Mosquitto (from PATH) on loopback. BENCH_IDLE_S shortens the 60 s idle window;
// BENCH_SMOKE=1 (`npm run bench:smoke`) runs every section briefly (bench/smoke.ts).
// The sections live in the modules imported below (the agent's own numbers: agent-basics.ts).
import { startBroker, type TestBroker } from '../test/helpers/broker.js';
import { IDLE_S, benchDrain, benchIdle, benchOutboxInserts, benchStartup } from './agent-basics.js';
import { benchScheduling, benchVerify } from './scheduling.js';
import { benchMedia } from './media.js';
import { benchPlayer } from './player.js';
import { benchPlayback } from './playback.js';
import { benchBridge } from './firmware.js';
import { benchEmergency } from './commands.js';
import { benchFleet } from './fleet.js';
import { benchExporter } from './exporter.js';
import { benchPlanning } from './planning.js';
import { benchFlood } from './flood.js';
import { benchStore } from './store.js';
import { benchMemory, benchWear } from './lean.js';
import { benchOta } from './ota.js';
import { benchCapFeed, benchCapReader } from './cap-reader.js';
import { requireDist } from './agent-proc.js';
import { benchLive } from './live.js';
import { benchArchive } from './archive.js';
import { SMOKE } from './smoke.js';

interface Row {
  metric: string;
  value: string;
  target: string;
  ok?: boolean;
}
const rows: Row[] = [];

function add(metric: string, value: string, target = '', ok?: boolean): void {
  rows.push({ metric, value, target, ...(ok === undefined ? {} : { ok }) });
  process.stderr.write(`  ${metric}: ${value}\n`);
}

/** In the order they run. `npm run bench -- scheduling verify` runs only those sections. */
const SECTIONS = [
  'scheduling',
  'verify',
  'player',
  'playback',
  'firmware',
  'outbox',
  'media',
  'drain',
  'emergency',
  'startup',
  'idle',
  'fleet',
  'exporter',
  'flood',
  'planning',
  'store',
  'memory',
  'wear',
  'ota',
  'cap-reader',
  'cap-feed',
  'live',
  'archive',
];
const only = process.argv.slice(2);
const want = (section: string) => only.length === 0 || only.includes(section);
/** Sections that threw: the others still run, the table still prints, the exit code says it. */
const failed: string[] = [];

/** One section: skipped unless wanted; its error is reported under its name. */
async function section(name: string, run: () => Promise<void> | void, needs?: 'dist'): Promise<void> {
  if (!SECTIONS.includes(name)) throw new Error(`section "${name}" is not listed in SECTIONS`);
  if (!want(name)) return;
  const t0 = performance.now();
  process.stderr.write(`[${name}]\n`);
  try {
    if (needs === 'dist') requireDist();
    await run();
  } catch (err) {
    failed.push(name);
    process.stderr.write(
      `bench section "${name}" failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
  }
  process.stderr.write(`[${name}] ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

async function main(): Promise<void> {
  // A misspelt name would otherwise run nothing and pass.
  const unknown = only.filter((s) => !SECTIONS.includes(s));
  if (unknown.length > 0)
    throw new Error(`unknown bench section ${unknown.join(', ')}; the sections: ${SECTIONS.join(' ')}`);
  process.stderr.write(
    `loa bench (${process.version}, idle window ${IDLE_S} s${SMOKE ? '; smoke run: few iterations, numbers not meaningful' : ''})\n`,
  );
  // Lateness first, while nothing else runs in this process.
  await section('scheduling', () => benchScheduling(add));
  await section('verify', () => benchVerify(add));
  await section('player', () => benchPlayer(add));
  await section('playback', () => benchPlayback(add));
  await section('firmware', () => benchBridge(add));
  await section('outbox', () => benchOutboxInserts(add));
  await section('media', () => benchMedia(add));
  // drain, emergency, startup and idle share one persistent broker, started for the first of them.
  let persistent: TestBroker | undefined;
  const shared = async () => (persistent ??= await startBroker({ persistent: true }));
  try {
    await section('drain', async () => benchDrain(add, await shared()));
    await section('emergency', async () => benchEmergency(add, await shared()), 'dist');
    await section(
      'startup',
      async () => {
        await benchStartup(add, await shared(), 'dist');
        await benchStartup(add, await shared(), 'tsx');
      },
      'dist',
    );
    await section('idle', async () => benchIdle(add, await shared()), 'dist');
  } finally {
    await persistent?.close();
  }
  await section('fleet', () => benchFleet(add));
  // Issue [7/8]: noc exporter memory and scrape time at 10,000 and 50,000 boxes.
  await section('exporter', () => benchExporter(add), 'dist');
  // Issue [1/8] "The warning gets through": attacks on the built agent, each next to its anchor.
  await section('flood', () => benchFlood(add), 'dist');
  await section('planning', () => benchPlanning(add), 'dist');
  await section('store', () => benchStore(add), 'dist');
  // Issue [4/8]: memory near the floor, SD-card wear; each next to the bare mqtt.js+pino process.
  await section('memory', () => benchMemory(add), 'dist');
  await section('wear', () => benchWear(add), 'dist');
  // Issue [5/8]: an over-the-air update, next to curl, tar and a bare node.
  await section('ota', () => benchOta(add));
  await section('cap-reader', () => benchCapReader(add));
  await section('cap-feed', () => benchCapFeed(add));
  // Issue [5/8] (the live round): a live session to three boxes, the codec and the wire.
  await section('live', () => benchLive(add), 'dist');
  // Issue [8/8]: the proof-of-play archive on PostgreSQL, ingest and export beside psql's COPY.
  await section('archive', () => benchArchive(add), 'dist');
  printTable();
  if (failed.length > 0)
    throw new Error(
      `bench section${failed.length > 1 ? 's' : ''} failed: ${failed.join(', ')} (each error above, under "bench section ... failed")`,
    );
}

function printTable(): void {
  const head: Row = { metric: 'metric', value: 'value', target: 'target' };
  const all = [head, ...rows];
  const w0 = Math.max(...all.map((r) => r.metric.length));
  const w1 = Math.max(...all.map((r) => r.value.length));
  const w2 = Math.max(...all.map((r) => r.target.length));
  const line = (r: Row, mark: string) =>
    `| ${r.metric.padEnd(w0)} | ${r.value.padEnd(w1)} | ${r.target.padEnd(w2)} | ${mark.padEnd(4)} |`;
  console.log(line(head, 'ok'));
  console.log(`|${'-'.repeat(w0 + 2)}|${'-'.repeat(w1 + 2)}|${'-'.repeat(w2 + 2)}|------|`);
  // A smoke run's windows are too short to judge a target: its marks say so instead.
  for (const r of rows) console.log(line(r, r.ok === undefined ? '' : SMOKE ? 'n/a' : r.ok ? 'yes' : 'NO'));
  if (SMOKE)
    console.log(
      '(smoke run, BENCH_SMOKE=1: a few iterations each, the numbers are not meaningful and no target is judged)',
    );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
