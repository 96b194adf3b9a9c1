// `npm test`: every file of test/unit and test/integration, four at a time, the longest
// first. `node --test FILE...` sorts its files by name, so a long file named late (ota-kill)
// started after most others and its tail was the run's; node:test's run() keeps the
// order given. Options as the CLI's: 10 min per file, force exit, the spec reporter.
// Usage: node --import tsx test/helpers/run-tests.ts [FILE...] (no FILE: the whole suite).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

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

function suite(): string[] {
  const all = ['integration', 'unit'].flatMap((d) =>
    readdirSync(join(TEST, d))
      .filter((f) => f.endsWith('.test.ts'))
      .sort()
      .map((f) => `${d}/${f}`),
  );
  const first = LONGEST_FIRST.filter((f) => all.includes(f));
  return [...first, ...all.filter((f) => !first.includes(f))].map((f) => join(TEST, f));
}

const files = process.argv.length > 2 ? process.argv.slice(2) : suite();
const stream = run({ files, concurrency: 4, timeout: 600_000, forceExit: true });
stream.on('test:fail', () => (process.exitCode = 1));
stream.compose(new spec()).pipe(process.stdout);
