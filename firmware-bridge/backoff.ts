// Reconnect delays for the bridge: capped exponential backoff with full jitter (retry n
// waits a uniform random time in [0, min(maxMs, minMs·2ⁿ))). Kept here, not borrowed
// from the agent, so firmware-bridge/ stands alone for whoever reads or reuses it.

export interface BackoffPolicy {
  minMs: number;
  maxMs: number;
}

export class Backoff {
  private attempt = 0;
  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.policy.maxMs, this.policy.minMs * 2 ** Math.min(this.attempt++, 30));
    return Math.floor(this.random() * ceiling);
  }

  reset(): void {
    this.attempt = 0;
  }
}
