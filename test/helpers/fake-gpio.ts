// Fakes of the two Linux GPIO interfaces, for machines without GPIO hardware:
// - a sysfs tree (`<root>/class/gpio/...`) with gpiochips and, optionally, exported lines;
// - Debian's libgpiod 1.6 tools (gpioset, gpioget, gpiodetect) as shell scripts that log
//   their argv and pid. The fake gpioset behaves like the real one where it matters: it
//   holds "the lines" (a flock) until its stdin ends or it is signalled, and a second
//   gpioset started meanwhile fails with the kernel's EBUSY message.
// - a runner that puts a fake tree at /sys/class inside a private mount namespace, since
//   onoff hard-codes /sys/class/gpio.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

export interface FakeChip {
  label: string;
  base: number;
  ngpio: number;
}

/** Builds `<sysRoot>/class/gpio` with `gpiochip<base>/{label,base,ngpio}`, export/unexport files and the `exported` lines. */
export function buildSysfsTree(sysRoot: string, chips: FakeChip[], exported: number[] = []): string {
  const gpio = join(sysRoot, 'class/gpio');
  mkdirSync(gpio, { recursive: true });
  for (const c of chips) {
    const d = join(gpio, `gpiochip${c.base}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'label'), `${c.label}\n`);
    writeFileSync(join(d, 'base'), `${c.base}\n`);
    writeFileSync(join(d, 'ngpio'), `${c.ngpio}\n`);
  }
  writeFileSync(join(gpio, 'export'), '');
  writeFileSync(join(gpio, 'unexport'), '');
  for (const n of exported) {
    const d = join(gpio, `gpio${n}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'direction'), 'in\n');
    writeFileSync(join(d, 'value'), '0\n');
    writeFileSync(join(d, 'active_low'), '0\n');
    writeFileSync(join(d, 'edge'), 'none\n');
  }
  return gpio;
}

/** What a fake sysfs line holds now; `value` is its first character, as the kernel reads it. */
export function readSysfsGpio(gpioDir: string, n: number): { direction: string; value: string; activeLow: string } {
  const read = (f: string) => readFileSync(join(gpioDir, `gpio${n}`, f), 'utf8');
  return {
    direction: read('direction').trim(),
    value: read('value').slice(0, 1),
    activeLow: read('active_low').slice(0, 1),
  };
}

export interface ToolCall {
  pid: number;
  event: 'start' | 'exit' | 'busy' | 'fail';
  tool: string;
  args: string[];
}

export interface FakeGpiod {
  binDir: string;
  /** PATH with the fakes first. */
  path: string;
  calls(): ToolCall[];
  /** Command lines of the gpioset processes started, in order: `gpioset --mode=wait gpiochip0 17=1`. */
  gpiosetLines(): string[];
  /** gpioset pids still running (zombies count as gone). */
  aliveGpioset(): number[];
  /** Raw level gpioget prints for `line`. */
  setLevel(line: number, level: 0 | 1): void;
  /** Make every gpioset fail with this stderr (null: work again). */
  failGpioset(stderr: string | null): void;
}

export function installFakeGpiod(dir: string, chips: { name: string; label: string; lines: number }[]): FakeGpiod {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'gpiodetect.out'), chips.map((c) => `${c.name} [${c.label}] (${c.lines} lines)\n`).join(''));
  const head = `#!/bin/sh\nD='${dir}'\n`;
  const script = (name: string, body: string) => {
    writeFileSync(join(bin, name), head + body);
    chmodSync(join(bin, name), 0o755);
  };
  script('gpiodetect', `echo "$$ start gpiodetect $*" >> "$D/calls.log"\ncat "$D/gpiodetect.out"\n`);
  script(
    'gpioget',
    `echo "$$ start gpioget $*" >> "$D/calls.log"\nfor a; do line=$a; done\ncat "$D/level-$line" 2>/dev/null || echo 0\n`,
  );
  script(
    'gpioset',
    [
      'echo "$$ start gpioset $*" >> "$D/calls.log"',
      'if [ -f "$D/gpioset.fail" ]; then cat "$D/gpioset.fail" >&2; echo "$$ fail gpioset" >> "$D/calls.log"; exit 1; fi',
      // The kernel lets one process hold a line; the flock dies with this process like a line request.
      'exec 9>>"$D/lines.lock"',
      'if ! flock -n 9; then echo "gpioset: error setting the GPIO line values: Device or resource busy" >&2; echo "$$ busy gpioset" >> "$D/calls.log"; exit 1; fi',
      'trap \'echo "$$ exit gpioset" >> "$D/calls.log"; exit 0\' TERM INT',
      // --mode=wait: hold until stdin ends (the real one calls getc(stdin)).
      'read -r _',
      'echo "$$ exit gpioset" >> "$D/calls.log"',
      '',
    ].join('\n'),
  );
  const calls = (): ToolCall[] =>
    readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [pid, event, tool, ...args] = l.split(' ');
        return { pid: Number(pid), event: event as ToolCall['event'], tool: tool ?? '', args };
      });
  return {
    binDir: bin,
    path: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    calls,
    gpiosetLines: () =>
      calls()
        .filter((c) => c.tool === 'gpioset' && c.event === 'start')
        .map((c) => ['gpioset', ...c.args].join(' ')),
    aliveGpioset: () =>
      calls()
        .filter((c) => c.tool === 'gpioset' && c.event === 'start')
        .map((c) => c.pid)
        .filter(isAlive),
    setLevel: (line, level) => writeFileSync(join(dir, `level-${line}`), `${level}\n`),
    failGpioset: (stderr) =>
      stderr === null
        ? rmSync(join(dir, 'gpioset.fail'), { force: true })
        : writeFileSync(join(dir, 'gpioset.fail'), stderr),
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A dead child of a dead parent may linger as a zombie until init reaps it.
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return !/^\d+ \(.*\) Z /.test(stat);
}

/** Why a private mount namespace cannot be made here, or null when it can. */
export function mountNamespaceUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root: a private mount namespace with bind mounts needs CAP_SYS_ADMIN';
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'true'], { encoding: 'utf8' });
  if (r.error) return `unshare not runnable: ${r.error.message} (util-linux)`;
  if (r.status !== 0) return `unshare --mount failed: ${r.stderr.trim()}`;
  return null;
}

const repoRoot = REPO_ROOT;

/**
 * Runs `script` (an ES module body; `await import()` of `.ts` files works through tsx) in
 * a node child whose /sys/class is `classDir`, inside a private mount namespace, so the
 * host's /sys is untouched. With `emulateExport`, `classDir/gpio/export` becomes a FIFO
 * served by a loop that creates `gpioN/` as the kernel does on export.
 */
export function runWithSysClass(
  classDir: string,
  script: string,
  opts: { emulateExport?: boolean; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const gpio = join(classDir, 'gpio');
  // The kernel's side of `export`: a FIFO served by a node loop that creates `gpioN/` at
  // once (onoff gives up after 10,000 failed opens, about 150 ms here). Each line is built
  // in a side directory and renamed in, so onoff never sees half of it. Opening `export`
  // also answers Gpio.accessible's probe (an empty write).
  const emulatorJs = [
    `process.chdir(${JSON.stringify(gpio)});`,
    'for (;;) {',
    "  const n = fs.readFileSync('export', 'utf8').trim();",
    '  if (!n) continue;',
    "  const t = '.new' + n;",
    '  fs.mkdirSync(t);',
    "  for (const [f, v] of [['direction', 'in'], ['value', '0'], ['active_low', '0'], ['edge', 'none']]) fs.writeFileSync(t + '/' + f, v + '\\n');",
    "  fs.renameSync(t, 'gpio' + n);",
    '}',
  ].join(' ');
  // The kernel creates gpioN/ before the write to `export` returns; the emulator does it
  // after, so a loaded machine that descheduled it for onoff's 150 ms made the export
  // fail (ENOENT, once in a full run six files at a time). Real-time priority (SCHED_FIFO,
  // as root; it blocks on the FIFO between exports, never spins) keeps it ahead of the load.
  const emulator = [
    `rm -f '${gpio}/export' && mkfifo '${gpio}/export'`,
    "if chrt -f 1 true 2>/dev/null; then RT='chrt -f 50'; else RT=; fi",
    '$RT node -e "$LOA_EMULATOR" &',
    'EMU=$!',
  ].join('\n');
  const sh = [
    'set -e',
    `mount --bind '${classDir}' /sys/class`,
    opts.emulateExport ? emulator : 'EMU=',
    'set +e',
    'node --import tsx --input-type=module -e "$LOA_SCRIPT"',
    'rc=$?',
    '[ -n "$EMU" ] && kill $EMU 2>/dev/null',
    'exit $rc',
  ].join('\n');
  return new Promise((res, rej) => {
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', sh], {
      cwd: repoRoot,
      env: { ...process.env, LOA_SCRIPT: script, LOA_EMULATOR: emulatorJs },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a timeout can end the node child and the emulator too.
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), opts.timeoutMs ?? 30_000);
    child.once('error', rej);
    // 'close', not 'exit': output written just before the end is still in the pipes at 'exit'.
    child.once('close', (code) => (clearTimeout(t), res({ code, stdout, stderr })));
  });
}
