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
// Usage: npm test [-- FILE...] (no FILE: the whole suite): test/helpers/test-tree.mjs
// compiles the checkout and runs this file, and the test files, compiled, with plain node.
// `node --import tsx test/helpers/run-tests.ts [FILE...]` runs them from the sources.
// LOA_TEST_CORES: the load the files running may add up to (default 1.8 of this
// machine's 2 cores; 0.5 runs about one file at a time, to time files alone).
// LOA_TEST_TIMES=FILE: write each file's start, wall and CPU seconds and its load there
// (tab-separated), to re-measure MEASURED.
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
/**
 * Run from the compiled tree (`npm test`: test/helpers/test-tree.mjs), where each .ts has
 * its .js beside it and the files run under plain node; else from the sources, under tsx.
 */
const COMPILED = import.meta.url.endsWith('.js');
/** What node runs for a test file named by its source. */
const runnable = (file: string): string => (COMPILED ? file.replace(/\.ts$/, '.js') : file);
const t0 = performance.now();

/**
 * The unit batch: 25-31 CPU-s over 41-49 s of wall in a whole run, a load of 0.53-0.63 in
 * the nine measured runs t43-t50 (it waits on files, SQLite and child processes too).
 * Counted as 1 until stop 41, which held back 0.4 of a core for its first 45 s.
 */
const UNIT_LOAD = 0.6;
/**
 * Each integration file's wall seconds and load: the cores it keeps busy, its CPU seconds
 * (the test process and every program it started) over its wall seconds. Measured on the
 * 2-core machine in a whole compiled run (LOA_TEST_TIMES, below: the runner reads each file's
 * process and its children's CPU from /proc). The longest start first; a file not listed
 * starts after them, in name order, counted as DEFAULT_LOAD. The loads were guesses until
 * stop 39 (0.1-0.3 for files that use 0.05-0.12): the budget filled with files waiting on
 * time, and the machine ran at 1.1-1.4 cores of 2 for the first half of the run.
 */
const MEASURED: Record<string, [wallS: number, load: number]> = {
  'integration/ota-kill.test.ts': [164, 0.41],
  'integration/repeat.test.ts': [130, 0.04],
  'integration/clock.test.ts': [103, 0.03],
  'integration/ota.test.ts': [80, 0.34],
  'integration/clock-bound.test.ts': [78, 0.04],
  'integration/cap-agents.test.ts': [77, 0.08],
  'integration/mcu-pty-playback.test.ts': [67, 0.04],
  'integration/volume.test.ts': [66, 0.1],
  'integration/live.test.ts': [60, 0.31],
  'integration/demo.test.ts': [59, 0.07],
  'integration/store-recovery.test.ts': [53, 0.1],
  'integration/noc-tour.test.ts': [49, 0.16],
  'integration/box-page.test.ts': [36, 0.2],
  'integration/mpg123-player.test.ts': [35, 0.1],
  'integration/noc-events-pg.test.ts': [33, 0.54],
  'integration/launcher-recovery.test.ts': [31, 0.52],
  'integration/mcu-agent.test.ts': [31, 0.1],
  'integration/noc-watch.test.ts': [29, 0.13],
  'integration/release-artifact.test.ts': [29, 0.94],
  'integration/launcher.test.ts': [28, 0.14],
  'integration/live-alsa.test.ts': [28, 0.33],
  'integration/ota-delta.test.ts': [27, 0.51],
  'integration/firmware-pty.test.ts': [25, 0.12],
  'integration/noc-exporter-prometheus.test.ts': [25, 0.15],
  'integration/provision-commissioning.test.ts': [25, 0.05],
  'integration/readme.test.ts': [24, 1.09],
  'integration/schedules-play.test.ts': [24, 0.13],
  'integration/sound-proof-pty.test.ts': [24, 0.1],
  'integration/noc-rollout.test.ts': [22, 0.27],
  'integration/noc-cap-fetch.test.ts': [21, 0.1],
  'integration/noc-exporter-limits.test.ts': [20, 0.68],
  'integration/media-limits.test.ts': [18, 0.05],
  'integration/presence.test.ts': [18, 0.25],
  'integration/noc-send.test.ts': [16, 0.36],
  'integration/provision-register.test.ts': [16, 0.18],
  'integration/studio.test.ts': [16, 0.55],
  'integration/noc-cap-feed.test.ts': [15, 0.39],
  'integration/gpio-board.test.ts': [14, 0.27],
  'integration/noc-archive-pg.test.ts': [14, 0.92],
  'integration/noc-cap.test.ts': [14, 0.91],
  'integration/commands-play.test.ts': [12, 0.12],
  'integration/noc-exporter-share.test.ts': [12, 0.08],
  'integration/provision-check.test.ts': [12, 0.3],
  'integration/provision-check-board.test.ts': [11, 0.52],
  'integration/intake-flood.test.ts': [10, 0.14],
  'integration/noc-publish.test.ts': [9, 0.87],
  'integration/launcher-probation.test.ts': [8, 0.43],
  'integration/outbox-delivery.test.ts': [8, 0.67],
  'integration/playback.test.ts': [8, 0.13],
  'integration/commands.test.ts': [6, 0.42],
  'integration/config-cli.test.ts': [6, 0.78],
  'integration/full-disk.test.ts': [6, 0.27],
  'integration/mcu-playback.test.ts': [6, 0.32],
  'integration/noc-alert-commands.test.ts': [6, 0.72],
  'integration/noc-events.test.ts': [6, 0.83],
  'integration/media-cache-store.test.ts': [5, 0.21],
  'integration/media-cache.test.ts': [5, 0.24],
  'integration/mqtt-link.test.ts': [5, 0.14],
  'integration/provision-init.test.ts': [5, 0.84],
  'integration/provision-show.test.ts': [5, 0.17],
  'integration/systemd-health.test.ts': [5, 0.52],
  'integration/systemd.test.ts': [5, 0.76],
  'integration/contract-v11.test.ts': [4, 0.39],
  'integration/tls.test.ts': [4, 0.55],
  'integration/gpio-sysfs.test.ts': [3, 0.91],
  'integration/lazy-modules.test.ts': [3, 0.52],
  'integration/secrets.test.ts': [3, 0.81],
  'integration/noc-grafana-pg.test.ts': [2, 0.64],
  'integration/schedules.test.ts': [1, 0.64],
};
const DEFAULT_LOAD = 0.5;
/**
 * Files that never run together. release-artifact.test.ts rebuilds the checkout's dist/ in
 * place (`npm run release`), and readme.test.ts runs `npx noc` from that dist/: a program
 * loaded while tsc rewrites it can read half a file.
 */
const APART: readonly (readonly string[])[] = [['integration/release-artifact.test.ts', 'integration/readme.test.ts']];
/**
 * Files whose tests time audio to ±5 ms at the speaker: while one runs, the files running
 * may load the machine this much at most. At 1.75 cores of 2 (stop 39, loads measured)
 * live.test.ts heard 4 clicks of 5 and live-alsa.test.ts 6 of 8, the agent 445 ms off the
 * session's clock; at 1.5 they still missed a click and a first click by 5.06 ms (t48).
 * At 1.3 (stop 41) live-alsa.test.ts still lost a click to an xrun the test did not make
 * (CI49: two xruns, 630 ms of underrun, beside ota-kill, ota-delta, noc-events-pg and
 * launcher-recovery, whose bursts the measured averages do not show). 1.0 leaves the two
 * files (0.31 + 0.38) about a third of a core of company; the same files passed in runs
 * at 1.55 (t44), so the load is one cause among others (see the closing note of stop 39).
 */
const HEADROOM: Readonly<Record<string, number>> = {
  'integration/live.test.ts': 1.0,
  'integration/live-alsa.test.ts': 1.0,
};

function files(d: string): string[] {
  return readdirSync(join(TEST, d))
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => `${d}/${f}`);
}

/**
 * One entry that imports every unit file (static imports: all are loaded before the first
 * test runs). An ES module (.mts, .mjs): a .ts outside the package would be CommonJS to tsx, its
 * imports require()s, and a class loaded both ways is two classes (instanceof fails).
 */
function unitBatch(): string {
  const entry = join(tempDir('unit-batch'), COMPILED ? 'unit.test.mjs' : 'unit.test.mts');
  writeFileSync(
    entry,
    files('unit')
      .map((f) => `import ${JSON.stringify(runnable(join(TEST, f)))};\n`)
      .join(''),
  );
  return entry;
}

interface Job {
  /** The test file (its source, .ts): its name in reports and MEASURED. */
  file: string;
  /** Its name under test/ (integration/x.test.ts). */
  name: string;
  /** What runs: the source, or its compiled .js. */
  run: string;
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
    name,
    run: runnable(file),
    load: integration ? (MEASURED[name]?.[1] ?? DEFAULT_LOAD) : UNIT_LOAD,
    needsBuild: integration && startsBuilt(file),
  };
}

/**
 * The unit batch first, then the integration files, the longest first. The unit batch
 * goes first because it is the heaviest job (a whole core): behind the long light files
 * it never fitted the budget while lighter ones slipped past it, and it ran alone at the
 * end of the run (stop 39: started at 248 s, 40 s with one core idle).
 */
function suite(): Job[] {
  const wall = (f: string): number => MEASURED[f]?.[0] ?? 0;
  // Stable: files measured at the same length, or not measured, keep name order.
  const integration = files('integration').sort((a, b) => wall(b) - wall(a));
  const unit = unitBatch();
  return [
    { file: unit, name: 'unit', run: unit, load: UNIT_LOAD, needsBuild: false },
    ...integration.map((f) => job(join(TEST, f))),
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

/**
 * Each file's CPU seconds so far, by its path: its process's own and its reaped children's
 * (/proc/PID/stat utime, stime, cutime, cstime), read every half second from the runner's
 * children while LOA_TEST_TIMES is set. A file's last half second is not counted.
 */
const cpuSeen = new Map<string, number>();
const TICKS = 100; // USER_HZ

function sampleCpu(): void {
  let pids: string[] = [];
  try {
    for (const task of readdirSync('/proc/self/task'))
      pids = pids.concat(readFileSync(`/proc/self/task/${task}/children`, 'utf8').split(' ').filter(Boolean));
  } catch {
    return; // not Linux: no CPU column
  }
  for (const pid of pids) {
    try {
      const file = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        .split('\0')
        .find((a) => /\.test\.m?[jt]s$/.test(a));
      if (!file) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const s = [11, 12, 13, 14].reduce((a, i) => a + Number(f[i]), 0) / TICKS;
      cpuSeen.set(resolve(file), Math.max(s, cpuSeen.get(resolve(file)) ?? 0));
    } catch {
      // it ended between the listing and the read
    }
  }
}

/** The tsc build of the programs the integration files start: one process, one core. */
const BUILD_LOAD = 1;

/**
 * Starts the jobs in order, each as soon as the loads running leave room for it (a
 * lighter one further down the queue may go first). Fewer files than the budget rounded up
 * (2 for 1.8) always take one more, whatever its load: at the end of a run the files left
 * are short and heavy (load 0.9-1.1), and one alone left a core idle. A file that starts a
 * built program waits for `build`; the unit batch and the other files run beside it. Files
 * of one APART group never run together, and while a file with HEADROOM runs, the loads
 * running stay within it.
 */
async function schedule(
  queue: Job[],
  cores: number,
  build: Promise<void> | undefined,
  done: (j: Job, o: Outcome) => void,
): Promise<void> {
  const running = new Set<Promise<void>>();
  const names = new Set<string>();
  let busy = 0;
  const limit = (j: Job): number =>
    Math.min(cores, HEADROOM[j.name] ?? Infinity, ...[...names].map((n) => HEADROOM[n] ?? Infinity));
  const apart = (j: Job): boolean => APART.some((g) => g.includes(j.name) && g.some((n) => names.has(n)));
  const least = Math.max(1, Math.ceil(cores));
  let built = !build;
  if (build) busy += BUILD_LOAD;
  const building = build?.then(() => {
    built = true;
    busy -= BUILD_LOAD;
  });
  while (queue.length > 0 || running.size > 0) {
    const i = queue.findIndex(
      (j) => (built || !j.needsBuild) && !apart(j) && (running.size < least || busy + j.load <= limit(j)),
    );
    if (i >= 0) {
      const [j] = queue.splice(i, 1) as [Job];
      busy += j.load;
      names.add(j.name);
      const p: Promise<void> = runFile(j.run).then((o) => {
        busy -= j.load;
        names.delete(j.name);
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
const sampler = process.env.LOA_TEST_TIMES ? setInterval(sampleCpu, 500) : undefined;
const failed: string[] = [];
await schedule(chosen, cores > 0 ? cores : 1.8, build, (j, o) => {
  process.stdout.write(o.report);
  totals.pass += o.pass;
  totals.fail += o.fail;
  totals.skip += o.skip;
  if (o.fail > 0) failed.push(`${relative(TEST, j.file)} (${o.fail})`);
  const cpu = cpuSeen.get(resolve(j.run)) ?? 0;
  times.push(
    `${relative(TEST, j.file)}\t${o.startS.toFixed(1)}\t${o.wallS.toFixed(1)}\t${cpu.toFixed(1)}\t${(cpu / o.wallS).toFixed(2)}`,
  );
});
// A failure's report scrolled away with the files that ended after it: name where it was.
if (failed.length > 0) process.stdout.write(`\n✖ failing files: ${failed.join(', ')}\n`);
process.stdout.write(
  `ℹ files ${totals.files}\nℹ tests ${totals.pass + totals.fail + totals.skip}\nℹ pass ${totals.pass}\n` +
    `ℹ fail ${totals.fail}\nℹ skipped ${totals.skip}\nℹ duration_ms ${(performance.now() - t0).toFixed(0)}\n`,
);
clearInterval(sampler);
if (process.env.LOA_TEST_TIMES) writeFileSync(process.env.LOA_TEST_TIMES, times.join('\n') + '\n');
process.exitCode = totals.fail > 0 ? 1 : 0;
