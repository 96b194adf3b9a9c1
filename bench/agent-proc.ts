// The built agent (dist/agent/main.js) as systemd runs it, for the attack sections
// (flood, planning, store): spawned with the production V8 flags, stdout ignored,
// stderr kept (the loop-delay preload writes there), RSS read from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Received, Watcher } from '../test/helpers/watcher.js';
import { REPO_ROOT } from '../test/helpers/agent-process.js';
import { DEFAULT_ROOT, deviceTopic } from '../agent/domain/topics.js';

export type Add = (metric: string, value: string, target?: string, ok?: boolean) => void;

export const DIST_MAIN = join(REPO_ROOT, 'dist/agent/main.js');
export const PRODUCTION_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1'];
export const LOOP_DELAY_PRELOAD = join(REPO_ROOT, 'bench/loop-delay.cjs');

export interface DistAgent {
  proc: ChildProcess;
  /** Wall-clock ms just before spawn(). */
  spawnedAt: number;
  stderr(): string;
  /** SIGTERM and wait for the exit (SIGKILL after 10 s). */
  stop(): Promise<number | null>;
}

export function spawnDist(cfg: string, env: NodeJS.ProcessEnv = {}): DistAgent {
  let err = '';
  const spawnedAt = Date.now();
  const proc = spawn(process.execPath, [...PRODUCTION_FLAGS, DIST_MAIN, '--config', cfg], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    spawnedAt,
    stderr: () => err,
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

/** CPU ticks (utime + stime, USER_HZ = 100) of a process. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** The first live (not retained) birth on `loa/v1/d/{id}/status` that arrived after `agent` was spawned. */
export async function waitBirth(w: Watcher, deviceId: string, agent: DistAgent, timeoutMs = 30_000): Promise<Received> {
  try {
    return await w.waitFor((m) => m.topic === deviceTopic(DEFAULT_ROOT, deviceId, 'status') && !m.retain && m.at >= agent.spawnedAt && m.json().online === true, timeoutMs, `birth of ${deviceId}`);
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
