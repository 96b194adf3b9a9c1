// Command-line parsing shared by the subcommands, and the exit codes they return.
// Exit codes follow sysexits.h like the agent's: the technician's script (or the
// installer image) can tell "the box failed a check" from "the config is invalid" from
// "you typed the command wrong".
import { parseArgs as nodeParseArgs, type ParseArgsConfig } from 'node:util';

export const EXIT = {
  OK: 0,
  /** A check failed, a step failed, or a wait timed out. */
  FAIL: 1,
  /** Bad command line (EX_USAGE). */
  USAGE: 64,
  /** The configuration is (or would be) invalid (EX_CONFIG), as the agent's own exit 78. */
  CONFIG: 78,
  /** Ctrl-C at a prompt: nothing written. */
  ABORTED: 130,
} as const;

/** An error that ends the subcommand with one message and an exit code. */
export class ProvisionError extends Error {
  override readonly name = 'ProvisionError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAIL,
    /** Extra lines printed under the message (problems, hints). */
    readonly lines: readonly string[] = [],
  ) {
    super(message);
  }
}

export class UsageError extends ProvisionError {
  constructor(message: string) {
    super(message, EXIT.USAGE);
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with our error type and no positionals. */
export function parseFlags<O extends Options>(argv: string[], options: O) {
  try {
    return nodeParseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
}

/** A positive number of seconds from a flag, or the default. */
export function secondsFlag(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} "${v}" is not a positive number of seconds`);
  return n;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
