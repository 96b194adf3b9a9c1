// createTerminal (demo/terminal.ts), as the demo uses it: the log and the program's own text on
// one synchronous channel, so text written after a log line comes after it on stdout, even
// when a program writes much at once into a pipe (CI41/CI42: the demo's tour overtook the
// log line that triggered it, with pino's asynchronous default beside process.stdout).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';
import { exitWithin, outputClosed } from '../helpers/wait.js';

const LINES = 2000;
const LOG = JSON.stringify(join(REPO_ROOT, 'agent/log.ts'));
const TERMINAL = JSON.stringify(join(REPO_ROOT, 'demo/terminal.ts'));

/** The order in which a program's log lines (A) and its own text (B) reached the pipe. */
function orderOf(setup: string): Promise<string> {
  const code = `
    import { createLogger } from ${LOG};
    import { createTerminal } from ${TERMINAL};
    ${setup}
    const pad = 'x'.repeat(1000);
    for (let i = 0; i < ${LINES}; i++) { log.info({ pad }, 'A' + i); text.write('B' + i + '\\n'); }
  `;
  const proc = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (s: string) => (out += s));
  return Promise.all([
    exitWithin(proc, 60_000, () => out.slice(-2000)),
    outputClosed(proc, 60_000, 'the program'),
  ]).then(() =>
    out
      .split('\n')
      .map((l) => /(A\d+)\b|^(B\d+)$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => m[1] ?? m[2])
      .join(' '),
  );
}

const expected = Array.from({ length: LINES }, (_, i) => `A${i} B${i}`).join(' ');
/** Where two orders part, for a message that fits on a screen. */
const firstDifference = (got: string) => {
  const a = got.split(' ');
  const i = a.findIndex((w, k) => w !== expected.split(' ')[k]);
  return `first out of order at ${i}: ${a.slice(Math.max(0, i - 3), i + 4).join(' ')}`;
};

for (const pretty of [false, true]) {
  test(
    `the demo's terminal (${pretty ? 'pretty' : 'JSON'}): every log line is out before the text written after it`,
    { timeout: 120_000 },
    async () => {
      const got = await orderOf(`const { log, text } = createTerminal({ pretty: ${pretty} });`);
      assert.ok(got === expected, firstDifference(got));
    },
  );
}

// The check can fail: pino's asynchronous default beside process.stdout, what the demo had.
test('the asynchronous log beside process.stdout does not keep that order', { timeout: 120_000 }, async () => {
  const got = await orderOf(`const log = createLogger({ pretty: false }); const text = process.stdout;`);
  assert.ok(got !== expected, 'in order');
});
