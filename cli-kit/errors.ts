// The exit codes and errors of the two command-line tools (noc, loa-provision), so a
// script can tell a typo from a failure the same way for both, and the same way as for
// the agent (agent/errors.ts EXIT): sysexits.h where it has a code.
//
// Documented per tool: `noc send` 0 ok, 1 refused, 3 no answer; `loa-provision check`
// 0 passed, 1 a check failed, 78 invalid configuration; both 64 for a bad command line.
export const EXIT = {
  OK: 0,
  /** The invocation was right but the work failed: the broker refused, a box answered ok:false, a check failed. */
  FAIL: 1,
  /** Nobody answered in time (noc send, noc's group commands). */
  TIMEOUT: 3,
  /** Bad command line: unknown option, missing argument (EX_USAGE). */
  USAGE: 64,
  /** The configuration is (or would be) invalid (EX_CONFIG), as the agent's own exit 78. */
  CONFIG: 78,
  /** Ctrl-C at a prompt: nothing written. */
  ABORTED: 130,
} as const;

/** An error that ends the subcommand with one message, the lines under it, and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAIL,
    /** Extra lines printed under the message (problems, hints). */
    readonly lines: readonly string[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The command line is wrong: fix the invocation (exit 64). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.USAGE);
  }
}

/** The invocation was right but the work failed (exit 1). */
export class Failure extends CliError {
  constructor(message: string, lines: readonly string[] = []) {
    super(message, EXIT.FAIL, lines);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
