// The IO board as the box meets it over USB serial, minus the board: a socat
// pseudo-terminal pair and the board simulator (firmware-bridge/sim-cli.ts) as its own
// process on one end; the host opens the other. Shared by the bridge's and the agent's
// pty tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Duplex } from 'node:stream';
import { openSerial } from '../../firmware-bridge/serial.js';
import { until } from './wait.js';
import { built } from './built.js';
import { REPO_ROOT } from './paths.js';
import { likeHardware } from './hardware-priority.js';

export { until };

const REPO = REPO_ROOT;
export const SOCAT = spawnSync('sh', ['-c', 'command -v socat']).stdout.toString().trim();

export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const fail = new Promise<never>(
    (_, reject) => (t = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)),
  );
  return Promise.race([p, fail]).finally(() => clearTimeout(t));
}

export async function stopProc(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const gone = once(p, 'exit');
  p.kill('SIGTERM');
  await Promise.race([gone, sleep(3000).then(() => p.kill('SIGKILL'))]);
}

/** socat's pty pair with stable link names; resolves once both links exist. */
export async function startSocat(dir: string): Promise<ChildProcess> {
  const host = join(dir, 'host');
  const board = join(dir, 'board');
  const p = spawn(SOCAT, ['-d', '-d', `pty,raw,echo=0,link=${host}`, `pty,raw,echo=0,link=${board}`], {
    stdio: 'ignore',
  });
  likeHardware(p.pid);
  await until(() => existsSync(host) && existsSync(board), 10_000, 'socat links');
  return p;
}

/** The simulator process; `lines` collects its stderr, `script()` sends a fault and waits for its ack. */
export function startSim(dir: string, bootCount?: number, extra: string[] = []) {
  const boot = bootCount === undefined ? [] : ['--boot-count', String(bootCount)];
  const p = spawn(process.execPath, [built('firmware-bridge/sim-cli'), join(dir, 'board'), ...boot, ...extra], {
    cwd: REPO,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  likeHardware(p.pid);
  const lines: string[] = [];
  let buf = '';
  p.stderr?.setEncoding('utf8');
  p.stderr?.on('data', (b: Buffer) => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  });
  return {
    proc: p,
    lines,
    ready: () => until(() => lines.some((l) => l.startsWith('ready')), 20_000, 'simulator ready'),
    async script(cmd: string): Promise<void> {
      const n = lines.length;
      p.stdin?.write(`${cmd}\n`);
      await until(() => lines.slice(n).some((l) => l.startsWith('ok') || l.startsWith('error')), 5000, `ack of ${cmd}`);
    },
  };
}

export function openPort(path: string): Promise<Duplex> {
  const p = openSerial(path);
  if (process.env.FW_DEBUG)
    p.then(
      () => console.error(Date.now(), 'open ok'),
      (e: Error) => console.error(Date.now(), 'open', e.message),
    );
  return p;
}

/** Sends a simulator command and returns its answer line (the first line after it starting with `prefix`). */
export async function ask(sim: ReturnType<typeof startSim>, cmd: string, prefix: string): Promise<string> {
  const n = sim.lines.length;
  sim.proc.stdin?.write(`${cmd}\n`);
  await until(() => sim.lines.slice(n).some((l) => l.startsWith(prefix)), 5000, `answer to ${cmd}`);
  return sim.lines.slice(n).find((l) => l.startsWith(prefix))!;
}

/** The simulator's log of the commands it executed, from the `from`-th on (sim-cli `log`). */
export async function simLog(
  sim: ReturnType<typeof startSim>,
  from = 0,
): Promise<{ cmd: string; [k: string]: unknown }[]> {
  return JSON.parse((await ask(sim, `log ${from}`, 'log ')).slice(4)) as { cmd: string }[];
}
