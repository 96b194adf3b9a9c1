// Contract v1.1 §7: rejections cost the box little. At most `perWindow` rejections a
// window are reported one by one (an event, a log line, a cmd/result); the rest are only
// counted, by reason and by topic, into one `intake.flood` summary per window. Pure: the
// caller passes the time and arms the timer that closes a window.
export interface FloodSummary {
  windowS: number;
  dropped: number;
  byReason: Record<string, number>;
  byTopic: Record<string, number>;
}

export class RejectionBudget {
  private windowStart: number | undefined;
  private used = 0;
  private dropped = 0;
  private byReason: Record<string, number> = {};
  private byTopic: Record<string, number> = {};
  private total = 0;

  constructor(
    readonly perWindow = 20,
    readonly windowMs = 60_000,
  ) {}

  /** true: report this rejection individually; false: it was counted into the window's summary. */
  admit(now: number, reason: string, topic: string): boolean {
    this.total++;
    if (this.windowStart === undefined || now >= this.windowStart + this.windowMs || now < this.windowStart) {
      // A window that ended with counted rejections must be closed by close() first;
      // callers arm a timer for it, so here the previous window had none (or the clock jumped).
      if (this.dropped > 0) return this.count(reason, topic);
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used < this.perWindow) {
      this.used++;
      return true;
    }
    return this.count(reason, topic);
  }

  /** When the current window ends (for the caller's timer), or undefined when none is open. */
  get windowEnd(): number | undefined {
    return this.windowStart === undefined ? undefined : this.windowStart + this.windowMs;
  }

  /** Rejections seen since start, reported or counted. */
  get seen(): number {
    return this.total;
  }

  /** End the window: its summary if anything was counted (then a new window starts at `now`). */
  close(now: number): FloodSummary | null {
    if (this.dropped === 0) return null;
    const s: FloodSummary = {
      windowS: Math.round(this.windowMs / 1000),
      dropped: this.dropped,
      byReason: this.byReason,
      byTopic: this.byTopic,
    };
    this.dropped = 0;
    this.byReason = {};
    this.byTopic = {};
    this.windowStart = now;
    this.used = 0;
    return s;
  }

  private count(reason: string, topic: string): false {
    this.dropped++;
    this.byReason[reason] = (this.byReason[reason] ?? 0) + 1;
    this.byTopic[topic] = (this.byTopic[topic] ?? 0) + 1;
    return false;
  }
}
