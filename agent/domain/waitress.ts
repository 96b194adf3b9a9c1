// Waiting for something, with a deadline, on the injected clock (herdsman's waitress,
// STYLE habit 4). Every request/response wait and every "at most N ms" in the agent goes
// through here, so each one clears its timer when it settles and, when it times out,
// says what it waited for.
//
// - Waitress: register the waiter first (before the request is written, so a fast
//   answer is never missed), then feed it what arrives with resolve(); the oldest
//   waiter whose matcher accepts the payload gets it.
// - within(): an existing promise, or a timeout error.
// Pure logic on injected timers (domain/): adapters (the MQTT link) and services use it.

/** A wait ran out of time; `what` names what it waited for. */
export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly ms: number,
  ) {
    super(`timed out after ${ms} ms waiting for ${what}`);
    this.name = 'WaitTimeoutError';
  }
}

/**
 * The two timer calls a wait needs; the agent's Clock (adapters/clock.ts) has them, and so
 * does the manual clock of the tests. Method syntax, so a clock with its own handle type fits.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
}

interface Waiter<P> {
  what: string;
  match: (payload: P) => boolean;
  resolve: (payload: P) => void;
  reject: (err: Error) => void;
  timer: unknown;
}

export interface Wait<P> {
  readonly promise: Promise<P>;
  /** Give up without an answer: the promise rejects with `reason`, the timer is cleared. */
  cancel(reason?: Error): void;
}

export class Waitress<P> {
  private readonly waiters = new Set<Waiter<P>>();

  constructor(private readonly clock: Timers) {}

  /** Wait for a payload `match` accepts, at most `timeoutMs`; `what` names it in the timeout error. */
  waitFor(what: string, match: (payload: P) => boolean, timeoutMs: number): Wait<P> {
    let waiter!: Waiter<P>;
    const promise = new Promise<P>((resolve, reject) => {
      waiter = {
        what,
        match,
        resolve,
        reject,
        timer: this.clock.setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new WaitTimeoutError(what, timeoutMs));
        }, timeoutMs),
      };
    });
    this.waiters.add(waiter);
    return {
      promise,
      cancel: (reason) => {
        if (!this.waiters.delete(waiter)) return;
        this.clock.clearTimeout(waiter.timer);
        waiter.reject(reason ?? new Error(`stopped waiting for ${what}`));
      },
    };
  }

  /** Hand `payload` to the oldest waiter that matches it; false when nobody waited for it. */
  resolve(payload: P): boolean {
    for (const w of this.waiters) {
      if (!w.match(payload)) continue;
      this.waiters.delete(w);
      this.clock.clearTimeout(w.timer);
      w.resolve(payload);
      return true;
    }
    return false;
  }

  /** Reject every pending wait (the service stops); their timers are cleared. */
  rejectAll(reason: Error): void {
    for (const w of this.waiters) {
      this.clock.clearTimeout(w.timer);
      w.reject(reason);
    }
    this.waiters.clear();
  }

  /** Waits pending. */
  get size(): number {
    return this.waiters.size;
  }
}

/** `p`, or a WaitTimeoutError naming `what` after `ms`; the timer is cleared either way. */
export function within<T>(clock: Timers, p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new WaitTimeoutError(what, ms)), ms);
    p.then(
      (v) => {
        clock.clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clock.clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
