// Capped exponential backoff with full jitter. After a broker restart ten thousand
// boxes lose their connection in the same second; with full jitter their first retries
// spread uniformly over [0, minMs], the next over [0, 2*minMs], ... up to maxMs, so
// the broker sees a ramp, not a wall. (AWS architecture blog, "Exponential Backoff
// And Jitter", 2015: full jitter gives the fewest total calls and least contention.)

export interface BackoffPolicy {
  minMs: number;
  maxMs: number;
}

/** Delay before retry number `attempt` (0 = first retry). `random` is in [0, 1). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** Stateful helper: next() grows the delay, reset() after a connection that held. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    return backoffDelay(this.policy, this.attempt++, this.random);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
