// One rejection budget for the whole box (contract v1.1 §7): schedule and command
// intake share it, so an unsigned flood on any topic costs at most 20 individual
// reports a minute, plus one `intake.flood` event a minute with the counts. The
// individual report (event, log line, cmd/result) is passed in as a function and only
// run when the budget admits it, so a counted rejection costs no I/O at all.
import type { Clock, TimerHandle } from '../adapters/clock.js';
import type { EventSink } from '../../contract/events.js';
import type { Logger } from '../log.js';
import { RejectionBudget } from '../domain/rejection-budget.js';

export interface RejectionDeps {
  clock: Clock;
  events: EventSink;
  log: Logger;
  perMinute?: number;
  windowMs?: number;
}

export class Rejections {
  private readonly budget: RejectionBudget;
  private timer: TimerHandle | undefined;

  constructor(private readonly d: RejectionDeps) {
    this.budget = new RejectionBudget(d.perMinute ?? 20, d.windowMs ?? 60_000);
  }

  /** A message was refused: report it individually if the budget admits it, else count it. */
  report(topic: string, reason: string, individually: () => void): void {
    const now = this.d.clock.now();
    if (this.budget.admit(now, reason, topic)) {
      individually();
      return;
    }
    if (!this.timer) {
      const end = this.budget.windowEnd ?? now;
      this.timer = this.d.clock.setTimeout(() => this.closeWindow(), Math.max(0, end - now), { unref: true });
    }
  }

  /** Rejections seen since start (reported or counted). */
  get seen(): number {
    return this.budget.seen;
  }

  stop(): void {
    this.d.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.closeWindow(); // what was counted is not lost at shutdown
  }

  private closeWindow(): void {
    this.timer = undefined;
    const s = this.budget.close(this.d.clock.now());
    if (!s) return;
    this.d.events.emit('intake.flood', s);
    this.d.log.warn({ code: 'INTAKE_FLOOD', ...s }, `${s.dropped} rejected messages counted, not reported one by one`);
  }
}
