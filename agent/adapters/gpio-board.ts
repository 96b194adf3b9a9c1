// The IO board on the Pi's GPIO header: amplifier power relay, two input-selector relays
// (both off = IP audio) and the amplifier-fault input.
//
// Invariants:
// - Never both input relays on: a switch goes through `ip` (old relay off, then new on).
// - init() and close() always write the safe state, amp off first, then inputs off,
//   whatever state() says: after a crash the relays may be anywhere.
// - Operations run one at a time in call order, so racing calls cannot interleave steps.
// - Other writes that would change nothing are skipped, unless an earlier write failed
//   (then the level on the pin is unknown and is written again).
//
// Two kernel interfaces (FINDINGS.md "GPIO"), chosen in init() and logged once with why:
// - sysfs through onoff. Since kernel 6.6 the sysfs number is a dynamic base + the BCM
//   line (512 on Pi 4, 571 reported on Pi 5), so the base is read from the gpiochip's
//   label. onoff hard-codes /sys/class/gpio, so this backend needs sysRoot '/sys'.
// - gpiod through Debian's libgpiod 1.6 tools. gpioset holds lines only while it runs, so
//   ONE holder process owns every output line and is replaced on each change.
// The fault input is polled on both (faultPollMs), not watched through edge interrupts:
// one debounce path, no `edge` file needed (some lines lack one, onoff issue #77) and no
// second long-lived process on gpiod. An amplifier fault does not need millisecond latency.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { AudioInput, Board, BoardState } from './board.js';
import { systemClock, type Clock } from './clock.js';
import { LoaError } from '../errors.js';
import type { Logger } from '../log.js';

const execFileP = promisify(execFile);

export interface GpioPin {
  /** BCM line number, as printed on pinout diagrams (GPIO17 = 17). */
  line: number;
  /** The relay or signal is active when the pin is low (common for relay boards). */
  activeLow?: boolean;
}

export type GpioBackend = 'sysfs' | 'gpiod';

export interface GpioBoardOptions {
  amp: GpioPin;
  inputFm: GpioPin;
  inputLine: GpioPin;
  ampFault?: GpioPin;
  /** 'auto' (default): sysfs when it works, else gpiod. */
  backend?: 'auto' | GpioBackend;
  /** Where sysfs is mounted; '/sys' by default (tests point it at a fake tree). */
  sysRoot?: string;
  /** gpiochip labels of the SoC's own GPIO controller, in order of preference. */
  chipLabels?: readonly string[];
  /** Fault input polling period; 200 ms by default (gpiod: one gpioget process per poll). */
  faultPollMs?: number;
  /** A fault level must read the same for this long before listeners hear it; 50 ms by default. */
  faultDebounceMs?: number;
  /** A new gpioset that is still running after this long is taken to hold its lines; 100 ms by default. */
  gpiosetSettleMs?: number;
  log: Logger;
  clock?: Clock;
}

export const DEFAULT_CHIP_LABELS: readonly string[] = ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1'];

type Output = 'amp' | 'inputFm' | 'inputLine';
/** Amp first: the safe-state order, and the order of lines on gpioset's command line. */
const OUTPUTS: readonly Output[] = ['amp', 'inputFm', 'inputLine'];
type Levels = Partial<Record<Output, boolean>>;

export interface SysfsChip {
  dir: string;
  label: string;
  base: number;
  ngpio: number;
}

/** The gpiochip under `<sysRoot>/class/gpio` with the first label of `labels` that any chip has; null if none. */
export function findSysfsChip(sysRoot: string, labels: readonly string[]): SysfsChip | null {
  const root = join(sysRoot, 'class/gpio');
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => /^gpiochip\d+$/.test(n));
  } catch {
    return null;
  }
  const chips = names.flatMap((n): SysfsChip[] => {
    try {
      const read = (f: string) => readFileSync(join(root, n, f), 'utf8').trim();
      const c = { dir: join(root, n), label: read('label'), base: Number(read('base')), ngpio: Number(read('ngpio')) };
      return Number.isInteger(c.base) && Number.isInteger(c.ngpio) ? [c] : [];
    } catch {
      return [];
    }
  });
  for (const label of labels) {
    const c = chips.find((x) => x.label === label);
    if (c) return c;
  }
  return null;
}

/** `gpiodetect` (libgpiod 1.6) prints one chip a line: `gpiochip0 [pinctrl-bcm2711] (58 lines)`. */
export function parseGpiodetect(out: string): { name: string; label: string; lines: number }[] {
  return out.split('\n').flatMap((l) => {
    const m = /^(\S+) \[(.*)\] \((\d+) lines\)\s*$/.exec(l);
    return m?.[1] && m[2] !== undefined && m[3] ? [{ name: m[1], label: m[2], lines: Number(m[3]) }] : [];
  });
}

/** Poll-based debounce: a level is reported once it has read the same for at least `stableMs`. */
export class Debouncer {
  private candidate: boolean;
  private since = 0;
  constructor(
    private stable: boolean,
    private readonly stableMs: number,
    private readonly onChange: (level: boolean) => void,
  ) {
    this.candidate = stable;
  }
  sample(level: boolean, nowMs: number): void {
    if (level !== this.candidate) {
      this.candidate = level;
      this.since = nowMs;
    }
    if (this.candidate !== this.stable && nowMs - this.since >= this.stableMs) {
      this.stable = this.candidate;
      this.onChange(this.stable);
    }
  }
}

/** What a backend does; levels are logical (activeLow is the backend's business). */
interface Driver {
  readonly backend: GpioBackend;
  readonly describe: Record<string, unknown>;
  /** Sets only the outputs named. Rejects with GPIO_WRITE. */
  write(levels: Levels): Promise<void>;
  readFault(): Promise<boolean>;
  release(): Promise<void>;
}

const FALLBACK_CODES = new Set(['EINVAL', 'ENOENT', 'EACCES', 'EPERM']);
const errMsg = (err: unknown) => (err instanceof Error ? err.message : String(err));

function unexportAll(lines: { unexport(): void }[]): void {
  for (const g of lines.splice(0)) {
    try {
      g.unexport();
    } catch {
      // already released; nothing else holds it
    }
  }
}

async function openSysfs(o: GpioBoardOptions, chip: SysfsChip): Promise<Driver> {
  // Imported here, not at the top: onoff loads the native epoll module, which a box on
  // the gpiod backend does not need to have built.
  const { Gpio } = await import('onoff');
  const made: InstanceType<typeof Gpio>[] = [];
  const outs = {} as Record<Output, InstanceType<typeof Gpio>>;
  let fault: InstanceType<typeof Gpio> | null = null;
  try {
    for (const k of OUTPUTS) {
      const p = o[k];
      // onoff writes active_low before direction, and the kernel applies "high"/"low" to
      // the raw level (gpiod_direction_output_raw): an active-low relay is created off by
      // "high". The pin is thus driven off from its first instant, even if exported before.
      const g = new Gpio(chip.base + p.line, p.activeLow ? 'high' : 'low', undefined, { activeLow: p.activeLow === true });
      made.push(g);
      outs[k] = g;
    }
    if (o.ampFault) {
      fault = new Gpio(chip.base + o.ampFault.line, 'in', undefined, { activeLow: o.ampFault.activeLow === true });
      made.push(fault);
    }
  } catch (err) {
    unexportAll(made);
    throw err;
  }
  // sysfs levels outlive the process: on an uncaught exception or process.exit() without
  // close(), drive the amp off synchronously on the way out (a SIGKILL still needs init()).
  const onExit = () => {
    try {
      outs.amp.writeSync(0);
    } catch {
      // nothing more can be done while exiting
    }
  };
  process.on('exit', onExit);
  return {
    backend: 'sysfs',
    describe: { chip: chip.label, base: chip.base, gpio: Object.fromEntries(OUTPUTS.map((k) => [k, chip.base + o[k].line])) },
    async write(levels) {
      for (const k of OUTPUTS) {
        const v = levels[k];
        if (v === undefined) continue;
        try {
          outs[k].writeSync(v ? 1 : 0);
        } catch (err) {
          throw new LoaError('GPIO_WRITE', `sysfs gpio${chip.base + o[k].line} (${k}) <- ${v ? 1 : 0} failed: ${errMsg(err)}`, { cause: err });
        }
      }
    },
    async readFault() {
      return fault !== null && fault.readSync() === 1;
    },
    async release() {
      process.off('exit', onExit);
      unexportAll(made);
    },
  };
}

/** The libgpiod 1.6 CLI: we pass raw levels (value XOR activeLow) because gpioset's `-l` applies to every line of the call. */
class GpiodDriver implements Driver {
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
    const within = (ms: number) => Promise.race([gone.then(() => true), new Promise<boolean>((r) => setTimeout(r, ms, false).unref())]);
    child.stdin?.end(); // EOF: gpioset returns from its wait, releases the lines, exits 0
    if (await within(1000)) return;
    child.kill('SIGTERM');
    if (await within(1000)) return;
    child.kill('SIGKILL');
    await gone;
  }
}

async function findGpiodChip(labels: readonly string[]): Promise<{ name: string; label: string; lines: number }> {
  let out: string;
  try {
    out = (await execFileP('gpiodetect', [], { timeout: 5000 })).stdout;
  } catch (err) {
    throw new LoaError('GPIO_SETUP', `gpiodetect failed (is Debian's gpiod package installed?): ${errMsg(err)}`, { cause: err });
  }
  const chips = parseGpiodetect(out);
  for (const label of labels) {
    const c = chips.find((x) => x.label === label);
    if (c) return c;
  }
  throw new LoaError('GPIO_SETUP', `no gpiochip labelled ${labels.join(' | ')} (gpiodetect: ${chips.map((c) => c.label).join(', ') || 'none'})`);
}

export class GpioBoard implements Board {
  readonly kind = 'gpio' as const;
  private driver: Driver | null = null;
  private level: Record<Output, boolean> = { amp: false, inputFm: false, inputLine: false };
  /** Outputs whose pin level is unknown (before init, after a failed write): never skipped. */
  private unsure = new Set<Output>(OUTPUTS);
  private ampFault = false;
  private readonly faultListeners = new Set<(fault: boolean) => void>();
  private readonly debouncer: Debouncer;
  private poll: NodeJS.Timeout | undefined;
  private reading: Promise<void> | null = null;
  private readFailing = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly clock: Clock;

  constructor(private readonly o: GpioBoardOptions) {
    this.clock = o.clock ?? systemClock;
    this.debouncer = new Debouncer(false, o.faultDebounceMs ?? 50, (fault) => {
      this.ampFault = fault;
      o.log[fault ? 'warn' : 'info']({ ampFault: fault }, fault ? 'amplifier fault input active' : 'amplifier fault input cleared');
      for (const l of [...this.faultListeners]) l(fault);
    });
  }

  /** The backend in use, null before init() and after close(). */
  get backend(): GpioBackend | null {
    return this.driver?.backend ?? null;
  }

  init(): Promise<void> {
    return this.serial(async () => {
      if (!this.driver) this.driver = await this.open();
      try {
        await this.safe();
      } catch (err) {
        await this.releaseDriver();
        throw err;
      }
      this.startFaultPoll();
    });
  }

  setAmp(on: boolean): Promise<void> {
    return this.serial(() => this.drive({ amp: on }, false));
  }

  selectInput(input: AudioInput): Promise<void> {
    return this.serial(async () => {
      // Break before make: whatever must go off goes off first, then the wanted relay on.
      const off: Levels = {};
      if (input !== 'fm') off.inputFm = false;
      if (input !== 'line') off.inputLine = false;
      await this.drive(off, false);
      if (input === 'fm') await this.drive({ inputFm: true }, false);
      if (input === 'line') await this.drive({ inputLine: true }, false);
    });
  }

  state(): BoardState {
    const input: AudioInput = this.level.inputFm ? 'fm' : this.level.inputLine ? 'line' : 'ip';
    return { amp: this.level.amp, input, ampFault: this.ampFault };
  }

  onFault(listener: (fault: boolean) => void): () => void {
    this.faultListeners.add(listener);
    return () => this.faultListeners.delete(listener);
  }

  close(): Promise<void> {
    return this.serial(async () => {
      clearInterval(this.poll);
      this.poll = undefined;
      await this.reading;
      if (!this.driver) return;
      try {
        await this.safe();
      } finally {
        await this.releaseDriver();
      }
    });
  }

  private async safe(): Promise<void> {
    await this.drive({ amp: false }, true);
    await this.drive({ inputFm: false, inputLine: false }, true);
  }

  private async drive(levels: Levels, force: boolean): Promise<void> {
    const d = this.driver;
    if (!d) throw new LoaError('GPIO_WRITE', 'GPIO board not initialised (call init() first) or closed');
    const todo: Levels = {};
    for (const k of OUTPUTS) {
      const v = levels[k];
      if (v !== undefined && (force || this.unsure.has(k) || this.level[k] !== v)) todo[k] = v;
    }
    if (Object.keys(todo).length === 0) return;
    try {
      await d.write(todo);
    } catch (err) {
      for (const k of OUTPUTS) this.unsure.add(k);
      throw err instanceof LoaError ? err : new LoaError('GPIO_WRITE', errMsg(err), { cause: err });
    }
    for (const k of OUTPUTS) {
      const v = todo[k];
      if (v === undefined) continue;
      this.level[k] = v;
      this.unsure.delete(k);
    }
  }

  private async open(): Promise<Driver> {
    const o = this.o;
    for (const [k, p] of Object.entries({ amp: o.amp, inputFm: o.inputFm, inputLine: o.inputLine, ampFault: o.ampFault })) {
      if (p && !(Number.isInteger(p.line) && p.line >= 0)) throw new LoaError('GPIO_SETUP', `${k}: line ${p.line} is not a BCM line number`);
    }
    const lines = [o.amp, o.inputFm, o.inputLine, o.ampFault].flatMap((p) => (p ? [p.line] : []));
    if (new Set(lines).size !== lines.length) throw new LoaError('GPIO_SETUP', `two functions share a GPIO line: ${lines.join(', ')}`);
    const want = o.backend ?? 'auto';
    const labels = o.chipLabels ?? DEFAULT_CHIP_LABELS;
    let why = `configured (backend: ${want})`;
    if (want !== 'gpiod') {
      const r = await this.trySysfs(labels, Math.max(...lines));
      if (typeof r !== 'string') {
        o.log.info({ backend: 'sysfs', ...r.describe }, `gpio backend sysfs: ${r.describe.chip} has base ${r.describe.base} (backend: ${want})`);
        return r;
      }
      if (want === 'sysfs') throw new LoaError('GPIO_SETUP', `sysfs GPIO unusable: ${r}`);
      why = r;
    }
    const chip = await findGpiodChip(labels);
    if (Math.max(...lines) >= chip.lines) throw new LoaError('GPIO_SETUP', `line ${Math.max(...lines)} is beyond ${chip.name} (${chip.lines} lines)`);
    const d = new GpiodDriver(o, chip, (msg) => {
      // The lines are released: their levels are unknown until the next write.
      for (const k of OUTPUTS) this.unsure.add(k);
      o.log.error({ code: 'GPIO_WRITE', backend: 'gpiod' }, msg);
    });
    o.log.info({ backend: 'gpiod', ...d.describe, reason: why }, `gpio backend gpiod: ${chip.name} [${chip.label}], because ${why}`);
    return d;
  }

  /** The sysfs driver, or why not (a string). Configuration errors throw. */
  private async trySysfs(labels: readonly string[], maxLine: number): Promise<Driver | string> {
    const sysRoot = this.o.sysRoot ?? '/sys';
    if (!existsSync(join(sysRoot, 'class/gpio'))) return `sysfs GPIO absent (no ${join(sysRoot, 'class/gpio')})`;
    const chip = findSysfsChip(sysRoot, labels);
    if (!chip) return `no gpiochip labelled ${labels.join(' | ')} under ${join(sysRoot, 'class/gpio')}`;
    if (maxLine >= chip.ngpio) throw new LoaError('GPIO_SETUP', `line ${maxLine} is beyond ${chip.label} (${chip.ngpio} lines)`);
    if (resolve(sysRoot) !== '/sys') return `onoff drives /sys/class/gpio only, and sysRoot is ${sysRoot}`;
    let Gpio: (typeof import('onoff'))['Gpio'];
    try {
      ({ Gpio } = await import('onoff'));
    } catch (err) {
      return `onoff unavailable (${errMsg(err)})`;
    }
    if (!Gpio.accessible) return 'cannot open /sys/class/gpio/export for writing';
    try {
      return await openSysfs(this.o, chip);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (FALLBACK_CODES.has(code)) return `sysfs export failed with ${code} (base ${chip.base} from ${chip.label})`;
      throw new LoaError('GPIO_SETUP', `sysfs export failed: ${errMsg(err)}`, { cause: err });
    }
  }

  private startFaultPoll(): void {
    if (!this.o.ampFault || this.poll) return;
    this.poll = setInterval(() => {
      const d = this.driver;
      if (this.reading || !d) return;
      this.reading = d
        .readFault()
        .then(
          (v) => {
            this.readFailing = false;
            this.debouncer.sample(v, this.clock.monoMs());
          },
          (err) => {
            if (!this.readFailing) this.o.log.warn({ code: 'GPIO_READ', err }, 'amplifier fault input unreadable');
            this.readFailing = true;
          },
        )
        .finally(() => (this.reading = null));
    }, this.o.faultPollMs ?? 200);
  }

  private async releaseDriver(): Promise<void> {
    clearInterval(this.poll);
    this.poll = undefined;
    const d = this.driver;
    this.driver = null;
    for (const k of OUTPUTS) this.unsure.add(k);
    await d?.release();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
