// A small stand-in for systemd's `Restart=always` with `KillMode=control-group`, for
// tests of systemd/loa-launch and of OTA with the real agent: the command runs in its own
// process group (the unit's cgroup); when its main process exits, what is left of the group
// gets SIGTERM (SIGKILL after the grace), and once the group is empty the command starts
// again restartDelayMs later, until stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { waitForOutput } from './output-wait.js';
import { setTimeout as delay } from 'node:timers/promises';

export interface SupervisedOptions {
  cmd: string;
  args?: string[];
  /** Added to process.env. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** RestartSec (default 200 ms). */
  restartDelayMs?: number;
  /** TimeoutStopSec: SIGKILL for the group this long after SIGTERM (default 10 s). */
  stopGraceMs?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** ms since startSupervised. */
  atMs: number;
}

export interface Supervised {
  /** All output (stdout and stderr, every start and every process of the group) so far. */
  output(): string;
  /** Resolves with the first match of re in output() from offset `from` (default 0). */
  waitFor(re: RegExp, ms: number, from?: number): Promise<string>;
  /** How many times the command was started. */
  starts(): number;
  /** The main process of the current start (its process group id too), if running. */
  pid(): number | undefined;
  exits(): Exit[];
  /** Ms since startSupervised. */
  elapsedMs(): number;
  /** Stop for good: SIGTERM to the group, SIGKILL after the grace; resolves when it is empty. */
  stop(): Promise<void>;
}

/** Live (not zombie) processes whose process group is pgid, from /proc. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (f[0] !== 'Z' && f[0] !== 'X' && Number(f[2]) === pgid) out.push(Number(e));
  }
  return out;
}

/** A signal to a whole process group, none if it is gone. */
export function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* already gone */
  }
}

/** SIGTERM to the group, SIGKILL after graceMs; resolves once no live member is left. */
export async function stopGroup(pgid: number, graceMs: number): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  const killAt = Date.now() + graceMs;
  let killed = false;
  // Polled every 25 ms: the group has no exit event. Unbounded on purpose, as systemd's
  // stop: the supervisor restarts only once the whole group is gone (the test's own
  // time limit bounds it).
  while (groupMembers(pgid).length > 0) {
    if (!killed && Date.now() >= killAt) {
      signalGroup(pgid, 'SIGKILL');
      killed = true;
    }
    await delay(25);
  }
}

export function startSupervised(opts: SupervisedOptions): Supervised {
  const t0 = Date.now();
  const restartDelayMs = opts.restartDelayMs ?? 200;
  const stopGraceMs = opts.stopGraceMs ?? 10_000;
  let out = '';
  let starts = 0;
  let stopped = false;
  let child: ChildProcess | undefined;
  const exits: Exit[] = [];
  const listeners = new Set<() => void>();
  // let: stop() below reads it; it is assigned once the loop starts.
  let loopDone: Promise<void>;

  const onData = (b: Buffer) => {
    out += b.toString();
    for (const l of listeners) l();
  };

  const runOnce = () =>
    new Promise<number>((resolve) => {
      const p = spawn(opts.cmd, opts.args ?? [], {
        cwd: opts.cwd,
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      child = p;
      starts++;
      p.stdout!.setEncoding('utf8');
      p.stderr!.setEncoding('utf8');
      p.stdout!.on('data', onData);
      p.stderr!.on('data', onData);
      p.once('error', (e) => {
        out += `supervisor: ${opts.cmd}: ${e.message}\n`;
        exits.push({ code: null, signal: null, atMs: Date.now() - t0 });
        resolve(-1);
      });
      p.once('exit', (code, signal) => {
        exits.push({ code, signal, atMs: Date.now() - t0 });
        resolve(p.pid!);
      });
    });

  // eslint-disable-next-line prefer-const -- declared above for stop(), which closes over it
  loopDone = (async () => {
    while (!stopped) {
      const pgid = await runOnce();
      if (pgid > 0) await stopGroup(pgid, stopGraceMs);
      child = undefined;
      if (!stopped) await delay(restartDelayMs); // systemd's RestartSec: part of what is simulated
    }
  })();

  return {
    output: () => out,
    waitFor: (re, ms, from = 0) =>
      waitForOutput(() => out.slice(from), listeners, re, ms, `the supervised output (from ${from})`),
    starts: () => starts,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    exits: () => exits,
    elapsedMs: () => Date.now() - t0,
    async stop() {
      stopped = true;
      const p = child;
      if (p?.pid && p.exitCode === null && p.signalCode === null) await stopGroup(p.pid, stopGraceMs);
      await loopDone;
    },
  };
}
