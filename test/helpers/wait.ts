// Waiting for a condition in tests: polled on the real event loop, bounded, and named, so
// a test that never sees what it waits for fails with what that was, not by hanging.

/**
 * Resolves with the first truthy value of `check()` (awaited, so it may be async), polled
 * every `everyMs`; rejects after `ms` naming `what`.
 */
export async function until<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  ms: number,
  what: string,
  everyMs = 10,
): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Calls `fn` with each whole line a child's stream writes. A `data` chunk ends wherever
 * the pipe cut it (mid-line, mid-character): splitting each chunk on newlines loses a
 * line cut in two, and a test waiting for that line waits forever.
 */
export function onLines(stream: NodeJS.ReadableStream, fn: (line: string) => void): void {
  const decoder = new TextDecoder();
  let buf = '';
  stream.on('data', (b: Buffer | string) => {
    buf += typeof b === 'string' ? b : decoder.decode(b, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      fn(line);
    }
  });
  stream.on('end', () => {
    buf += decoder.decode();
    if (buf) fn(buf);
    buf = '';
  });
}

/** Resolves when `p` exits; past `ms`, kills it (its group when `group`) and rejects naming `what`. */
export function exitWithin(
  p: import('node:child_process').ChildProcess,
  ms: number,
  what: () => string,
  group = false,
): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve(p.exitCode);
    const t = setTimeout(() => {
      try {
        if (group && p.pid) process.kill(-p.pid, 'SIGKILL');
        else p.kill('SIGKILL');
      } catch {
        /* already gone */
      }
      reject(new Error(`timed out after ${ms} ms: ${what()}`));
    }, ms);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

/**
 * Resolves once `p`'s stdout and stderr pipes have closed: every writer (its children too)
 * is gone and what they wrote has been read. Its exit alone may come first: the demo's
 * last 4 KB were still in the pipe when a loaded run checked them after npm's exit.
 */
export function outputClosed(p: import('node:child_process').ChildProcess, ms: number, what: string): Promise<void> {
  const open = [p.stdout, p.stderr].filter((s): s is import('node:stream').Readable => s !== null && !s.closed);
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    Promise.all(open.map((s) => new Promise((r) => s.once('close', r)))).then(() => undefined),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what} to close its output`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** As `until`, for checks whose answer may be falsy (0, false, ''): resolves with the first value that is not undefined. */
export async function untilDefined<T>(
  check: () => T | undefined | Promise<T | undefined>,
  ms: number,
  what: string,
  everyMs = 10,
): Promise<T> {
  const box = await until(
    async () => {
      const v = await check();
      return v === undefined ? undefined : { v };
    },
    ms,
    what,
    everyMs,
  );
  return box.v;
}
