/** The clock port: wall time for timestamps, monotonic time for durations and jump detection. */
export interface Clock {
  /** Wall clock, ms since the epoch (may jump when NTP corrects it). */
  now(): number;
  /** Monotonic ms (never jumps; unrelated to the wall clock). */
  monoMs(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monoMs: () => performance.now(),
};
