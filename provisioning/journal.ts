// The agent's journal, read through `journalctl -u loa-agent -o cat` (the message of
// each entry: the agent's JSON line as it wrote it). Behind a seam, `Journal`, so that
// `logs` and `show` are tested with the lines given, without systemd.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { AGENT_UNIT } from './agent-unit.js';
import { msg, type Text } from './text.js';

export interface JournalEnd {
  /** journalctl's exit code; null when it was stopped, or never started. */
  code: number | null;
  /** What it said on standard error (a permission hint, a bad --since). */
  stderr: string;
  /** Why it could not start (ENOENT: no journalctl on this machine). */
  error?: NodeJS.ErrnoException;
}

export interface JournalRun {
  lines: AsyncIterable<string>;
  done: Promise<JournalEnd>;
  stop(): void;
}

/** Runs journalctl with these arguments. */
export type Journal = (args: string[]) => JournalRun;

export const journalctl: Journal = (args) => {
  const p = spawn('journalctl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.setEncoding('utf8');
  p.stderr.on('data', (s: string) => (stderr += s));
  const done = new Promise<JournalEnd>((resolve) => {
    p.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, stderr, error }));
    p.once('close', (code) => resolve({ code, stderr }));
  });
  return {
    lines: createInterface({ input: p.stdout, crlfDelay: Infinity }),
    done,
    stop: () => void p.kill('SIGTERM'),
  };
};

/** The arguments for the agent's journal: its unit, messages only, no pager. */
export function journalArgs(o: { lines?: number; follow?: boolean; since?: string } = {}): string[] {
  return [
    '-u',
    AGENT_UNIT,
    '-o',
    'cat',
    '--no-pager',
    ...(o.lines !== undefined ? ['-n', String(o.lines)] : []),
    ...(o.since !== undefined ? ['--since', o.since] : []),
    ...(o.follow ? ['-f'] : []),
  ];
}

/**
 * The last `lines` lines, read within `timeoutMs`; `problem` says why there are none
 * (no journalctl, no permission, no unit) in words a technician can act on.
 */
export async function readJournal(
  journal: Journal,
  lines: number,
  timeoutMs = 5000,
): Promise<{ lines: string[]; problem?: Text }> {
  const run = journal(journalArgs({ lines }));
  const got: string[] = [];
  const timer = setTimeout(() => run.stop(), timeoutMs);
  try {
    // journalctl's own notes ("-- No entries --", "-- Boot … --") are not the agent's lines.
    for await (const l of run.lines) if (!/^-- .* --$/.test(l)) got.push(l);
  } finally {
    clearTimeout(timer);
  }
  const end = await run.done;
  const problem = journalProblem(end, got.length);
  return problem ? { lines: got, problem } : { lines: got };
}

export function journalProblem(end: JournalEnd, lines: number): Text | undefined {
  if (end.error?.code === 'ENOENT') return msg('journal.missing');
  if (end.error) return `journalctl: ${end.error.message}`;
  const said = end.stderr.trim().split('\n')[0];
  if (end.code !== 0 && end.code !== null) return `journalctl exit ${end.code}${said ? `: ${said}` : ''}`;
  if (lines > 0) return undefined;
  const root = process.getuid?.() === 0;
  return msg('journal.empty', {
    unit: AGENT_UNIT,
    said: said ? ` (${said})` : '',
    sudo: root ? '' : msg('journal.sudo'),
  });
}
