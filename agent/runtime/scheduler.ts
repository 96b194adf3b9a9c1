// The scheduler: fires each occurrence on time (the start of audio is what must be on
// time, so it also signals the amplifier warm-up before it), and keeps the ledger
// honest about every occurrence it knew of.
//
// - One timer, armed for the next instant (a warm-up or a start), never longer than
//   maxSleepMs, so a wall-clock jump is noticed within that time. A jump is detected by
//   comparing wall time with the monotonic clock (an NTP correction of hours after a
//   boot without network is normal on these boxes); it re-plans at once.
// - At a wake-up, due occurrences fire first, from the plan computed earlier; the plan
//   (cron expansion) is recomputed afterwards, so expansion cost never delays a start.
// - An occurrence late by up to graceMs starts late (`lateMs`); older ones are
//   `play.skipped` with `missed`. `checkedThrough` (persisted) remembers up to when
//   occurrences were handled, so after a power cut the ones that fell in the gap are
//   reported as missed, and the ledger stops a restart from playing one twice.
// - Planning is bounded (contract v1.1 §3): expansion runs in slices of at most
//   `sliceMs` of CPU, yielding to the event loop between them, so even the densest legal
//   documents never hold up a start, a heartbeat or a message for long. Until a new plan
//   is complete the previous one keeps firing; a plan that fits in one slice (every real
//   broadcast day) is ready before replan() returns.
// - Time without an RTC (domain/clock-trust.ts): while `clockHold` says the clock is not
//   trusted, an occurrence that comes due is HELD (kept, not fired, not in the ledger);
//   once it is past its grace by the best time the box can prove (its clock, or the
//   lower bound if later) it is `play.skipped` with `clock`. When the clock is trusted
//   again (NTP set it, usually with a jump), a held occurrence still ahead plays on time
//   and one within its grace plays late. The ledger keeps any of them from firing twice.
//
// What it drives and needs (its deps) is in scheduler-ports.ts; closing what a crash left
// `started` is in interrupted-by-restart.ts. Both are re-exported here for its users.
import type { TimerHandle } from '../adapters/clock.js';
import { finishPlan, occurrencesIn, type DocInForce, type Occurrence } from '../domain/occurrences.js';
import { corroboratedNow, TRUSTED, type ClockVerdict } from '../domain/clock-trust.js';
import type { SchedulerDeps } from './scheduler-ports.js';
import { skippedRecord } from '../domain/play-records.js';
import { record } from './record.js';

export type { CheckpointStore, Playback, SchedulerDeps } from './scheduler-ports.js';
export { closeInterruptedByRestart } from './interrupted-by-restart.js';

const HOUR = 3_600_000;

export class Scheduler {
  private timer: TimerHandle | undefined;
  private running = false;
  private plan: Occurrence[] = [];
  private planFrom = 0;
  private planTo = 0;
  private readonly prepared = new Set<string>();
  /** Occurrences due while the clock was not trusted, by key; decided once it is (or once past grace). */
  private readonly held = new Map<string, Occurrence>();
  /**
   * Occurrences given to the playback by this process, key -> start. The playback writes
   * the ledger only when audio starts, and a re-plan in the same wake (after a clock jump)
   * lists a just-fired occurrence again: this keeps it from firing twice meanwhile.
   */
  private readonly fired = new Map<string, number>();
  private offset = 0;
  private jumps = 0;
  private lastWake: number | undefined;
  /** Bumped by each replan(); a slower plan still being built for an older one is dropped. */
  private planGen = 0;
  private planning: Promise<void> = Promise.resolve();
  private longestSliceMs = 0;

  constructor(private readonly d: SchedulerDeps) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.offset = this.d.clock.now() - this.d.clock.monoMs();
    this.lastWake = this.d.clock.monoMs();
    this.replan();
    this.wake();
  }

  stop(): void {
    this.running = false;
    this.d.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.d.checkpoint.flush?.();
  }

  /** Documents changed: recompute now (in slices if the plan is large; see planned()). */
  replan(): void {
    const now = this.d.clock.now();
    const horizon = this.d.horizonMs ?? 24 * HOUR;
    const checked = this.d.checkpoint.get();
    const lookback = this.d.lookbackMs ?? 24 * HOUR;
    const from = Math.max(now - lookback, Math.min(checked ?? now - this.d.graceMs, now - this.d.graceMs));
    const to = now + horizon;
    const docs = this.d.docs();
    const gen = ++this.planGen;
    // Set now, not when the plan is installed: wake() slides the plan from planTo.
    this.planFrom = from;
    this.planTo = to;
    const occs = this.occurrencesFor(docs, { from, to });
    const collected: Occurrence[] = [];
    if (this.slice(occs, collected)) {
      this.install(collected, from, to, docs);
      return;
    }
    this.planning = this.buildRest(gen, occs, collected, from, to, docs);
    if (this.running) this.arm(); // the previous plan keeps firing meanwhile
  }

  private *occurrencesFor(docs: readonly DocInForce[], window: { from: number; to: number }): Generator<Occurrence> {
    const cancelled = this.d.cancelled ?? (() => false);
    for (const o of occurrencesIn(docs, window)) if (!cancelled(o)) yield o;
    for (const o of this.d.series?.(window) ?? []) if (!cancelled(o)) yield o;
  }

  /** The plan from now on, not yet handled (what a `cancel` counts). */
  upcoming(): Occurrence[] {
    return this.plan.filter((o) => !this.handled(o.key));
  }

  /** Resolves when the plan asked for by the last replan() is in place. */
  planned(): Promise<void> {
    return this.planning;
  }

  /**
   * The CPU time of the longest single planning slice so far, ms (bench, tests). CPU, not
   * wall time: on a loaded machine the OS may deschedule the process mid-slice, which is
   * not the agent blocking its loop (the bench measures the loop's delay directly). The
   * main thread's own CPU (deps.cpuMs), since GC threads run meanwhile.
   */
  get maxPlanSliceMs(): number {
    return this.longestSliceMs;
  }

  /** Take occurrences for at most sliceMs; true when the generator is exhausted. */
  private slice(occs: Generator<Occurrence>, into: Occurrence[]): boolean {
    const t0 = performance.now();
    const cpu0 = this.cpuMs();
    const budget = this.d.sliceMs ?? 4;
    let done = false;
    for (let n = 1; ; n++) {
      const r = occs.next();
      if (r.done) {
        done = true;
        break;
      }
      into.push(r.value);
      if ((n & 31) === 0 && performance.now() - t0 >= budget) break;
    }
    this.noteSlice(cpu0);
    return done;
  }

  private noteSlice(cpu0: number): void {
    this.longestSliceMs = Math.max(this.longestSliceMs, this.cpuMs() - cpu0);
  }

  private cpuMs(): number {
    return this.d.cpuMs();
  }

  private async buildRest(
    gen: number,
    occs: Generator<Occurrence>,
    collected: Occurrence[],
    from: number,
    to: number,
    docs: readonly DocInForce[],
  ): Promise<void> {
    for (;;) {
      await new Promise<void>((r) => setImmediate(r));
      if (gen !== this.planGen || !this.running) return; // superseded, or stopped
      if (this.slice(occs, collected)) break;
    }
    this.d.log.debug(
      { occurrences: collected.length, maxSliceMs: Math.round(this.longestSliceMs) },
      'large plan built in slices',
    );
    this.install(collected, from, to, docs);
  }

  private install(collected: Occurrence[], from: number, to: number, docs: readonly DocInForce[]): void {
    const cpu0 = this.cpuMs();
    this.plan = finishPlan(collected);
    for (const [key, start] of this.fired) if (start < from) this.fired.delete(key); // the ledger answers for those now
    this.noteSlice(cpu0);
    this.planFrom = from;
    this.planTo = to;
    this.d.onReplan?.(docs);
    if (this.running) this.arm();
    this.d.onChange?.();
  }

  /** The next occurrence not yet handled (heartbeat `next`). */
  next(): Occurrence | null {
    const now = this.d.clock.now();
    return this.plan.find((o) => o.start >= now && !this.handled(o.key)) ?? null;
  }

  /** Monotonic time of the last wake (at most maxSleepMs apart while running); the systemd watchdog's progress probe. */
  get lastWakeMono(): number | undefined {
    return this.running ? this.lastWake : undefined;
  }

  get clockJumps(): number {
    return this.jumps;
  }

  private wake(): void {
    if (!this.running) return;
    this.lastWake = this.d.clock.monoMs();
    const now = this.d.clock.now();
    const offset = now - this.d.clock.monoMs();
    const jumped = Math.abs(offset - this.offset) > (this.d.jumpThresholdMs ?? 2000);
    if (jumped) {
      this.jumps++;
      this.d.log.warn({ jumpMs: Math.round(offset - this.offset) }, 'wall clock jumped; re-planning');
      this.offset = offset;
      this.replan();
      this.d.onJump?.();
    } else {
      this.offset = offset;
    }
    this.runDue(this.d.clock.now());
    const horizon = this.d.horizonMs ?? 24 * HOUR;
    // Slide the plan: at least hourly, so the far end of the horizon is always planned.
    if (jumped || now > this.planTo - horizon + HOUR) this.replan();
    else this.arm();
  }

  /** The clock's trust changed (runtime/clock-watch.ts): decide held occurrences now, not at the next wake. */
  clockChanged(): void {
    if (!this.running) return;
    this.d.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.wake();
  }

  /** Occurrences held for the clock right now (heartbeat, tests). */
  get heldCount(): number {
    return this.held.size;
  }

  private handled(key: string): boolean {
    return this.fired.has(key) || this.d.ledger.has(key);
  }

  private fire(occ: Occurrence, lateMs: number): void {
    this.fired.set(occ.key, occ.start);
    this.d.playback.fire(occ, lateMs);
  }

  private runDue(now: number): void {
    const hold = this.d.clockHold?.() ?? TRUSTED;
    let changed = this.decideHeld(now, hold);
    if (hold.held) changed = this.holdDue(now, hold) || changed;
    for (const occ of hold.held ? [] : this.plan) {
      if (occ.start > now + (this.d.warmUpMs > 0 ? this.d.warmUpMs : 0)) break;
      if (this.handled(occ.key) || this.d.cancelled?.(occ)) continue;
      if (occ.start > now) {
        if (!this.prepared.has(occ.key)) {
          this.prepared.add(occ.key);
          this.d.playback.prepare(occ);
        }
        continue;
      }
      const lateMs = now - occ.start;
      changed = true;
      if (lateMs > this.d.graceMs) this.skip(occ, 'missed', now);
      else if (!this.d.mediaReady(occ)) this.skip(occ, 'media-missing', now);
      else this.fire(occ, lateMs);
      this.prepared.delete(occ.key);
    }
    // Everything due is handled now (fired, skipped, held, or already in the ledger). Held
    // ones are not handled: the checkpoint stays before them, so a restart plans them again.
    this.plan = this.plan.filter((o) => o.start > now);
    let through = now;
    for (const o of this.held.values()) through = Math.min(through, o.start - 1);
    this.d.checkpoint.set(through, changed);
    if (changed) this.d.onChange?.();
  }

  /**
   * Clock not trusted: occurrences due by the wall clock are held; any that corroborated
   * time puts past their grace (also ones the wall clock, behind, still shows ahead) are
   * skipped with `clock`. One document's word only holds (contract v1.2 §2.2: a source
   * that synchronises releases them). No warm-up: nothing will start on this clock.
   */
  private holdDue(now: number, hold: ClockVerdict): boolean {
    const proven = corroboratedNow(now, hold);
    let changed = false;
    for (const occ of this.plan) {
      const pastGrace = proven - occ.start > this.d.graceMs;
      if (occ.start > now && !pastGrace) break;
      if (this.handled(occ.key) || this.held.has(occ.key)) continue;
      changed = true;
      if (pastGrace) this.skip(occ, 'clock', now);
      else {
        this.held.set(occ.key, occ);
        this.d.log.info(
          { itemId: occ.itemId, docId: occ.docId, occurrence: new Date(occ.start).toISOString() },
          'occurrence held: the clock is not trusted',
        );
      }
      this.prepared.delete(occ.key);
    }
    return changed;
  }

  /** Held occurrences: skipped once past grace; once the clock is trusted, played (on time or late) or put back in the plan. */
  private decideHeld(now: number, hold: ClockVerdict): boolean {
    let changed = false;
    const proven = corroboratedNow(now, hold);
    for (const [key, occ] of this.held) {
      if (this.handled(key) || this.d.cancelled?.(occ)) {
        this.held.delete(key);
      } else if (proven - occ.start > this.d.graceMs) {
        this.held.delete(key);
        this.skip(occ, 'clock', now);
        changed = true;
      } else if (hold.held) {
        continue;
      } else if (occ.start > now) {
        this.held.delete(key); // the clock was set back: it is ahead again, and the plan fires it
        if (!this.plan.some((o) => o.key === key)) {
          const at = this.plan.findIndex((o) => o.start > occ.start);
          this.plan.splice(at < 0 ? this.plan.length : at, 0, occ);
        }
      } else {
        this.held.delete(key);
        changed = true;
        if (!this.d.mediaReady(occ)) this.skip(occ, 'media-missing', now);
        else this.fire(occ, now - occ.start);
      }
    }
    return changed;
  }

  private skip(occ: Occurrence, reason: 'missed' | 'media-missing' | 'clock', now: number): void {
    record(this.d, skippedRecord(occ, reason), now);
    this.d.log.info(
      { itemId: occ.itemId, docId: occ.docId, occurrence: new Date(occ.start).toISOString(), reason },
      'occurrence skipped',
    );
  }

  private arm(): void {
    this.d.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running) return;
    const now = this.d.clock.now();
    let at = now + (this.d.maxSleepMs ?? 30_000);
    for (const occ of this.plan) {
      if (occ.start - this.d.warmUpMs > at) break;
      if (this.handled(occ.key)) continue;
      const instant =
        this.prepared.has(occ.key) || occ.start - this.d.warmUpMs <= now ? occ.start : occ.start - this.d.warmUpMs;
      if (instant < at) at = instant;
    }
    // A held occurrence is decided as soon as its grace ends; one the lower bound already
    // puts past its grace (a plan made on a clock behind) at once.
    for (const o of this.held.values()) at = Math.min(at, o.start + this.d.graceMs + 1);
    const hold = this.d.clockHold?.() ?? TRUSTED;
    const first = hold.held ? this.plan.find((o) => !this.handled(o.key)) : undefined;
    if (first && corroboratedNow(now, hold) - first.start > this.d.graceMs) at = now;
    this.timer = this.d.clock.setTimeout(() => this.wake(), Math.max(0, at - now));
  }
}
