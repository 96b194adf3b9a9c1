// The one time port: wall time for timestamps, monotonic time for durations and jump
// detection, and the timers every service arms. Services take it in their deps and never
// call the global setTimeout/setInterval, so a test drives them with a manual clock
// (test/fakes/manual-clock.ts) and steps time exactly, jumps of the wall clock included.
// (MQTT.js takes its timer the same way; STYLE habit 2.)
//
// Timers run on the monotonic clock, as Node's do: a wall-clock jump neither fires nor
// delays them. A timer keeps the process alive unless `unref` is asked for; the agent's
// stop() clears every timer it armed, so a stopped box process exits either way.

/** What setTimeout/setInterval return; only the same clock's clear functions take it. */
export interface TimerHandle {
  readonly __timerHandle: unique symbol;
}

export interface TimerOptions {
  /** Let the process exit while this timer is pending (housekeeping, not work). Default false. */
  unref?: boolean;
}

export interface Clock {
  /** Wall clock, ms since the epoch (may jump when NTP corrects it). */
  now(): number;
  /** Monotonic ms (never jumps; unrelated to the wall clock). */
  monoMs(): number;
  /** Run `fn` once after `ms` of monotonic time. */
  setTimeout(fn: () => void, ms: number, opts?: TimerOptions): TimerHandle;
  /** Cancel a pending timeout; undefined and already fired handles are ignored. */
  clearTimeout(h: TimerHandle | undefined): void;
  /** Run `fn` every `ms` of monotonic time until cleared. */
  setInterval(fn: () => void, ms: number, opts?: TimerOptions): TimerHandle;
  clearInterval(h: TimerHandle | undefined): void;
}

const asHandle = (t: NodeJS.Timeout): TimerHandle => t as unknown as TimerHandle;
const asTimeout = (h: TimerHandle | undefined): NodeJS.Timeout | undefined =>
  h as unknown as NodeJS.Timeout | undefined;

/**
 * The real clock. The globals are looked up at each call, not captured at load, so a
 * test that mocks them still steers code given systemClock (the repo's tests inject
 * test/fakes/manual-clock.ts instead).
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  monoMs: () => performance.now(),
  setTimeout: (fn, ms, opts) => {
    const t = setTimeout(fn, ms);
    if (opts?.unref) t.unref();
    return asHandle(t);
  },
  clearTimeout: (h) => clearTimeout(asTimeout(h)),
  setInterval: (fn, ms, opts) => {
    const t = setInterval(fn, ms);
    if (opts?.unref) t.unref();
    return asHandle(t);
  },
  clearInterval: (h) => clearInterval(asTimeout(h)),
};
