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
// Contract v1.2 §2.2: a synchronised source discards a bound it contradicts (reported as
// `clock.bound-discarded`); one document alone moves the bound at most 24 h; a signed
// emergency is judged on corroborated time (vouchedNow); the centre's `clock` command
// resets what no source vouched for.
import type { Clock, TimerHandle } from '../adapters/clock.js';
import type { ClockSources, ClockSync } from '../adapters/clock-sources.js';
import type { Logger } from '../log.js';
import {
  clockReport,
  judgeClock,
  noteClaim,
  NO_EVIDENCE,
  provableNow,
  resetBound,
  syncedAt,
  vouched,
  type Claim,
  type ClockReport,
  type ClockVerdict,
  type Evidence,
} from '../domain/clock-trust.js';

/** Where the evidence is persisted (adapters/clock-checkpoint.ts; a fake in unit tests). */
export interface BoundStore {
  load(): Evidence | null;
  save(e: Evidence): boolean;
}

export interface ClockWatchDeps {
  clock: Clock;
  sources: ClockSources;
  store: BoundStore;
  log: Logger;
  /** The `issuedAt` of the documents already in force (restored at start). */
  evidence?: readonly Claim[];
  /** Reports `clock.bound-discarded` (contract v1.2 §2.2). */
  emit?: (type: 'clock.bound-discarded', fields: { lowerBound: string; clock: string; source: string }) => void;
  pollSyncedMs?: number;
  pollUnsyncedMs?: number;
  checkpointEveryMs?: number;
  /** The verdict or the sync state changed (re-run the scheduler, kick the heartbeat). */
  onChange?: () => void;
}

export class ClockWatch {
  private sync: ClockSync = { synced: null, source: 'none' };
  private evidence: Evidence = NO_EVIDENCE;
  private pollTimer: TimerHandle | undefined;
  private lastCheckpointMono = -Infinity;
  private running = false;
  private reading: Promise<void> | undefined;
  private lastLogged = '';

  constructor(private readonly d: ClockWatchDeps) {}

  /** Load the checkpoint, read the sources once, and poll from then on. */
  async start(): Promise<void> {
    const now = this.d.clock.now();
    this.evidence = this.d.store.load() ?? NO_EVIDENCE;
    for (const c of this.d.evidence ?? []) this.evidence = noteClaim(this.evidence, c, now);
    this.running = true;
    await this.refresh();
  }

  stop(): void {
    this.running = false;
    this.d.clock.clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    // A clean stop is a checkpoint, but only of a time a source vouched for.
    if (this.sync.synced === true) this.vouchClock();
    else if (this.evidence.bound !== null) this.d.store.save(this.evidence);
  }

  /** Ask the sources now (also after a wall-clock jump); resolves when the answer is in. */
  refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
      this.arm();
    });
    return this.reading;
  }

  /** A verified document (`id`) was issued at `ms`: the real time is at least that, as far as one document's word goes. */
  note(id: string, ms: number): void {
    if (!Number.isFinite(ms)) return;
    // A synchronised clock needs no document's word (and refuses an issuedAt far ahead of it).
    if (this.sync.synced === true) return;
    const next = noteClaim(this.evidence, { id, at: ms }, this.d.clock.now());
    if (JSON.stringify(next) === JSON.stringify(this.evidence)) return; // an older or repeated claim: nothing to write
    const before = this.verdict();
    this.evidence = next;
    this.d.store.save(next);
    this.changed(before);
  }

  /**
   * The centre's signed `clock` {resetBound}: the documents' claims are forgotten; the
   * bound falls back to what a source vouched for. Returns the bound before and after.
   */
  resetBound(): { before: string | null; after: string | null } {
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const before = this.verdict();
    const was = this.evidence.bound;
    this.evidence = resetBound(this.evidence);
    this.d.store.save(this.evidence);
    this.d.log.warn(
      { code: 'CLOCK_RESET', before: iso(was), after: iso(this.evidence.bound) },
      'lower bound reset by the centre',
    );
    this.changed(before);
    return { before: iso(was), after: iso(this.evidence.bound) };
  }

  verdict(): ClockVerdict {
    return judgeClock(this.d.clock.now(), this.sync, this.evidence.bound, undefined, vouched(this.evidence));
  }

  report(): ClockReport {
    return clockReport(this.sync, this.verdict(), this.d.clock.now());
  }

  /** The latest time the box can prove: its clock, or the lower bound when the clock is behind it. */
  provableNow(): number {
    return provableNow(this.d.clock.now(), this.verdict());
  }

  /**
   * The latest time corroborated evidence proves (a synchronised clock, a source's
   * checkpoint, two documents): what a signed emergency's expiry is judged on, never
   * one document's word (contract v1.2 §2.2).
   */
  vouchedNow(): number {
    const now = this.d.clock.now();
    if (this.sync.synced === true) return now;
    return Math.max(now, vouched(this.evidence) ?? -Infinity);
  }

  /** For the issuedAt-ahead refusal (contract v1.1 §2.1): only a clock a source vouches for refuses. */
  syncedForIntake(): boolean | undefined {
    return this.sync.synced === true ? undefined : false;
  }

  private async read(): Promise<void> {
    const before = this.verdict();
    const wasSynced = this.sync.synced;
    this.sync = await this.d.sources.read().catch(() => ({ synced: null, source: 'none' }) as ClockSync);
    if (this.sync.synced === true) {
      const discarded = this.evidence.bound !== null && syncedAt(this.evidence, this.d.clock.now()).discarded !== null;
      if (discarded || this.d.clock.monoMs() - this.lastCheckpointMono >= (this.d.checkpointEveryMs ?? 30 * 60_000))
        this.vouchClock();
    }
    this.changed(before, wasSynced !== this.sync.synced);
  }

  /** A source vouches for the clock: it becomes the checkpoint; a bound it contradicts is discarded and reported. */
  private vouchClock(): void {
    const now = this.d.clock.now();
    const { evidence, discarded } = syncedAt(this.evidence, now);
    this.evidence = evidence;
    if (discarded !== null) {
      const fields = {
        lowerBound: new Date(discarded).toISOString(),
        clock: new Date(now).toISOString(),
        source: this.sync.source,
      };
      this.d.log.warn(
        { code: 'CLOCK_BOUND_DISCARDED', ...fields },
        'a synchronised clock contradicts the lower bound; the bound is discarded',
      );
      this.d.emit?.('clock.bound-discarded', fields);
    }
    if (this.d.store.save(evidence)) this.lastCheckpointMono = this.d.clock.monoMs();
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
      (after.held ? this.d.log.warn : this.d.log.info).call(
        this.d.log,
        { code: after.held ? 'CLOCK_HELD' : undefined, clock: r },
        msg,
      );
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
