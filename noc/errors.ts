// Exit codes of every `noc` subcommand, so scripts can tell a typo from a failure:
//   0 success, 1 failure (the broker refused, a box answered ok:false, a bad document),
//   2 usage error (unknown option, missing argument), 3 timeout (nobody answered).
export const EXIT = { ok: 0, failure: 1, usage: 2, timeout: 3 } as const;

export class NocError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** The command line is wrong: fix the invocation (exit 2). */
export class UsageError extends NocError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** The invocation was right but the work failed (exit 1). */
export class Failure extends NocError {
  constructor(message: string) {
    super(message, EXIT.failure);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
