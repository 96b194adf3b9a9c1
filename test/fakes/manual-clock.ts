// A Clock that moves only when the test says so (the fake of agent/adapters/clock.ts).
//
// - advance(ms) runs every timer that falls due in the step, in order of due time (ties
//   in the order they were armed), with now() and monoMs() reading that timer's due
//   time while it runs; a timer armed by a callback runs in the same step if it is due.
// - tickAsync(ms) does the same and lets promise continuations and setImmediate work
//   settle after each timer, for services whose timers start async work that re-arms.
// - jumpWall(ms) moves the wall clock alone (an NTP correction): timers, like Node's,
//   run on the monotonic clock and do not notice.
// - run(promise) and until(cond) drive the clock from timer to timer, settling I/O in
//   between, until the promise settles or the condition holds: a test waits for the
//   event it needs, and time moves only as far as the code under test asks.
//
// This is the one fake of time in the tests. ManualTimers (below) is the same clock seen
// through the firmware bridge's Timers port (firmware-bridge/timers.ts), whose handles
// and monotonic now() differ in shape only.
import type { Clock, TimerHandle, TimerOptions } from '../../agent/adapters/clock.js';
import type { Timers, TimerHandle as BridgeTimerHandle } from '../../firmware-bridge/timers.js';

interface Timer {
  id: number;
  due: number;
  fn: () => void;
  /** Interval period, or undefined for a timeout. */
  every: number | undefined;
  unref: boolean;
}

export interface ManualClockOptions {
  /** Wall time at the start, ms since the epoch (default 2026-11-26T00:00:00Z). */
  now?: number;
  /** Monotonic time at the start (default 1000). */
  mono?: number;
}

export class ManualClock implements Clock {
  private wall: number;
  private mono: number;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  constructor(o: ManualClockOptions = {}) {
    this.wall = o.now ?? Date.parse('2026-11-26T00:00:00Z');
    this.mono = o.mono ?? 1000;
  }

  now(): number {
    return this.wall;
  }

  monoMs(): number {
    return this.mono;
  }

  setTimeout(fn: () => void, ms: number, opts?: TimerOptions): TimerHandle {
    return this.arm(fn, ms, undefined, opts);
  }

  clearTimeout(h: TimerHandle | undefined): void {
    if (typeof h === 'number') this.timers.delete(h);
  }

  setInterval(fn: () => void, ms: number, opts?: TimerOptions): TimerHandle {
    return this.arm(fn, ms, Math.max(1, ms), opts);
  }

  clearInterval(h: TimerHandle | undefined): void {
    this.clearTimeout(h);
  }

  /** Move both clocks forward by `ms`, running the timers that fall due on the way. */
  advance(ms: number): void {
    const end = this.mono + Math.max(0, ms);
    for (let t = this.nextDue(end); t; t = this.nextDue(end)) this.fire(t);
    this.step(end);
  }

  /** advance(), letting promises and setImmediate callbacks settle after each timer (and before the first). */
  async tickAsync(ms: number): Promise<void> {
    const end = this.mono + Math.max(0, ms);
    await settle();
    for (let t = this.nextDue(end); t; t = this.nextDue(end)) {
      this.fire(t);
      await settle();
    }
    this.step(end);
    await settle();
  }

  /** Run timers until none is left within `limitMs` (a guard against intervals); returns the time advanced. */
  runAll(limitMs = 86_400_000): number {
    const start = this.mono;
    const end = start + limitMs;
    for (let t = this.nextDue(end); t; t = this.nextDue(end)) this.fire(t);
    return this.mono - start;
  }

  /**
   * The event loop was busy for `ms`: both clocks move, and the timers that fell due meanwhile
   * have not run; they run late, at the next advance/tickAsync (advance(0) runs them now).
   */
  block(ms: number): void {
    this.step(this.mono + Math.max(0, ms));
  }

  /** The wall clock jumps by `ms` (negative: backwards); the monotonic clock and the timers do not move. */
  jumpWall(ms: number): void {
    this.wall += ms;
  }

  /** Set the wall clock to an absolute time (a jump of whatever size it takes). */
  setWall(ms: number): void {
    this.wall = ms;
  }

  /** Timers pending (a stopped service should leave none; unref'd ones included). */
  get pending(): number {
    return this.timers.size;
  }

  /** Pending timers that would keep a real process alive. */
  get pendingRef(): number {
    return [...this.timers.values()].filter((t) => !t.unref).length;
  }

  /**
   * Drive the clock until `p` settles: settle I/O, then step to the next timer, and so
   * on. Fails when nothing is pending and `p` is still open (it waits for something no
   * timer will bring) or when `limitMs` of clock time pass. Returns what `p` gives.
   */
  async run<T>(p: Promise<T>, limitMs = 600_000, what = 'the promise'): Promise<T> {
    let done = false;
    const settled = p.then(
      (v) => ((done = true), v),
      (e: unknown) => {
        done = true;
        throw e;
      },
    );
    settled.catch(() => {}); // observed below; keeps an early rejection from being unhandled
    await this.drive(() => done, limitMs, what);
    return settled;
  }

  /** Drive the clock (as run() does) until `cond()` holds; returns the clock time it took, in ms. */
  async until(cond: () => boolean, limitMs = 600_000, what = 'the condition'): Promise<number> {
    return this.drive(cond, limitMs, what);
  }

  private async drive(cond: () => boolean, limitMs: number, what: string): Promise<number> {
    const start = this.mono;
    const end = start + limitMs;
    for (;;) {
      await settle();
      if (cond()) return this.mono - start;
      const t = this.nextDue(end);
      if (!t) {
        const why = this.timers.size === 0 ? 'no timer pending' : `nothing due within ${limitMs} ms`;
        throw new Error(`manual clock: ${why} while waiting for ${what}`);
      }
      this.fire(t);
    }
  }

  /** Monotonic ms until the next timer, or undefined when none is pending. */
  msUntilNext(): number | undefined {
    const t = this.nextDue(Infinity);
    return t ? t.due - this.mono : undefined;
  }

  private arm(fn: () => void, ms: number, every: number | undefined, opts: TimerOptions | undefined): TimerHandle {
    const id = ++this.seq;
    // Like Node: a delay below 1 ms (or not a number) is 1 ms.
    const delay = Number.isFinite(ms) && ms >= 1 ? ms : 1;
    this.timers.set(id, { id, due: this.mono + delay, fn, every, unref: opts?.unref === true });
    return id as unknown as TimerHandle;
  }

  private nextDue(end: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers.values()) {
      if (t.due > end) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    }
    return best;
  }

  private fire(t: Timer): void {
    this.step(t.due);
    if (t.every === undefined) this.timers.delete(t.id);
    else t.due += t.every;
    t.fn();
  }

  private step(to: number): void {
    if (to <= this.mono) return;
    this.wall += to - this.mono;
    this.mono = to;
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/**
 * A ManualClock seen through the firmware bridge's Timers port: handles are `{ id }`,
 * now() is the monotonic clock, and pending() counts only the timers armed through this
 * view (so a test can check that the bridge, sharing a clock with the board, cleaned up).
 */
export class ManualTimers implements Timers {
  private readonly mine = new Set<number>();

  constructor(readonly clock: ManualClock = new ManualClock()) {}

  setTimeout(fn: () => void, ms: number): BridgeTimerHandle {
    const h = this.clock.setTimeout(() => {
      this.mine.delete(id);
      fn();
    }, ms);
    const id = h as unknown as number;
    this.mine.add(id);
    return { id };
  }

  clearTimeout(h: BridgeTimerHandle | undefined): void {
    if (!h) return;
    this.clock.clearTimeout(h.id as unknown as TimerHandle);
    this.mine.delete(h.id);
  }

  now(): number {
    return this.clock.monoMs();
  }

  pending(): number {
    return this.mine.size;
  }

  /** Step the shared clock (see ManualClock.advance). */
  advance(ms: number): void {
    this.clock.advance(ms);
  }
}
