import { pino, type Logger, type LevelWithSilent } from 'pino';
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

/** pino-pretty's options, for a technician's terminal. */
export const PRETTY = { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'name' };

/** The options every loa logger has (name, level, ISO time, redaction). */
export function loggerOptions(opts: { level?: LevelWithSilent; name?: string }) {
  return {
    name: opts.name ?? 'loa',
    level: opts.level ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: { streamWrite: redact },
  };
}
