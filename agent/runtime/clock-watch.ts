// The agent's view of its own clock (rules in domain/clock-trust.ts): it polls the time
// sources, keeps the lower bound (the persisted checkpoint and the newest `issuedAt` of a
// verified document), and says whether scheduled items must be held. The scheduler asks
// it before firing; the heartbeat reports it; the signed intakes feed it evidence.
//
// Polling: every 15 s while a source says "not yet synchronised" (NTP arriving should
// release held items well within their grace), every 60 s otherwise (a box where only the
// kernel probe can answer runs python3 for it: 0.2-0.4 s, 9 MB, once a minute); at once
// when the scheduler sees the wall clock jump (that is usually NTP setting it).
// Disk: the checkpoint is written when a document raises the bound, every 30 minutes
// while a source says synchronised, and at stop() (adapters/clock-checkpoint.ts).
import type { Clock, TimerHandle } from '../adapters/clock.js';
import type { ClockSources, ClockSync } from '../adapters/clock-sources.js';
import type { Logger } from '../log.js';
import { clockReport, higherBound, judgeClock, provableNow, type ClockReport, type ClockVerdict } from '../domain/clock-trust.js';

/** Where the bound is persisted (adapters/clock-checkpoint.ts; a fake in unit tests). */
export interface BoundStore {
  load(): number | null;
  save(ms: number): boolean;
}

export interface ClockWatchDeps {
  clock: Clock;
  sources: ClockSources;
  store: BoundStore;
  log: Logger;
  /** The newest `issuedAt` among the documents already in force (restored at start), ms. */
  evidence?: number | null;
  pollSyncedMs?: number;
  pollUnsyncedMs?: number;
  checkpointEveryMs?: number;
  /** The verdict or the sync state changed (re-run the scheduler, kick the heartbeat). */
  onChange?: () => void;
}

export class ClockWatch {
  private sync: ClockSync = { synced: null, source: 'none' };
  private bound: number | null = null;
  private pollTimer: TimerHandle | undefined;
  private lastCheckpointMono = -Infinity;
  private running = false;
  private reading: Promise<void> | undefined;
  private lastLogged = '';

  constructor(private readonly d: ClockWatchDeps) {}

  /** Load the checkpoint, read the sources once, and poll from then on. */
  async start(): Promise<void> {
    this.bound = higherBound(this.d.store.load(), this.d.evidence ?? null);
    this.running = true;
    await this.refresh();
  }

  stop(): void {
    this.running = false;
    this.d.clock.clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    // A clean stop is a checkpoint, but only of a time a source vouched for.
    if (this.sync.synced === true) this.raise(this.d.clock.now(), true);
    else if (this.bound !== null) this.d.store.save(this.bound);
  }

  /** Ask the sources now (also after a wall-clock jump); resolves when the answer is in. */
  refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
      this.arm();
    });
    return this.reading;
  }

  /** A verified document was issued at `ms`: the real time is at least that. */
  note(ms: number): void {
    if (!Number.isFinite(ms) || (this.bound !== null && ms <= this.bound)) return;
    const before = this.verdict();
    this.raise(ms, false);
    this.changed(before);
  }

  verdict(): ClockVerdict {
    return judgeClock(this.d.clock.now(), this.sync, this.bound);
  }

  report(): ClockReport {
    return clockReport(this.sync, this.verdict());
  }

  /** The latest time the box can prove: its clock, or the lower bound when the clock is behind it. */
  provableNow(): number {
    return provableNow(this.d.clock.now(), this.verdict());
  }

  /** For the issuedAt-ahead refusal (contract v1.1 §2.1): only a clock a source vouches for refuses. */
  syncedForIntake(): boolean | undefined {
    return this.sync.synced === true ? undefined : false;
  }

  private async read(): Promise<void> {
    const before = this.verdict();
    const wasSynced = this.sync.synced;
    this.sync = await this.d.sources.read().catch(() => ({ synced: null, source: 'none' }) as ClockSync);
    if (this.sync.synced === true && this.d.clock.monoMs() - this.lastCheckpointMono >= (this.d.checkpointEveryMs ?? 30 * 60_000)) {
      this.raise(this.d.clock.now(), true);
    }
    this.changed(before, wasSynced !== this.sync.synced);
  }

  /** Raise the bound to `ms` (never lower it) and persist it. */
  private raise(ms: number, periodic: boolean): void {
    this.bound = higherBound(this.bound, ms);
    if (this.d.store.save(this.bound!) && periodic) this.lastCheckpointMono = this.d.clock.monoMs();
  }

  private changed(before: ClockVerdict, syncChanged = false): void {
    const after = this.verdict();
    // The first answer is always logged: the journal then says which source the box uses.
    if (this.lastLogged !== '' && !syncChanged && before.held === after.held && before.behind === after.behind) return;
    const r = this.report();
    const line = JSON.stringify([r.synced, r.source, after.held, after.behind]);
    if (line !== this.lastLogged) {
      this.lastLogged = line;
      const msg = after.held ? 'clock not trusted; scheduled items are held' : 'clock trusted; scheduled items play';
      (after.held ? this.d.log.warn : this.d.log.info).call(this.d.log, { code: after.held ? 'CLOCK_HELD' : undefined, clock: r }, msg);
    }
    this.d.onChange?.();
  }

  private arm(): void {
    this.d.clock.clearTimeout(this.pollTimer);
    if (!this.running) return;
    const ms = this.sync.synced === false ? (this.d.pollUnsyncedMs ?? 15_000) : (this.d.pollSyncedMs ?? 60_000);
    this.pollTimer = this.d.clock.setTimeout(() => void this.refresh(), ms, { unref: true });
  }
}
