// The systemd watchdog, fed only while the agent is healthy.
//
// A process that is alive is not necessarily working: an event loop that stalls for
// seconds, a scheduler whose timer was never re-armed, an MQTT reconnect loop that lost
// its timer. Each probe looks at one such thing; every `intervalMs` all probes run and
// WATCHDOG=1 goes out only if every one says healthy. When pings stop for WatchdogSec,
// systemd kills the agent and Restart= starts a fresh one.
//
// - Pick intervalMs at a quarter of WatchdogSec (half of notifier.watchdogIntervalMs()):
//   one failed check (a passing hiccup) then costs one ping and no restart; a problem
//   that lasts about three checks in a row (or an event loop blocked for WatchdogSec)
//   restarts the agent.
// - A probe answers null (healthy) or a short reason; a probe that throws counts as
//   unhealthy with the error as its reason.
// - STATUS= is sent only when the line changes: the caller's summary while healthy,
//   "UNHEALTHY: <reasons>" otherwise, so `systemctl status loa-agent` says why.
import type { LinkLoopState } from '../adapters/mqtt-link.js';
import type { Clock, TimerHandle } from '../adapters/clock.js';
import type { Notifier } from '../adapters/sd-notify.js';
import type { Logger } from '../log.js';

export interface Probe {
  readonly name: string;
  /** null = healthy, else why not (one short line). */
  check(): string | null;
  /** Called by HealthWatchdog.start() (samplers start their timers here). */
  start?(): void;
  stop?(): void;
}

export interface HealthWatchdogDeps {
  notifier: Pick<Notifier, 'watchdog' | 'status'>;
  /** How often the probes run and a ping is sent (if healthy). */
  intervalMs: number;
  probes: readonly Probe[];
  /** One-line STATUS= while healthy, e.g. "idle, 2 schedules, next morning-news 06:30, mqtt up, outbox 0". */
  summary?: () => string;
  /** The interval's clock (the agent's; tests step a ManualClock). */
  clock: Pick<Clock, 'monoMs' | 'setInterval' | 'clearInterval'>;
  log: Logger;
}

export interface HealthReport {
  healthy: boolean;
  /** "name: reason" for each unhealthy probe. */
  problems: string[];
}

export class HealthWatchdog {
  private timer: TimerHandle | undefined;
  private lastStatus: string | undefined;
  private lastProblems = '';
  private pings = 0;

  constructor(private readonly d: HealthWatchdogDeps) {}

  /** Starts the probes, checks at once, then every intervalMs. */
  start(): void {
    if (this.timer) return;
    for (const p of this.d.probes) p.start?.();
    // The agent's own services keep the process alive; the watchdog must not.
    this.timer = this.d.clock.setInterval(() => this.tick(), this.d.intervalMs, { unref: true });
    this.tick();
  }

  stop(): void {
    this.d.clock.clearInterval(this.timer);
    this.timer = undefined;
    for (const p of this.d.probes) p.stop?.();
  }

  /** Runs every probe now (also what a `health` command could report). */
  check(): HealthReport {
    const problems: string[] = [];
    for (const p of this.d.probes) {
      let why: string | null;
      try {
        why = p.check();
      } catch (err) {
        why = `probe failed: ${(err as Error)?.message ?? String(err)}`;
      }
      if (why !== null) problems.push(`${p.name}: ${why}`);
    }
    return { healthy: problems.length === 0, problems };
  }

  /** Pings sent since start (for the heartbeat or a test). */
  get pingCount(): number {
    return this.pings;
  }

  private tick(): void {
    const { healthy, problems } = this.check();
    const key = problems.join('; ');
    if (key !== this.lastProblems) {
      if (healthy)
        this.d.log.info(
          { code: 'WATCHDOG_UNHEALTHY', was: this.lastProblems },
          'healthy again; feeding the systemd watchdog',
        );
      else
        this.d.log.error({ code: 'WATCHDOG_UNHEALTHY', problems }, 'unhealthy; withholding the systemd watchdog ping');
      this.lastProblems = key;
    }
    let status: string;
    if (healthy) {
      this.pings++;
      void this.d.notifier.watchdog();
      status = this.summary();
    } else {
      status = `UNHEALTHY: ${key}`;
    }
    if (status !== this.lastStatus) {
      this.lastStatus = status;
      void this.d.notifier.status(status);
    }
  }

  private summary(): string {
    try {
      return this.d.summary?.() ?? 'running';
    } catch (err) {
      return `running (status summary failed: ${(err as Error)?.message ?? String(err)})`;
    }
  }
}

/**
 * Event-loop lag from timer drift: a timer asks to run every `sampleMs`; how late it
 * runs is how long the loop was busy. check() reports the worst lag since the previous
 * check, including a sample that is overdue right now (so a check that runs first
 * after a long block still sees it), then starts a new window.
 */
export function eventLoopLagProbe(o: {
  maxLagMs?: number;
  sampleMs?: number;
  clock: Pick<Clock, 'monoMs' | 'setTimeout' | 'clearTimeout'>;
}): Probe {
  const maxLagMs = o.maxLagMs ?? 5000;
  const sampleMs = o.sampleMs ?? 500;
  const clock = o.clock;
  let timer: TimerHandle | undefined;
  let due = 0;
  let worst = 0;
  const arm = () => {
    due = clock.monoMs() + sampleMs;
    timer = clock.setTimeout(sample, sampleMs, { unref: true });
  };
  const sample = () => {
    worst = Math.max(worst, clock.monoMs() - due);
    arm();
  };
  return {
    name: 'event-loop',
    start() {
      if (timer === undefined) arm();
    },
    stop() {
      clock.clearTimeout(timer);
      timer = undefined;
    },
    check() {
      if (timer === undefined) return null;
      const lag = Math.max(worst, clock.monoMs() - due);
      worst = 0;
      return lag > maxLagMs ? `lagged ${Math.round(lag)} ms (limit ${maxLagMs} ms)` : null;
    },
  };
}

/**
 * A loop that must make progress at least every `maxAgeMs`: the scheduler wakes at
 * least every maxSleepMs (30 s), so its last wake-up older than that plus a margin means
 * its timer chain broke. `lastProgressMono` returns undefined before the loop started
 * (healthy: nothing to expect yet). It must use the same monotonic clock as `clock`.
 */
export function progressProbe(o: {
  name: string;
  lastProgressMono: () => number | undefined;
  maxAgeMs: number;
  clock: Pick<Clock, 'monoMs'>;
}): Probe {
  const clock = o.clock;
  return {
    name: o.name,
    check() {
      const last = o.lastProgressMono();
      if (last === undefined) return null;
      const age = clock.monoMs() - last;
      return age > o.maxAgeMs ? `no progress for ${seconds(age)} (limit ${seconds(o.maxAgeMs)})` : null;
    },
  };
}

/**
 * Being offline is healthy (a restart would not bring the network back); a reconnect
 * loop that stopped moving is not. Between two steps of a working loop there is at most
 * the backoff ceiling (waiting for the retry) or the connect timeout (an attempt), so
 * pass maxStepGapMs = max(reconnect.maxS, connectTimeoutS) * 1000 + a margin.
 */
export function linkLoopProbe(o: {
  name?: string;
  loop: () => LinkLoopState | undefined;
  maxStepGapMs: number;
  clock: Pick<Clock, 'monoMs'>;
}): Probe {
  const clock = o.clock;
  return {
    name: o.name ?? 'mqtt',
    check() {
      const s = o.loop();
      if (s === undefined || s.state !== 'retrying') return null;
      const age = clock.monoMs() - s.sinceMono;
      return age > o.maxStepGapMs
        ? `reconnect loop stuck: no attempt for ${seconds(age)} (limit ${seconds(o.maxStepGapMs)})`
        : null;
    },
  };
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}
