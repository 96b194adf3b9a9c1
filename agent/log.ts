import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout (journald stores them as they are); human-readable when a
 * technician runs the agent in a terminal. Errors are logged as `{ code, err }`.
 */
export function createLogger(opts: { level?: LevelWithSilent; pretty?: boolean; name?: string } = {}): Logger {
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  return pino({
    name: opts.name ?? 'loa',
    level: opts.level ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'name' } } } : {}),
  });
}
