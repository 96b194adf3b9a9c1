// `noc` as the operator runs it: a real child process (node on the built noc/cli.js,
// test/helpers/built.ts), for the integration tests of the centre's tool. Not a test file
// itself. Built, each run costs about half the CPU of one through tsx; the noc tests start
// hundreds (noc-cap alone spent 43 CPU-s through tsx).
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from '../helpers/agent-process.js';
import { built } from '../helpers/built.js';

export const NOC_CLI = built('noc/cli');

export interface NocRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface NocProcess {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stderr (or stdout) match of `re`. */
  waitFor(re: RegExp, timeoutMs: number, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  /** SIGINT (Ctrl-C), then the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

const shellQuote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/**
 * `tty: true` runs it on a pseudo-terminal (util-linux script(1)), as on an operator's
 * terminal: standard output and error then both arrive on stdout(), in order. `wrap`: a
 * command line to run noc under, e.g. ['prlimit', '--nofile=1024:1024', '--'].
 */
export function spawnNoc(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  o: { tty?: boolean; wrap?: string[]; input?: string } = {},
): NocProcess {
  const argv = [...(o.wrap ?? []), process.execPath, NOC_CLI, ...args];
  const [cmd, ...cmdArgs] = o.tty ? ['script', '-qfec', argv.map(shellQuote).join(' '), '/dev/null'] : argv;
  const proc = spawn(cmd!, cmdArgs, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (o.input !== undefined) proc.stdin!.end(o.input);
  const out = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stdout!.on('data', (b: Buffer) => {
    out.stdout += b.toString();
    for (const l of listeners) l();
  });
  proc.stderr!.on('data', (b: Buffer) => {
    out.stderr += b.toString();
    for (const l of listeners) l();
  });
  // 'close', not 'exit': it comes after the last output has been read.
  const exited = new Promise<number | null>((r) => proc.once('close', (code) => r(code)));
  return {
    proc,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    exited,
    waitFor(re, timeoutMs, stream = 'stderr') {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out[stream].match(re);
          if (m) {
            done();
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `noc ${args[0]}: no ${re} on ${stream} within ${timeoutMs} ms; stderr:\n${out.stderr.slice(-2000)}${stream === 'stdout' ? `\nstdout:\n${JSON.stringify(out.stdout.slice(-1500))}` : ''}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void exited.then(() => setImmediate(check));
        check();
      });
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGINT');
      return exited;
    },
  };
}

/** Runs `noc args...` to completion (killed after `timeoutMs`). */
export async function runNoc(args: string[], timeoutMs = 60_000, env: NodeJS.ProcessEnv = {}): Promise<NocRun> {
  const p = spawnNoc(args, env);
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}
