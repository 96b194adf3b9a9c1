// The gpiod GPIO backend of GpioBoard (gpio-board.ts), through Debian's libgpiod 1.6 tools
// (gpiodetect, gpioset, gpioget): the fallback where sysfs GPIO is unusable. Kept apart from
// the board so the process handling it needs lives in one place.
//
// gpioset holds lines only while it runs, so ONE holder process owns every output line and
// is replaced on each change (FINDINGS.md "GPIO").
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { errMsg, OUTPUTS, type Driver, type GpioBoardOptions, type Levels } from './gpio-driver.js';
import { LoaError } from '../errors.js';

const execFileP = promisify(execFile);

/** `gpiodetect` (libgpiod 1.6) prints one chip a line: `gpiochip0 [pinctrl-bcm2711] (58 lines)`. */
export function parseGpiodetect(out: string): { name: string; label: string; lines: number }[] {
  return out.split('\n').flatMap((l) => {
    const m = /^(\S+) \[(.*)\] \((\d+) lines\)\s*$/.exec(l);
    return m?.[1] && m[2] !== undefined && m[3] ? [{ name: m[1], label: m[2], lines: Number(m[3]) }] : [];
  });
}

/** The libgpiod 1.6 CLI: we pass raw levels (value XOR activeLow) because gpioset's `-l` applies to every line of the call. */
export class GpiodDriver implements Driver {
  readonly backend = 'gpiod' as const;
  private held: Levels = {};
  private holder: ChildProcess | null = null;

  constructor(
    private readonly o: GpioBoardOptions,
    private readonly chip: { name: string; label: string },
    private readonly onLost: (why: string) => void,
  ) {}

  get describe() {
    return { chip: this.chip.name, label: this.chip.label };
  }

  /** `line=rawLevel` for each held line, with `levels` overriding. */
  private lineArgs(levels: Levels): string[] {
    return OUTPUTS.flatMap((k) => {
      const v = levels[k] ?? this.held[k];
      return v === undefined ? [] : [`${this.o[k].line}=${v !== (this.o[k].activeLow === true) ? 1 : 0}`];
    });
  }

  // The holder ends with the agent, but a released line may keep its last level (Raspberry
  // Pi kernels persist outputs): on an uncaught exception or process.exit() without close(),
  // set the safe levels on the way out. Synchronous, as 'exit' handlers must be; retried
  // because the killed holder releases its lines a moment later. (A SIGKILL still needs init().)
  private readonly onExit = () => {
    if (this.holder?.pid === undefined) return;
    try {
      process.kill(this.holder.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    const retry = 'for i in 1 2 3 4 5 6 7 8 9 10; do gpioset --mode=exit "$@" && exit 0; sleep 0.05; done; exit 1';
    const safe = this.lineArgs({ amp: false, inputFm: false, inputLine: false });
    spawnSync('sh', ['-c', retry, 'sh', this.chip.name, ...safe], { stdio: 'ignore', timeout: 2000 });
  };

  async write(levels: Levels): Promise<void> {
    this.held = { ...this.held, ...levels };
    await this.stopHolder();
    const args = ['--mode=wait', this.chip.name, ...this.lineArgs({})];
    process.off('exit', this.onExit);
    process.on('exit', this.onExit);
    // --mode=wait, not --mode=signal: gpioset then waits on its stdin, our pipe, which the
    // kernel closes when the agent dies in any way (even SIGKILL). So no orphan can keep
    // the amp relay held on, or keep the lines busy for the restarted agent.
    const child = spawn('gpioset', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
    child.stdin?.on('error', () => undefined); // EPIPE when it has died; 'exit' reports that
    // gpioset prints nothing once it holds its lines: a failure (busy line, bad chip) exits at once.
    const failed = await new Promise<Error | null>((res) => {
      const t = setTimeout(() => res(null), this.o.gpiosetSettleMs ?? 100);
      child.once('error', (err) => (clearTimeout(t), res(err)));
      child.once('exit', (code, sig) => (clearTimeout(t), res(new Error(`exited ${code ?? sig}: ${stderr.trim()}`))));
    });
    if (failed) {
      child.kill('SIGKILL');
      throw new LoaError('GPIO_WRITE', `gpioset ${args.join(' ')} failed: ${failed.message}`, { cause: failed });
    }
    this.holder = child;
    child.once('exit', (code, sig) => {
      if (this.holder !== child) return;
      this.holder = null;
      this.onLost(`gpioset exited on its own (${code ?? sig}): ${stderr.trim()}`);
    });
  }

  async readFault(): Promise<boolean> {
    const p = this.o.ampFault;
    if (!p) return false;
    const { stdout } = await execFileP('gpioget', [this.chip.name, String(p.line)], { timeout: 2000 });
    const raw = stdout.trim();
    if (raw !== '0' && raw !== '1') throw new Error(`gpioget printed ${JSON.stringify(raw)}`);
    return (raw === '1') !== (p.activeLow === true);
  }

  async release(): Promise<void> {
    process.off('exit', this.onExit);
    await this.stopHolder();
    this.held = {};
  }

  /** Ends the holder and waits until it is gone, so the next gpioset does not find the lines busy. */
  private async stopHolder(): Promise<void> {
    const child = this.holder;
    this.holder = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    const within = (ms: number) =>
      Promise.race([gone.then(() => true), new Promise<boolean>((r) => setTimeout(r, ms, false).unref())]);
    child.stdin?.end(); // EOF: gpioset returns from its wait, releases the lines, exits 0
    if (await within(1000)) return;
    child.kill('SIGTERM');
    if (await within(1000)) return;
    child.kill('SIGKILL');
    await gone;
  }
}

export async function findGpiodChip(
  labels: readonly string[],
): Promise<{ name: string; label: string; lines: number }> {
  let out: string;
  try {
    out = (await execFileP('gpiodetect', [], { timeout: 5000 })).stdout;
  } catch (err) {
    throw new LoaError('GPIO_SETUP', `gpiodetect failed (is Debian's gpiod package installed?): ${errMsg(err)}`, {
      cause: err,
    });
  }
  const chips = parseGpiodetect(out);
  for (const label of labels) {
    const c = chips.find((x) => x.label === label);
    if (c) return c;
  }
  throw new LoaError(
    'GPIO_SETUP',
    `no gpiochip labelled ${labels.join(' | ')} (gpiodetect: ${chips.map((c) => c.label).join(', ') || 'none'})`,
  );
}
