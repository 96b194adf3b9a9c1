// The agent as a real child process (what systemd runs: the built JavaScript), for kill -9
// and exit-code tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigInput } from '../../agent/config.js';
import { waitForOutput } from './output-wait.js';
import { built } from './built.js';
import { REPO_ROOT } from './paths.js';

export { REPO_ROOT };

export function writeConfig(dir: string, config: ConfigInput | Record<string, unknown>, mode = 0o600): string {
  const path = join(dir, 'agent.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  chmodSync(path, mode);
  return path;
}

export interface AgentProcess {
  proc: ChildProcess;
  output(): string;
  waitForLog(re: RegExp, timeoutMs: number): Promise<string>;
  exited(): Promise<number | null>;
  kill9(): Promise<void>;
  term(): Promise<number | null>;
}

/** `npm start`: the local demo (demo/main.ts, from the sources through tsx, as a newcomer runs it). */
export function spawnDemo(env: NodeJS.ProcessEnv = {}): AgentProcess {
  return spawnNode(['--import', 'tsx', join(REPO_ROOT, 'demo/main.ts')], env);
}

/**
 * `loa-agent ARGS` as systemd starts it: node on the built JavaScript (test/helpers/built.ts).
 * Built, a start costs about half the CPU it costs through tsx (0.62 against 1.3 CPU-s,
 * measured importing agent/run), and the suite starts hundreds.
 */
export function spawnAgent(args: string[], env: NodeJS.ProcessEnv = {}): AgentProcess {
  return spawnNode([built('agent/main'), ...args], env);
}

function spawnNode(argv: string[], env: NodeJS.ProcessEnv): AgentProcess {
  const proc = spawn(process.execPath, argv, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (b: Buffer) => {
    out += b.toString();
    for (const l of listeners) l();
  };
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    output: () => out,
    waitForLog: (re, timeoutMs) => waitForOutput(() => out, listeners, re, timeoutMs, 'agent output'),
    exited: () => exit,
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exit;
    },
    async term() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exit;
    },
  };
}

/** The names of a process's children (Linux /proc), e.g. to wait until its mpg123 has exited and closed its output. */
export function childNames(pid: number): string[] {
  let ids: string[];
  try {
    ids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
  return ids.flatMap((id) => {
    try {
      return [readFileSync(`/proc/${id}/comm`, 'utf8').trim()];
    } catch {
      return []; // exited meanwhile
    }
  });
}
