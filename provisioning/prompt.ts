// Questions at a terminal, one line each, with the default shown in brackets, a
// password read without echo, and a wrong answer asked again with the reason.
//
// Lines are queued as they arrive rather than read with rl.question(): typed ahead (or
// pasted, or piped) answers that arrive before their question is printed are not lost.
// On a TTY readline owns the line editing (backspace, arrows); in a pipe answers are
// plain lines. Ctrl-C or the end of input rejects the pending question, so the caller
// can stop before anything is written.
import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Ui } from './io.js';

export class PromptAborted extends Error {
  override readonly name = 'PromptAborted';
  constructor(readonly why: 'interrupted' | 'end of input') {
    super(
      why === 'interrupted'
        ? 'interrupted (Ctrl-C): nothing written'
        : 'input ended before every question was answered: nothing written (use --yes and flags for scripted use)',
    );
  }
}

export interface AskOptions {
  /** Shown in brackets and returned for an empty answer. */
  default?: string;
  /** One line shown before the question. */
  help?: string;
  /** Read without echo (passwords). */
  secret?: boolean;
  /** What an empty answer means when there is no default, e.g. "none" (shown in brackets). */
  emptyMeans?: string;
}

export class Prompter {
  private readonly rl: Interface;
  private readonly lines: string[] = [];
  private waiter: { resolve(l: string): void; reject(e: Error): void } | undefined;
  private ended: PromptAborted | undefined;
  private muted = false;

  constructor(private readonly ui: Ui) {
    const io = ui.io;
    if (ui.tty && io.stdin.isTTY) {
      // readline echoes through this output; muting it hides a password as it is typed.
      const stdout = io.stdout;
      const out = new Writable({
        write: (chunk: Buffer, _enc, cb) => {
          if (!this.muted) stdout.write(chunk);
          cb();
        },
      });
      Object.defineProperty(out, 'columns', { get: () => stdout.columns ?? 80 });
      Object.defineProperty(out, 'isTTY', { value: true });
      this.rl = createInterface({ input: io.stdin, output: out, terminal: true, historySize: 0 });
    } else {
      this.rl = createInterface({ input: io.stdin, terminal: false });
    }
    this.rl.on('line', (l) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(l);
      } else this.lines.push(l);
    });
    this.rl.on('SIGINT', () => this.end(new PromptAborted('interrupted')));
    this.rl.on('close', () => this.end(new PromptAborted('end of input')));
  }

  /** Ask once; returns the answer trimmed, or the default for an empty answer. */
  async ask(label: string, o: AskOptions = {}): Promise<string> {
    if (o.help) this.ui.out(`  ${o.help}`);
    const shown =
      o.default !== undefined && o.default !== '' ? (o.secret ? this.ui.t('prompt.keep') : o.default) : o.emptyMeans;
    const text = `${label}${shown ? ` [${shown}]` : ''}: `;
    let line: string;
    if (o.secret && this.ui.tty) {
      this.ui.write(text);
      this.muted = true;
      try {
        line = await this.next('', true);
      } finally {
        this.muted = false;
        this.ui.write('\n');
      }
    } else {
      line = await this.next(text, o.secret === true);
    }
    const answer = o.secret ? line : line.trim();
    return answer === '' ? (o.default ?? '') : answer;
  }

  /** Ask until `problems(answer)` returns none; each problem is shown before asking again. */
  async askValid<T>(
    label: string,
    o: AskOptions,
    check: (answer: string) => { value: T } | { problems: readonly string[] },
  ): Promise<T> {
    for (;;) {
      const answer = await this.ask(label, o);
      const r = check(answer);
      if ('value' in r) return r.value;
      for (const p of r.problems) this.ui.out(`  ${this.ui.unicode ? '✗' : '[FAIL]'} ${p}`);
      // Shown again with the same default: a wrong answer never becomes the default.
    }
  }

  async confirm(label: string, def = true): Promise<boolean> {
    for (;;) {
      const a = (await this.ask(`${label} ${def ? '[Y/n]' : '[y/N]'}`)).toLowerCase();
      if (a === '') return def;
      if (['y', 'yes', 'c', 'co', 'có'].includes(a)) return true;
      if (['n', 'no', 'k', 'không', 'khong'].includes(a)) return false;
      this.ui.out(this.ui.t('prompt.yesNo'));
    }
  }

  close(): void {
    this.rl.removeAllListeners('close');
    this.rl.close();
    // readline paused stdin; a paused process.stdin no longer holds the event loop.
  }

  private async next(promptText: string, secret = false): Promise<string> {
    const editing = this.ui.tty && this.ui.io.stdin.isTTY === true;
    // Without a TTY nothing echoes the answer: end the prompt's line ourselves.
    if (!editing && promptText) this.ui.write(promptText);
    let line: string;
    const queued = this.lines.shift();
    if (queued !== undefined) {
      if (editing && promptText) this.ui.write(promptText + '\n');
      line = queued;
    } else {
      if (this.ended) throw this.ended;
      line = await new Promise<string>((resolve, reject) => {
        this.waiter = { resolve, reject };
        if (editing) {
          this.rl.setPrompt(promptText);
          this.rl.prompt();
        }
      });
    }
    // A transcript of a piped session shows each answer after its question (never a password).
    if (!editing && promptText) this.ui.write(`${secret ? '' : line}\n`);
    return line;
  }

  private end(e: PromptAborted): void {
    this.ended ??= e;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.ended);
  }
}
