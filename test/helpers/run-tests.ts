// `npm test`: every file of test/integration, and the unit tests, the longest first,
// four at a time. `node --test FILE...` sorts its files by name, so a long file named late
// (ota-kill) started after most others and its tail was the run's; node:test's run()
// keeps the order given. Options as the CLI's: 10 min per file, force exit, the spec
// reporter.
//
// The unit files run in one process: a generated entry imports them all. Each file in a
// process of its own spent more CPU starting node and tsx than testing (measured: 117
// CPU-s and 60 s for the 92 files, against 26 CPU-s and 27 s in one process, 634 tests
// passing either way). A unit test has no process, broker or sleep to keep apart; one
// that leaks state into another is a bug the shared process shows. Run one file alone
// with `node --import tsx --test FILE`.
// Usage: node --import tsx test/helpers/run-tests.ts [FILE...] (no FILE: the whole suite).
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { builtDist } from './built.js';
import { tempDir } from './tmp.js';

const TEST = fileURLToPath(new URL('..', import.meta.url));

/**
 * Integration files by their time alone, longest first (measured on the 2-core machine,
 * issue 27); every other file follows in name order. A file missing here only runs later.
 */
const LONGEST_FIRST = [
  'integration/ota-kill.test.ts',
  'integration/ota.test.ts',
  'integration/repeat.test.ts',
  'integration/clock-bound.test.ts',
  'integration/cap-agents.test.ts',
  'integration/launcher-recovery.test.ts',
  'integration/clock.test.ts',
  'integration/noc-exporter-prometheus.test.ts',
  'integration/ota-delta.test.ts',
  'integration/schedules-play.test.ts',
  'integration/firmware-pty.test.ts',
  'integration/launcher.test.ts',
  'integration/mcu-agent.test.ts',
  'integration/mpg123-player.test.ts',
  'integration/gpio-board.test.ts',
  'integration/mcu-pty-playback.test.ts',
  'integration/noc-cap.test.ts',
];

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

function suite(): string[] {
  const integration = files('integration');
  const first = LONGEST_FIRST.filter((f) => integration.includes(f));
  return [
    ...first.map((f) => join(TEST, f)),
    unitBatch(),
    ...integration.filter((f) => !first.includes(f)).map((f) => join(TEST, f)),
  ];
}

const chosen = process.argv.length > 2 ? process.argv.slice(2) : suite();
// The built agent the files start (test/helpers/built.ts), once, before files running at once could each build it.
if (chosen.some((f) => f.includes('/integration/'))) builtDist(); // unit files never start a program
// LOA_TEST_JOBS: files at a time; 1 or 2 to time files alone. Default 4. Measured on
// the 2-core machine: 4 at a time 384 s, 6 at a time 330-341 s, 8 at a time 316-322 s.
// Each step up met more timing races per run. Each race was made deterministic when it
// was met, but a CI that fails lands nothing, so the default stays where they are rarest.
const jobs = Number(process.env.LOA_TEST_JOBS ?? 4);
const stream = run({ files: chosen, concurrency: jobs >= 1 ? jobs : 4, timeout: 600_000, forceExit: true });
stream.on('test:fail', () => (process.exitCode = 1));

stream.compose(new spec()).pipe(process.stdout);
