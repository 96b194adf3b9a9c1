// The built agent (dist/agent/main.js) as systemd runs it, for the attack sections
// (flood, planning, store) and memory/wear: spawned with the production V8 flags, stdout
// counted (what journald would be handed), stderr kept (the loop-delay preload writes
// there), RSS and I/O read from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Received, Watcher } from '../test/helpers/watcher.js';
import { REPO_ROOT } from '../test/helpers/agent-process.js';
import { DEFAULT_ROOT, deviceTopic } from '../contract/topics.js';

export type Add = (metric: string, value: string, target?: string, ok?: boolean) => void;

export const DIST_MAIN = join(REPO_ROOT, 'dist/agent/main.js');
/** systemd/loa-agent.service's node flags; BENCH_NODE_FLAGS (space-separated) adds to them, to try others on agent and anchor alike. */
export const PRODUCTION_FLAGS = [
  '--max-semi-space-size=1',
  '--v8-pool-size=1',
  ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
];
export const LOOP_DELAY_PRELOAD = join(REPO_ROOT, 'bench/loop-delay.cjs');

export interface DistAgent {
  proc: ChildProcess;
  /** Wall-clock ms just before spawn(). */
  spawnedAt: number;
  stderr(): string;
  /** Bytes the process wrote to stdout (its log lines, under systemd journald's input). */
  stdoutBytes(): number;
  /** SIGTERM and wait for the exit (SIGKILL after 10 s). */
  stop(): Promise<number | null>;
}

/**
 * The sections that run the build (the agent as systemd runs it, `noc exporter` as
 * production runs it) check for it first: without it node would only say MODULE_NOT_FOUND.
 */
export function requireDist(): void {
  for (const rel of ['dist/agent/main.js', 'dist/noc/cli.js']) {
    if (!existsSync(join(REPO_ROOT, rel))) throw new Error(`${rel} is missing: run npm run build first`);
  }
}

export function spawnDist(cfg: string, env: NodeJS.ProcessEnv = {}): DistAgent {
  return spawnNode([DIST_MAIN, '--config', cfg], env);
}

/** `node <production flags> ...args`: the built agent, or an anchor script beside it. */
export function spawnNode(args: string[], env: NodeJS.ProcessEnv = {}): DistAgent {
  let err = '';
  let out = 0;
  const spawnedAt = Date.now();
  const proc = spawn(process.execPath, [...PRODUCTION_FLAGS, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (b: Buffer) => (out += b.length));
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    spawnedAt,
    stderr: () => err,
    stdoutBytes: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** VmRSS of a process, MB. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

/** VmRSS and RssAnon (private memory) of a process, MB. */
export function memMb(pid: number): { rss: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024 };
}

/**
 * /proc/<pid>/io: `write_bytes` is what the process caused to be written to the block
 * device (counted when it dirties page-cache pages, so a rewrite of the same page before
 * writeback counts again); `wchar` every byte passed to write() and friends, sockets and
 * pipes included (MQTT, stdout). Needs the same user or root.
 */
export function procIo(pid: number): { wchar: number; writeBytes: number; cancelled: number; syscw: number } {
  const f = Object.fromEntries(
    readFileSync(`/proc/${pid}/io`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(': ') as [string, string]),
  );
  return {
    wchar: Number(f.wchar),
    writeBytes: Number(f.write_bytes),
    cancelled: Number(f.cancelled_write_bytes),
    syscw: Number(f.syscw),
  };
}

/** CPU ticks (utime + stime, USER_HZ = 100) of a process. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** The first live (not retained) birth on `loa/v1/d/{id}/status` that arrived after `agent` was spawned. */
export async function waitBirth(w: Watcher, deviceId: string, agent: DistAgent, timeoutMs = 30_000): Promise<Received> {
  try {
    return await w.waitFor(
      (m) =>
        m.topic === deviceTopic(DEFAULT_ROOT, deviceId, 'status') &&
        !m.retain &&
        m.at >= agent.spawnedAt &&
        m.json().online === true,
      timeoutMs,
      `birth of ${deviceId}`,
    );
  } catch (err) {
    const why = agent.proc.exitCode !== null ? `the agent exited ${agent.proc.exitCode}` : 'the agent still runs';
    throw new Error(`${(err as Error).message}; ${why}; its stderr: ${agent.stderr().slice(-2000)}`);
  }
}

export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export const median = (xs: number[]) => pct(xs, 50);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
