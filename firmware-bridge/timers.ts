// The timer port shared by the board model and the bridge (STYLE habit 2: inject the
// clock). Real timers in production and in the pty test; ManualTimers in unit tests
// that must step a 10 s watchdog without waiting 10 s.

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

/** Timers that only move when the test calls advance(); callbacks run in due order. */
export class ManualTimers implements Timers {
  private t = 0;
  private next = 1;
  private readonly due = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.due.set(id, { at: this.t + Math.max(0, ms), fn });
    return { id };
  }
  clearTimeout(h: TimerHandle | undefined): void {
    if (h) this.due.delete(h.id);
  }
  now(): number {
    return this.t;
  }
  pending(): number {
    return this.due.size;
  }
  /** Move time forward by `ms`, firing every timer that falls due (including ones set by callbacks). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.due) if (e[1].at <= end && (!first || e[1].at < first[1].at)) first = e;
      if (!first) break;
      this.due.delete(first[0]);
      this.t = first[1].at;
      first[1].fn();
    }
    this.t = end;
  }
}
