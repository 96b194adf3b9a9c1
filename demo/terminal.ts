// The demo's terminal: the log and the demo's own text on one synchronous channel. Here,
// not in agent/log.ts, so the agent does not load pino-pretty at every start.
import { pino, type LevelWithSilent, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { PRETTY, loggerOptions } from '../agent/log.js';

/** What a program writes to the terminal beside its log (the demo's blocks). */
export interface TerminalText {
  write(text: string): void;
}

/**
 * The log and a program's own text on one synchronous channel to stdout (the demo): each
 * is written, in this thread, before the call returns, so a block never comes before the
 * log lines that led to it. pino's default writes asynchronously and its `flush(cb)`
 * does not wait for a write in flight, and process.stdout queues once a pipe is full:
 * either let the demo's tour overtake the line that triggered it (CI41, CI42). The agent
 * keeps the asynchronous default (a slow journald must not stall it).
 */
export function createTerminal(opts: { level?: LevelWithSilent; pretty?: boolean } = {}): {
  log: Logger;
  text: TerminalText;
} {
  const out = pino.destination({ fd: 1, sync: true });
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  const format = pretty ? prettyFactory(PRETTY) : undefined;
  const lines = format ? { write: (line: string) => out.write(format(line)) } : out;
  return { log: pino(loggerOptions(opts), lines), text: { write: (text) => void out.write(text) } };
}
