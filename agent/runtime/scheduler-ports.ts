// The scheduler's ports (runtime/scheduler.ts): what it drives (the playback), where it
// keeps how far occurrences were handled (the checkpoint), and everything else it is
// given at construction, with the defaults it applies.
import type { Clock } from '../adapters/clock.js';
import type { LedgerStore } from '../adapters/ledger-store.js';
import type { EventSink } from '../../contract/events.js';
import type { Logger } from '../log.js';
import type { DocInForce, Occurrence } from '../domain/occurrences.js';
import type { ClockVerdict } from '../domain/clock-trust.js';

/** What the scheduler drives: the playback coordinator (runtime/playback.ts) on the real player and board. */
export interface Playback {
  /** The amplifier warm-up moment for `occ` has come (start - warmUpMs). */
  prepare(occ: Occurrence): void;
  /** Start `occ` now. The playback arbitrates, writes the ledger and emits play.* events. */
  fire(occ: Occurrence, lateMs: number): void;
}

export interface CheckpointStore {
  get(): number | undefined;
  /**
   * Occurrences are handled through `ms`. `durable`: write it to disk now (an occurrence
   * was handled); otherwise the store may keep it in memory for a while (adapters/meta-store.ts).
   */
  set(ms: number, durable?: boolean): void;
  /** Write what is in memory (a clean stop). */
  flush?(): void;
}

export interface SchedulerDeps {
  clock: Clock;
  log: Logger;
  docs: () => readonly DocInForce[];
  ledger: LedgerStore;
  events: EventSink;
  playback: Playback;
  /** Is every media file of this occurrence verified in the cache? */
  mediaReady: (occ: Occurrence) => boolean;
  checkpoint: CheckpointStore;
  warmUpMs: number;
  graceMs: number;
  /** How far ahead occurrences are planned (and re-planned when it slides). */
  horizonMs?: number;
  /** How far back, after downtime, occurrences are still reported as missed. */
  lookbackMs?: number;
  maxSleepMs?: number;
  jumpThresholdMs?: number;
  /** Called after each firing or skip, and on re-plan (heartbeat kick). */
  onChange?: () => void;
  /** Called with the documents in force whenever the plan is recomputed (cache needs). */
  onReplan?: (docs: readonly DocInForce[]) => void;
  /** May occurrences fire on the wall clock now? Default: always (runtime/clock-watch.ts decides in the agent). */
  clockHold?: () => ClockVerdict;
  /** The wall clock jumped (the clock watch asks its sources again). */
  onJump?: () => void;
  /** Occurrences not from documents: the repeats of `play` commands (runtime/repeats.ts). */
  series?: (window: { from: number; to: number }) => Iterable<Occurrence>;
  /** Is this occurrence cancelled (a `cancel` command)? It is then neither planned nor fired. */
  cancelled?: (occ: Occurrence) => boolean;
  /** Longest slice of planning work between yields to the event loop (default 4 ms: it shares its loop turn with the accept that asked for it, whose verification and fsyncs come first). */
  sliceMs?: number;
  /** This thread's CPU time in ms, for maxPlanSliceMs (adapters/thread-cpu.ts threadCpuClock). */
  cpuMs: () => number;
}
