// Turns the board's condition edges into `hw.fault` / `hw.recovered` events a NOC can
// act on: a flapping door is one fault and one recovery, not a hundred events.
//
// Rule, per (component, code):
// - the first `active` edge reports `hw.fault` at once (an open cabinet or a shorted
//   line during a warning must not wait);
// - an `inactive` edge starts a hold of `recoverMs`; `hw.recovered` is reported only if
//   the condition stays clear for the whole hold. An `active` edge during the hold
//   cancels it silently and counts a flap;
// - the recovery message says how often the condition flapped while reported.
// While a fault is reported the heartbeat's state is `fault` (`activeCount()`).
// Timers come from the injected `timers`, so tests drive time by hand.
import type { HwComponent } from '../../contract/events.js';

export interface Condition {
  component: HwComponent;
  code: string;
  active: boolean;
  message: string;
}

export interface FaultReport {
  component: HwComponent;
  code: string;
  message: string;
}

export interface TrackerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
}

export interface FaultTrackerDeps {
  recoverMs: number;
  report(type: 'hw.fault' | 'hw.recovered', f: FaultReport): void;
  timers?: TrackerTimers;
}

interface Entry {
  reported: boolean;
  clearTimer: unknown;
  flaps: number;
  since: number;
  message: string;
}

const nodeTimers: TrackerTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class FaultTracker {
  private readonly entries = new Map<string, Entry>();
  private readonly timers: TrackerTimers;

  private stopped = false;

  constructor(private readonly d: FaultTrackerDeps) {
    this.timers = d.timers ?? nodeTimers;
  }

  set(c: Condition, now = Date.now()): void {
    // After stop(): the agent is closing its store; a condition now (an amplifier switched
    // off on the way out) would arm a timer that reports into a closed database.
    if (this.stopped) return;
    const key = `${c.component}/${c.code}`;
    let e = this.entries.get(key);
    if (c.active) {
      if (!e) {
        e = { reported: false, clearTimer: undefined, flaps: 0, since: now, message: c.message };
        this.entries.set(key, e);
      }
      if (e.clearTimer !== undefined) {
        this.timers.clearTimeout(e.clearTimer);
        e.clearTimer = undefined;
        e.flaps++;
        return;
      }
      if (e.reported) return;
      e.reported = true;
      e.since = now;
      e.message = c.message;
      this.d.report('hw.fault', { component: c.component, code: c.code, message: c.message });
      return;
    }
    if (!e?.reported || e.clearTimer !== undefined) return;
    const entry = e;
    entry.clearTimer = this.timers.setTimeout(() => {
      entry.clearTimer = undefined;
      entry.reported = false;
      this.entries.delete(key);
      const flapped = entry.flaps > 0 ? ` (flapped ${entry.flaps} time${entry.flaps === 1 ? '' : 's'} meanwhile)` : '';
      this.d.report('hw.recovered', { component: c.component, code: c.code, message: `${c.message}${flapped}` });
    }, this.d.recoverMs);
  }

  /** Faults reported and not yet recovered (including those in their recovery hold). */
  active(): { component: HwComponent; code: string; since: number; message: string }[] {
    const out = [];
    for (const [key, e] of this.entries) {
      if (!e.reported) continue;
      const [component, code] = key.split('/') as [HwComponent, string];
      out.push({ component, code, since: e.since, message: e.message });
    }
    return out;
  }

  activeCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.reported) n++;
    return n;
  }

  isActive(component: HwComponent, code?: string): boolean {
    return this.active().some((f) => f.component === component && (code === undefined || f.code === code));
  }

  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) if (e.clearTimer !== undefined) this.timers.clearTimeout(e.clearTimer);
  }
}
