// Where the technician's CLI reads and writes. Passed in (never process.stdout imported
// everywhere) so a test can run main() in-process and read what it printed, and so the
// output style follows the terminal it is really talking to: a phone's SSH app over a
// poor 4G link (UTF-8 marks, a spinner, lines wrapped at words to its width) or a
// pipe/log (ASCII, no animation, lines as they are).
import type { MessageKey } from '../contract/messages.js';
import { msg, say, type Lang, type Text, type Vars } from './text.js';
import { wrapText } from './wrap.js';

export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export const processIo = (): CliIo => ({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });

/** What every subcommand gets: the streams plus line helpers and the terminal's abilities. */
export interface Ui {
  readonly io: CliIo;
  /** stdout is an interactive terminal: prompts may edit, spinners may animate. */
  readonly tty: boolean;
  /** ✓ ✗ and the spinner's braille frames are safe to print (UTF-8 TTY, not --ascii). */
  readonly unicode: boolean;
  /** The terminal's width when stdout is one (80 when it does not say); undefined in a pipe: nothing is wrapped. */
  readonly width: number | undefined;
  /** A line (or several), wrapped at words to `width` with a hanging indent (see wrap.ts). */
  out(line?: string, o?: OutOptions): void;
  err(line: string, o?: OutOptions): void;
  /** Text as it is: prompts, the spinner. */
  write(text: string): void;
  /** The technician's language (`--lang`, else LANG / LC_ALL, else English): what every line is said in. */
  readonly lang: Lang;
  /** A catalogue message in `lang`. */
  t(key: MessageKey, vars?: Vars): string;
  /** A Text (text.ts) in `lang`. */
  say(text: Text): string;
}

export interface OutOptions {
  /** Spaces before each continuation line (default: the line's own leading spaces + 2). */
  indent?: number;
  /** false: never wrapped (JSON, anything a program reads). */
  wrap?: boolean;
}

/** The width lines are wrapped to: the terminal's columns, read at each line (the window may be turned). */
export function widthOf(stream: { isTTY?: boolean; columns?: number }): number | undefined {
  if (stream.isTTY !== true) return undefined;
  return stream.columns && stream.columns > 0 ? stream.columns : 80;
}

export function makeUi(io: CliIo, opts: { ascii?: boolean; env?: NodeJS.ProcessEnv; lang?: Lang } = {}): Ui {
  const env = opts.env ?? process.env;
  const lang = opts.lang ?? 'en';
  const tty = io.stdout.isTTY === true;
  // The C locale over SSH (LANG unset) cannot show ✓: fall back to [ok]/[FAIL].
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  const unicode = tty && !opts.ascii && /utf-?8/i.test(locale);
  const print = (stream: CliIo['stdout'] | CliIo['stderr'], line: string, o: OutOptions = {}) => {
    const width = o.wrap === false ? undefined : widthOf(stream);
    stream.write((width === undefined ? line : wrapText(line, width, o.indent).join('\n')) + '\n');
  };
  return {
    io,
    tty,
    unicode,
    get width() {
      return widthOf(io.stdout);
    },
    out: (line = '', o) => print(io.stdout, line, o),
    err: (line, o) => print(io.stderr, line, o),
    write: (text) => void io.stdout.write(text),
    lang,
    t: (key, vars) => msg(key, vars)(lang),
    say: (text) => say(lang, text),
  };
}

/** A Writable-like sink that records what was written, for tests of main(). */
export function memoryIo(
  input: NodeJS.ReadableStream,
  opts: { tty?: boolean; columns?: number } = {},
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
      ...(opts.columns !== undefined ? { columns: opts.columns } : {}),
    }) as unknown as NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  return {
    stdin: input,
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    out: () => out,
    errOut: () => err,
  };
}
