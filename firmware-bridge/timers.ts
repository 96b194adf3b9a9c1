// The timer port shared by the board model and the bridge (STYLE habit 2: inject the
// clock). Real timers in production and in the pty test; the unit tests step them with
// ManualTimers (test/fakes/manual-clock.ts, the agent's ManualClock seen through this port).

export type TimerHandle = { readonly id: number };

export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle | undefined): void;
  /** Monotonic ms. */
  now(): number;
}

/** Wraps the global timers; handles are tracked so callers can assert nothing is left. */
export function systemTimers(): Timers & { pending(): number } {
  const live = new Map<number, NodeJS.Timeout>();
  let next = 1;
  return {
    setTimeout(fn, ms) {
      const id = next++;
      live.set(
        id,
        setTimeout(() => {
          live.delete(id);
          fn();
        }, ms),
      );
      return { id };
    },
    clearTimeout(h) {
      if (!h) return;
      const t = live.get(h.id);
      if (t) clearTimeout(t);
      live.delete(h.id);
    },
    now: () => performance.now(),
    pending: () => live.size,
  };
}
