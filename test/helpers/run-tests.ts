// `npm test`: every file of test/integration, and the unit tests, the longest first, as
// many at a time as the machine's CPU allows. `node --test FILE...` sorts its files by
// name, so a long file named late (ota-kill) started after most others and its tail was
// the run's; here the order is ours. Options as the CLI's: 10 min per file, force exit,
// the spec reporter; each file's report is printed whole when it ends.
//
// Why not a fixed number of files at a time: most integration files wait on real time (a
// series that repeats every 5 s, a clock that has to drift) and use a tenth of a core
// while doing it, and a few keep a core busy. Four at a time left the 2-core machine
// idle a third of the run (384 s for 490 CPU-s); eight at a time saturated it, and a
// test under that load met deadlines it was never checked against. So each file has a
// load (the cores it keeps busy: its CPU seconds / wall seconds, measured, MEASURED below)
// and a file starts when the loads of the files running leave room for it.
//
// The unit files run in one process: a generated entry imports them all. Each file in a
// process of its own spent more CPU starting node and tsx than testing (measured: 117
// CPU-s and 60 s for the 92 files, against 26 CPU-s and 27 s in one process, 634 tests
// passing either way). A unit test has no process, broker or sleep to keep apart; one
// that leaks state into another is a bug the shared process shows. Run one file alone
// with `node --import tsx --test FILE`.
//
// Usage: node --import tsx test/helpers/run-tests.ts [FILE...] (no FILE: the whole suite).
// LOA_TEST_CORES: the load the files running may add up to (default 1.8 of this
// machine's 2 cores; 0.5 runs about one file at a time, to time files alone).
// LOA_TEST_TIMES=FILE: write each file's start and wall seconds there (tab-separated), to re-measure.
// LOA_TEST_PLAN=1: print the files in the order offered, with their loads, and run nothing.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { buildDist } from './built.js';
import { tempDir } from './tmp.js';

const TEST = fileURLToPath(new URL('..', import.meta.url));
const t0 = performance.now();

/** The unit batch keeps one core busy (one process, no waits). */
const UNIT_LOAD = 1;
/** …and takes about 30 s: it goes in the longest-first order by that. */
const UNIT_WALL_S = 30;
/**
 * Each integration file's wall seconds and load: the cores it keeps busy, its CPU seconds
 * (the test process and every program it started) over its wall seconds. Measured on the
 * 2-core machine, three files at a time (issue 27; LOA_TEST_TIMES and /proc/self/stat's
 * own and children's CPU at each file's exit). The longest start first; a file not listed
 * starts after them, in name order, counted as DEFAULT_LOAD.
 */
const MEASURED: Record<string, [wallS: number, load: number]> = {
  'integration/repeat.test.ts': [125, 0.1],
  'integration/ota-kill.test.ts': [124, 0.55],
  'integration/clock.test.ts': [96, 0.1],
  'integration/ota.test.ts': [71, 0.4],
  'integration/cap-agents.test.ts': [70, 0.1],
  'integration/clock-bound.test.ts': [63, 0.1],
  'integration/store-recovery.test.ts': [54, 0.2],
  'integration/noc-tour.test.ts': [48, 0.2],
  'integration/release-artifact.test.ts': [34, 0.9],
  'integration/live.test.ts': [35, 0.45],
  'integration/live-alsa.test.ts': [28, 0.4],
  'integration/mcu-pty-playback.test.ts': [45, 0.25],
  'integration/mcu-agent.test.ts': [27, 0.15],
  'integration/volume.test.ts': [27, 0.3],
  'integration/mpg123-player.test.ts': [26, 0.15],
  'integration/launcher-recovery.test.ts': [26, 0.65],
  'integration/noc-watch.test.ts': [25, 0.2],
  'integration/noc-rollout.test.ts': [24, 0.4],
  'integration/launcher.test.ts': [23, 0.15],
  'integration/firmware-pty.test.ts': [23, 0.15],
  'integration/noc-events-pg.test.ts': [24, 0.75],
  'integration/noc-exporter-limits.test.ts': [22, 0.6],
  'integration/schedules-play.test.ts': [20, 0.25],
  'integration/noc-cap-fetch.test.ts': [18, 0.2],
  'integration/studio.test.ts': [15, 0.95],
  'integration/ota-delta.test.ts': [18, 0.65],
  'integration/noc-exporter-prometheus.test.ts': [18, 0.25],
  'integration/media-limits.test.ts': [17, 0.1],
  'integration/presence.test.ts': [17, 0.45],
  'integration/provision-register.test.ts': [17, 0.3],
  'integration/noc-cap.test.ts': [14, 1.1],
  'integration/noc-send.test.ts': [14, 0.55],
  'integration/noc-publish.test.ts': [13, 0.8],
  'integration/provision-check.test.ts': [13, 0.4],
  'integration/gpio-board.test.ts': [12, 0.45],
  'integration/provision-check-board.test.ts': [12, 0.7],
  'integration/commands-play.test.ts': [11, 0.2],
  'integration/intake-flood.test.ts': [11, 0.8],
  'integration/noc-cap-feed.test.ts': [11, 0.65],
  'integration/noc-exporter-share.test.ts': [11, 0.2],
  'integration/launcher-probation.test.ts': [10, 0.45],
  'integration/secrets.test.ts': [10, 0.65],
  'integration/noc-archive-pg.test.ts': [10, 1.2],
  'integration/playback.test.ts': [9, 0.25],
  'integration/systemd.test.ts': [9, 0.8],
  'integration/noc-events.test.ts': [8, 0.85],
  'integration/config-cli.test.ts': [8, 0.95],
  'integration/full-disk.test.ts': [8, 0.45],
  'integration/mcu-playback.test.ts': [7, 0.4],
  'integration/systemd-health.test.ts': [7, 0.6],
  'integration/outbox-delivery.test.ts': [7, 1.1],
  'integration/tls.test.ts': [7, 0.8],
  'integration/commands.test.ts': [7, 0.65],
  'integration/provision-init.test.ts': [6, 0.8],
  'integration/lazy-modules.test.ts': [6, 0.65],
  'integration/contract-v11.test.ts': [6, 0.5],
  'integration/mqtt-link.test.ts': [5, 0.25],
  'integration/noc-grafana-pg.test.ts': [2, 1.2],
  'integration/media-cache-store.test.ts': [5, 0.35],
  'integration/noc-alert-commands.test.ts': [5, 1.1],
  'integration/gpio-sysfs.test.ts': [4, 0.8],
  'integration/schedules.test.ts': [4, 0.65],
  'integration/media-cache.test.ts': [4, 0.45],
  // Stop 38's files: their wall seconds from a full run under a load of about 5 (scaled by
  // 0.8), their loads estimated from what they start (not yet measured as the rest were).
  'integration/demo.test.ts': [46, 0.3],
  'integration/box-page.test.ts': [24, 0.6],
  'integration/provision-commissioning.test.ts': [19, 0.3],
  'integration/sound-proof-pty.test.ts': [17, 0.3],
  'integration/readme.test.ts': [16, 0.6],
  'integration/provision-show.test.ts': [5, 0.6],
};
const DEFAULT_LOAD = 0.5;

function files(d: string): string[] {
  return readdirSync(join(TEST, d))
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => `${d}/${f}`);
}

/**
 * One entry that imports every unit file (static imports: all are loaded before the first
 * test runs). An ES module (.mts): a .ts outside the package would be CommonJS to tsx, its
 * imports require()s, and a class loaded both ways is two classes (instanceof fails).
 */
function unitBatch(): string {
  const entry = join(tempDir('unit-batch'), 'unit.test.mts');
  writeFileSync(
    entry,
    files('unit')
      .map((f) => `import ${JSON.stringify(join(TEST, f))};\n`)
      .join(''),
  );
  return entry;
}

interface Job {
  file: string;
  load: number;
  /** It starts a built program: it waits for the build. */
  needsBuild: boolean;
}

const BUILT = join(TEST, 'helpers/built.ts');
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)'(\.{1,2}\/[^']+)'/g;

/**
 * Does `file` import test/helpers/built.ts, directly or through what it imports? Only
 * those start a built program (the others test in-process or start mpg123, socat, a shell),
 * and they alone wait for the build; the others run beside it.
 */
function startsBuilt(file: string, seen = new Set<string>()): boolean {
  if (file === BUILT) return true;
  if (seen.has(file) || !existsSync(file)) return false;
  seen.add(file);
  for (const m of readFileSync(file, 'utf8').matchAll(SPECIFIER))
    if (startsBuilt(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')), seen)) return true;
  return false;
}

function job(file: string): Job {
  const name = relative(TEST, file);
  const integration = name.startsWith('integration/');
  return {
    file,
    load: integration ? (MEASURED[name]?.[1] ?? DEFAULT_LOAD) : UNIT_LOAD,
    needsBuild: integration && startsBuilt(file),
  };
}

function suite(): Job[] {
  const wall = (f: string): number => MEASURED[f]?.[0] ?? 0;
  // Stable: files measured at the same length, or not measured, keep name order.
  const integration = files('integration').sort((a, b) => wall(b) - wall(a));
  const cut = integration.findIndex((f) => wall(f) < UNIT_WALL_S);
  const at = cut < 0 ? integration.length : cut;
  return [
    ...integration.slice(0, at).map((f) => job(join(TEST, f))),
    { file: unitBatch(), load: UNIT_LOAD, needsBuild: false },
    ...integration.slice(at).map((f) => job(join(TEST, f))),
  ];
}

interface Outcome {
  report: string;
  pass: number;
  fail: number;
  skip: number;
  startS: number;
  wallS: number;
}

/** The runner's own totals ("ℹ tests 12" …), printed once for the whole run instead. */
const TOTALS = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /;

/** One file in a process of its own (node:test's run()), its report kept until it ends. */
async function runFile(file: string): Promise<Outcome> {
  const started = performance.now();
  const o: Outcome = { report: '', pass: 0, fail: 0, skip: 0, startS: (started - t0) / 1000, wallS: 0 };
  const events = run({ files: [file], timeout: 600_000, forceExit: true });
  async function* counted(): AsyncGenerator<{ type: string; data: Record<string, unknown> }> {
    for await (const ev of events as AsyncIterable<{ type: string; data: Record<string, unknown> }>) {
      const suite = (ev.data.details as { type?: string } | undefined)?.type === 'suite';
      if (ev.type === 'test:pass' && !suite) {
        if (ev.data.skip || ev.data.todo) o.skip++;
        else o.pass++;
      }
      if (ev.type === 'test:fail' && !suite) o.fail++;
      if (ev.type === 'test:diagnostic' && ev.data.nesting === 0 && TOTALS.test(String(ev.data.message))) continue;
      yield ev;
    }
  }
  const chunks: string[] = [];
  for await (const chunk of Readable.from(counted()).pipe(new spec())) chunks.push(String(chunk));
  o.report = chunks.join('');
  o.wallS = (performance.now() - started) / 1000;
  return o;
}

/** The tsc build of the programs the integration files start: one process, one core. */
const BUILD_LOAD = 1;

/**
 * Starts the jobs in order, each as soon as the loads running leave room for it (a
 * lighter one further down the queue may go first). Fewer files than the budget rounded up
 * (2 for 1.8) always take one more, whatever its load: at the end of a run the files left
 * are short and heavy (load 0.9-1.1), and one alone left a core idle. A file that starts a
 * built program waits for `build`; the unit batch and the other files run beside it.
 */
async function schedule(
  queue: Job[],
  cores: number,
  build: Promise<void> | undefined,
  done: (j: Job, o: Outcome) => void,
): Promise<void> {
  const running = new Set<Promise<void>>();
  let busy = 0;
  const least = Math.max(1, Math.ceil(cores));
  let built = !build;
  if (build) busy += BUILD_LOAD;
  const building = build?.then(() => {
    built = true;
    busy -= BUILD_LOAD;
  });
  while (queue.length > 0 || running.size > 0) {
    const i = queue.findIndex((j) => (built || !j.needsBuild) && (running.size < least || busy + j.load <= cores));
    if (i >= 0) {
      const [j] = queue.splice(i, 1) as [Job];
      busy += j.load;
      const p: Promise<void> = runFile(j.file).then((o) => {
        busy -= j.load;
        running.delete(p);
        done(j, o);
      });
      running.add(p);
      continue;
    }
    await Promise.race([...running, ...(built || !building ? [] : [building])]);
  }
}

const chosen = process.argv.length > 2 ? process.argv.slice(2).map((f) => job(resolve(f))) : suite();
if (process.env.LOA_TEST_PLAN) {
  for (const j of chosen)
    process.stdout.write(`${relative(TEST, j.file)}\tload ${j.load}${j.needsBuild ? '\tafter the build' : ''}\n`);
  process.exit(0);
}
// The programs the integration files start (test/helpers/built.ts), built once, before
// files running at once could each build them.
const build = chosen.some((j) => j.needsBuild)
  ? buildDist().then((dir) => {
      process.env.LOA_TEST_DIST = dir; // the files started after this inherit it (test/helpers/built.ts)
    })
  : undefined;
// Under test/year-ahead.sh each file's process becomes its own libfaketime root: a lock
// that a killed process left taken then stops one file (its 10 min limit), not the run.
delete process.env.FAKETIME_SHARED;
const cores = Number(process.env.LOA_TEST_CORES ?? 1.8);
const totals = { files: chosen.length, pass: 0, fail: 0, skip: 0 };
const times: string[] = [];
const failed: string[] = [];
await schedule(chosen, cores > 0 ? cores : 1.8, build, (j, o) => {
  process.stdout.write(o.report);
  totals.pass += o.pass;
  totals.fail += o.fail;
  totals.skip += o.skip;
  if (o.fail > 0) failed.push(`${relative(TEST, j.file)} (${o.fail})`);
  times.push(`${relative(TEST, j.file)}\t${o.startS.toFixed(1)}\t${o.wallS.toFixed(1)}`);
});
// A failure's report scrolled away with the files that ended after it: name where it was.
if (failed.length > 0) process.stdout.write(`\n✖ failing files: ${failed.join(', ')}\n`);
process.stdout.write(
  `ℹ files ${totals.files}\nℹ tests ${totals.pass + totals.fail + totals.skip}\nℹ pass ${totals.pass}\n` +
    `ℹ fail ${totals.fail}\nℹ skipped ${totals.skip}\nℹ duration_ms ${(performance.now() - t0).toFixed(0)}\n`,
);
if (process.env.LOA_TEST_TIMES) writeFileSync(process.env.LOA_TEST_TIMES, times.join('\n') + '\n');
process.exitCode = totals.fail > 0 ? 1 : 0;
