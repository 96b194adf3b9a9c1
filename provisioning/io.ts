// Where the technician's CLI reads and writes. Passed in (never process.stdout imported
// everywhere) so a test can run main() in-process and read what it printed, and so the
// output style follows the terminal it is really talking to: a phone's SSH app over a
// poor 4G link (UTF-8 marks, a spinner) or a pipe/log (ASCII, no animation).

export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
}

export const processIo = (): CliIo => ({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });

/** What every subcommand gets: the streams plus line helpers and the terminal's abilities. */
export interface Ui {
  readonly io: CliIo;
  /** stdout is an interactive terminal: prompts may edit, spinners may animate. */
  readonly tty: boolean;
  /** ✓ ✗ and the spinner's braille frames are safe to print (UTF-8 TTY, not --ascii). */
  readonly unicode: boolean;
  out(line?: string): void;
  err(line: string): void;
  write(text: string): void;
}

export function makeUi(io: CliIo, opts: { ascii?: boolean; env?: NodeJS.ProcessEnv } = {}): Ui {
  const env = opts.env ?? process.env;
  const tty = io.stdout.isTTY === true;
  // The C locale over SSH (LANG unset) cannot show ✓: fall back to [ok]/[FAIL].
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  const unicode = tty && !opts.ascii && /utf-?8/i.test(locale);
  return {
    io,
    tty,
    unicode,
    out: (line = '') => void io.stdout.write(line + '\n'),
    err: (line) => void io.stderr.write(line + '\n'),
    write: (text) => void io.stdout.write(text),
  };
}

/** A Writable-like sink that records what was written, for tests of main(). */
export function memoryIo(
  input: NodeJS.ReadableStream,
  opts: { tty?: boolean } = {},
): CliIo & { out(): string; errOut(): string } {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    ({
      write(chunk: string | Uint8Array, ...rest: unknown[]) {
        append(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
        const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
        cb?.();
        return true;
      },
      isTTY: opts.tty === true,
    }) as unknown as NodeJS.WritableStream & { isTTY?: boolean };
  return {
    stdin: input,
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    out: () => out,
    errOut: () => err,
  };
}
