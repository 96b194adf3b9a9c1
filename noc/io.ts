// Where a subcommand writes. Passed in (not process.stdout imported everywhere) so a
// test can run main() in-process and read what it printed.
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Raw write without a newline (the watch table redraw). */
  write(text: string): void;
  /** As write, resolved when the text is handed on (a pipe's backpressure): for a stream of any size. */
  writeAsync?(text: string): Promise<void>;
  readonly isTTY: boolean;
}

export const processIo: Io = {
  out: (line) => void process.stdout.write(line + '\n'),
  err: (line) => void process.stderr.write(line + '\n'),
  write: (text) => void process.stdout.write(text),
  writeAsync: (text) =>
    process.stdout.write(text) ? Promise.resolve() : new Promise((r) => process.stdout.once('drain', () => r())),
  get isTTY() {
    return process.stdout.isTTY === true;
  },
};

/** An Io that records lines, for tests. */
export function memoryIo(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (l) => void stdout.push(l),
    err: (l) => void stderr.push(l),
    write: (t) => void stdout.push(t),
    isTTY: false,
  };
}
