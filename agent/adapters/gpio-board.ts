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
// Two kernel interfaces (FINDINGS.md "GPIO"), chosen in init() and logged once with why;
// each backend is its own module behind the Driver interface (gpio-driver.ts):
// - sysfs through onoff (gpio-sysfs.ts). Since kernel 6.6 the sysfs number is a dynamic
//   base + the BCM line, so the base is read from the gpiochip's label. onoff hard-codes
//   /sys/class/gpio, so this backend needs sysRoot '/sys'.
// - gpiod through Debian's libgpiod 1.6 tools (gpio-gpiod.ts). gpioset holds lines only
//   while it runs, so ONE holder process owns every output line and is replaced on each change.
// The fault input is polled on both (faultPollMs), not watched through edge interrupts:
// one debounce path, no `edge` file needed (some lines lack one, onoff issue #77) and no
// second long-lived process on gpiod. An amplifier fault does not need millisecond latency.
//
// This module keeps the board itself: the backend choice, the relay sequencing and the
// debounce (the options are gpio-driver.ts's, re-exported here).
import { ampFaultCondition, type AudioInput, type Board, type BoardState, type HwCondition } from './board.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import {
  errMsg,
  OUTPUTS,
  type Driver,
  type GpioBackend,
  type GpioBoardOptions,
  type Levels,
  type Output,
} from './gpio-driver.js';
import { findGpiodChip, GpiodDriver } from './gpio-gpiod.js';
import { trySysfs } from './gpio-sysfs.js';
import { LoaError } from '../errors.js';

// The options live with the backends' contract (gpio-driver.ts, which both backends read);
// the board's callers import them from here. Chip discovery lives in the backend modules.
export type { GpioBackend, GpioBoardOptions, GpioPin } from './gpio-driver.js';
export { findSysfsChip, type SysfsChip } from './gpio-sysfs.js';
export { parseGpiodetect } from './gpio-gpiod.js';

export const DEFAULT_CHIP_LABELS: readonly string[] = ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1'];

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

export class GpioBoard implements Board {
  readonly kind = 'gpio' as const;
  private driver: Driver | null = null;
  private level: Record<Output, boolean> = { amp: false, inputFm: false, inputLine: false };
  /** Outputs whose pin level is unknown (before init, after a failed write): never skipped. */
  private unsure = new Set<Output>(OUTPUTS);
  private ampFault = false;
  private readonly faultListeners = new Set<(fault: boolean) => void>();
  private readonly debouncer: Debouncer;
  private poll: TimerHandle | undefined;
  private reading: Promise<void> | null = null;
  private readFailing = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly clock: Clock;

  constructor(private readonly o: GpioBoardOptions) {
    this.clock = o.clock ?? systemClock;
    this.debouncer = new Debouncer(false, o.faultDebounceMs ?? 50, (fault) => {
      this.ampFault = fault;
      o.log[fault ? 'warn' : 'info'](
        { ampFault: fault },
        fault ? 'amplifier fault input active' : 'amplifier fault input cleared',
      );
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

  onHw(listener: (c: HwCondition) => void): () => void {
    return this.onFault((fault) => listener(ampFaultCondition(fault)));
  }

  onFault(listener: (fault: boolean) => void): () => void {
    this.faultListeners.add(listener);
    return () => this.faultListeners.delete(listener);
  }

  close(): Promise<void> {
    return this.serial(async () => {
      this.clock.clearInterval(this.poll);
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
    for (const [k, p] of Object.entries({
      amp: o.amp,
      inputFm: o.inputFm,
      inputLine: o.inputLine,
      ampFault: o.ampFault,
    })) {
      if (p && !(Number.isInteger(p.line) && p.line >= 0))
        throw new LoaError('GPIO_SETUP', `${k}: line ${p.line} is not a BCM line number`);
    }
    const lines = [o.amp, o.inputFm, o.inputLine, o.ampFault].flatMap((p) => (p ? [p.line] : []));
    if (new Set(lines).size !== lines.length)
      throw new LoaError('GPIO_SETUP', `two functions share a GPIO line: ${lines.join(', ')}`);
    const want = o.backend ?? 'auto';
    const labels = o.chipLabels ?? DEFAULT_CHIP_LABELS;
    let why = `configured (backend: ${want})`;
    if (want !== 'gpiod') {
      const r = await trySysfs(o, labels, Math.max(...lines));
      if (typeof r !== 'string') {
        o.log.info(
          { backend: 'sysfs', ...r.describe },
          `gpio backend sysfs: ${r.describe.chip} has base ${r.describe.base} (backend: ${want})`,
        );
        return r;
      }
      if (want === 'sysfs') throw new LoaError('GPIO_SETUP', `sysfs GPIO unusable: ${r}`);
      why = r;
    }
    const chip = await findGpiodChip(labels);
    if (Math.max(...lines) >= chip.lines)
      throw new LoaError('GPIO_SETUP', `line ${Math.max(...lines)} is beyond ${chip.name} (${chip.lines} lines)`);
    const d = new GpiodDriver(o, chip, (msg) => {
      // The lines are released: their levels are unknown until the next write.
      for (const k of OUTPUTS) this.unsure.add(k);
      o.log.error({ code: 'GPIO_WRITE', backend: 'gpiod' }, msg);
    });
    o.log.info(
      { backend: 'gpiod', ...d.describe, reason: why },
      `gpio backend gpiod: ${chip.name} [${chip.label}], because ${why}`,
    );
    return d;
  }

  private startFaultPoll(): void {
    if (!this.o.ampFault || this.poll) return;
    this.poll = this.clock.setInterval(() => {
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
    this.clock.clearInterval(this.poll);
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
