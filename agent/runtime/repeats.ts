// Repeat until cancelled, on the box (issue 16 item 1; docs/protocol.md §3, §4, §7).
//
// - A `play` command with `repeat` becomes a series kept in the replay state (beside the
//   database, written atomically): its first play is the command itself, its repeats are
//   occurrences the scheduler plans like a schedule's (series()), so they fire on time,
//   are in the ledger once, and after a restart continue at their cadence (the ones that
//   fell in the downtime are `missed`, as any occurrence).
// - Schedule items with `repeat` need nothing here: their series follow from the
//   document (domain/occurrences.ts).
// - A `cancel` stops what plays if it matches, drops matching repeats waiting for the
//   speaker, and is remembered (replay state) so that no matching series that had begun
//   by then plays again, after a restart too; a `play` command it names (by cmdId or
//   capId) that arrives later is refused if it was issued before the cancel (v1.2: a
//   cancel never pre-empts a later alert).
import type { Clock } from '../adapters/clock.js';
import type { ReplayState } from '../adapters/replay-state.js';
import type { CancelDoc, CommandDoc } from '../../contract/command-doc.js';
import type { Occurrence } from '../domain/occurrences.js';
import { cancelledBy, commandOccurrences, namedBy, type CancelRecord, type CommandSeries } from '../domain/repeat.js';
import type { Logger } from '../log.js';

export interface RepeatDeps {
  clock: Clock;
  log: Logger;
  replay: ReplayState;
  /** The playback coordinator's cancel (runtime/playback.ts). */
  stopMatching(match: (occ: Occurrence) => boolean): { stopped: boolean; matched: Occurrence[] };
  /** The scheduler's plan from now on. */
  upcoming(): readonly Occurrence[];
  replan(): void;
  /** expiresAt (epoch ms) of a document in force, if any: a cancel is kept as long as what it cancels may come back. */
  docExpiry(docId: string): number | undefined;
}

/** A cancel is kept at least this long past its own expiry (a clock behind, as command ids). */
const KEEP_AFTER_EXPIRY_MS = 24 * 3_600_000;

export class Repeats {
  constructor(private readonly d: RepeatDeps) {}

  /** The scheduler's `series` dep: the repeats of `play` commands in a window. */
  series(window: { from: number; to: number }): Iterable<Occurrence> {
    return commandOccurrences(this.d.replay.allSeries(), window);
  }

  /** The scheduler's `cancelled` dep. */
  cancelled(occ: Occurrence): boolean {
    return this.d.replay.allCancels().some((c) => cancelledBy(c, occ));
  }

  /**
   * A cancel received before this `play` command that names it (by cmdId or capId) and
   * was issued after it, if any. A cancel never pre-empts a later alert: an unsigned CAP
   * Cancel naming an identifier not yet issued must not silence the real alert when it
   * comes (a command delayed past its cancel is still refused).
   */
  cancelFor(doc: Extract<CommandDoc, { action: 'play' }>): CancelRecord | undefined {
    const capId = doc.capRef?.identifier;
    const issued = Date.parse(doc.issuedAt);
    return this.d.replay
      .allCancels()
      .find(
        (c) =>
          (c.cmdId !== undefined || c.capId !== undefined) &&
          (c.issuedAt === undefined || issued <= c.issuedAt) &&
          namedBy(c, { docId: null, itemId: doc.id, cmdId: doc.id, ...(capId !== undefined ? { capId } : {}) }),
      );
  }

  /** A `play` command's first play started its series at `s.first`: keep it and plan its repeats. */
  add(s: CommandSeries): void {
    this.d.replay.putSeries(s);
    this.d.replay.save();
    this.d.log.info(
      { cmdId: s.cmdId, everyS: s.repeat.everyS, until: s.repeat.until, count: s.repeat.count },
      'repeat series started',
    );
    this.d.replan();
  }

  /** The `cancel` command: `{cancelled: n, stopped}`, n counting each series (or single play) stopped or dropped once. */
  cancel(doc: CancelDoc): { cancelled: number; stopped: boolean } {
    const now = this.d.clock.now();
    const a = doc.args;
    const rec: CancelRecord = {
      ...a,
      id: doc.id,
      at: now,
      issuedAt: Date.parse(doc.issuedAt),
      keepUntil: Date.parse(doc.expiresAt) + KEEP_AFTER_EXPIRY_MS,
    };
    const series = new Set<string>();
    const key = (o: Occurrence) => `${o.docId ?? 'cmd'}/${o.itemId}/${o.seriesStart ?? o.start}`;
    for (const o of this.d.upcoming()) {
      if (!cancelledBy(rec, o)) continue;
      series.add(key(o));
      if (o.docId !== null)
        rec.keepUntil = Math.max(rec.keepUntil, (this.d.docExpiry(o.docId) ?? 0) + KEEP_AFTER_EXPIRY_MS);
    }
    for (const s of this.d.replay.allSeries()) {
      if (
        !namedBy(a, {
          docId: null,
          itemId: s.cmdId,
          cmdId: s.cmdId,
          ...(s.capId !== undefined ? { capId: s.capId } : {}),
        })
      )
        continue;
      series.add(`cmd/${s.cmdId}/${s.first}`);
      rec.keepUntil = Math.max(rec.keepUntil, Date.parse(s.expiresAt) + KEEP_AFTER_EXPIRY_MS);
      this.d.replay.dropSeries(s.cmdId);
    }
    // Remembered before anything is stopped: a crash in between must not bring a series back.
    this.d.replay.putCancel(rec);
    this.d.replay.save();
    const { stopped, matched } = this.d.stopMatching((o) => namedBy(a, o));
    for (const o of matched) series.add(key(o));
    this.d.replan();
    this.d.log.info({ cmdId: doc.id, ...a, cancelled: series.size, stopped }, 'cancel');
    return { cancelled: series.size, stopped };
  }
}
