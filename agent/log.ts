import { pino, type Logger, type LevelWithSilent } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { redact } from './domain/redact.js';

export type { Logger };

/**
 * JSON lines on stdout (journald stores them as they are); human-readable when a
 * technician runs the agent in a terminal. Errors are logged as `{ code, err }`.
 *
 * Every line passes through redact() as written, whatever field or error message holds
 * the URL: journald keeps logs for weeks and they leave the box in support bundles, so a
 * broker password or a signed media link must never be in them (docs/errors.md).
 */
export function createLogger(opts: { level?: LevelWithSilent; pretty?: boolean; name?: string } = {}): Logger {
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  return pino({
    ...loggerOptions(opts),
    ...(pretty ? { transport: { target: 'pino-pretty', options: PRETTY } } : {}),
  });
}

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

const PRETTY = { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'name' };

function loggerOptions(opts: { level?: LevelWithSilent; name?: string }) {
  return {
    name: opts.name ?? 'loa',
    level: opts.level ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: { streamWrite: redact },
  };
}
