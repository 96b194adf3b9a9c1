// The playback coordinator: turns fired occurrences into sound, in the right order on
// the hardware, and keeps the proof of play.
//
// Plan, then execute: who plays (priority, preemption, a relay resumed, a repeat that
// waits, busy) is decided by domain/playback-plan.ts as a list of steps; this file holds
// the state the plan reads (`current`, `suspended`, `waiting`, the warm-up put off) and
// executes the steps: the only place that state changes. The records that go with them
// are domain/play-records.ts, written by record().
//
// Sequence: input selected and amplifier on at the warm-up (prepare), audio at the
// instant (fire), amplifier held on `holdMs` after the last item (back-to-back items
// do not click the relay) and then off with the input back to `ip`. An amplifier
// switched on for an occurrence that then does not play goes off after warm-up + hold.
//
// Proof of play: each play segment has one `play.started` (when audio actually came
// out, as the player reports it) and exactly one terminal event after it. An occurrence
// that fails before any audio gets `play.failed` alone. A relay resumed after a
// preemption gets a second `play.started` with `resumed: true` and its own terminal.
//
// Every async step re-checks that its segment is still the current one (`live`), so a
// preemption during a warm-up or a player start never leaves two things playing.
import type { Clock } from '../adapters/clock.js';
import type { LedgerStore } from '../adapters/ledger-store.js';
import type { Board, HwCondition } from '../adapters/board.js';
import type { Player } from '../adapters/player.js';
import type { EventSink } from '../../contract/events.js';
import type { Occurrence } from '../domain/occurrences.js';
import type { Playing } from '../../contract/telemetry.js';
import {
  planCancel,
  planFire,
  planHwChange,
  planNext,
  planPrepare,
  planStopAll,
  planStopItem,
  type Stage,
  type Step,
} from '../domain/playback-plan.js';
import { endRecord, failedRecord, iso, skippedRecord, startedRecord, type End } from '../domain/play-records.js';
import type { Logger } from '../log.js';
import { PlaybackBoard } from './playback-board.js';
import { facts, segment, SegmentDriver, type Segment } from './playback-segment.js';
import { record } from './record.js';
import type { Playback } from './scheduler.js';
import { LiveStream, type LiveEndReason, type LiveSessions } from './live-session.js';
import { NO_OUTPUT_MS, SILENT_OUT_DB, SoundProof } from '../domain/sound-proof.js';
import type { MeasuredPlay } from './sound-watch.js';
import { EMERGENCY } from '../domain/arbitration.js';
import type { SoundOutput } from '../../contract/events.js';

/** How a live segment's end is told in its session's `live.stats` (contract §8). */
function liveReason(how: End): LiveEndReason {
  return how === 'preempted'
    ? 'preempted'
    : how === 'finished'
      ? 'max-duration'
      : how === 'timeout'
        ? 'timeout'
        : 'stopped';
}

export { inputFor } from './playback-board.js';

export interface PlaybackDeps {
  clock: Clock;
  board: Board;
  player: Player;
  ledger: LedgerStore;
  events: EventSink;
  log: Logger;
  warmUpMs: number;
  holdMs: number;
  /** What the player is given for an occurrence, percent of full scale (runtime/volume.ts decides). */
  volumeFor: (occ: Occurrence) => number;
  /** Verified cache file for a media, or null. */
  mediaPath: (sha256: string) => string | null;
  onChange?: () => void;
  /** A board operation failed (active) or worked again (inactive); the fault tracker debounces. */
  reportHw?: (c: HwCondition) => void;
  /** Contract §9: a relay whose input is dead air this long moves on (config relay.deadAirS); unset, never. */
  deadAirMs?: number;
  /** Live sessions (contract v1.2 §8). */
  live?: LiveSessions;
  /** Each segment that sounded, with what the board measured of it (runtime/sound-watch.ts). */
  onSound?: (p: MeasuredPlay) => void;
}

/** How an occurrence fared, first thing that happened to it (the `play` command's result). */
export type Outcome =
  | { state: 'started'; startedAt: number; lateMs: number }
  | { state: 'failed'; reason: string; message: string }
  | { state: 'skipped'; reason: 'busy' }
  | { state: 'interrupted'; reason: string };

export class PlaybackCoordinator implements Playback {
  private current: Segment | null = null;
  /** `hw.fault output no_output` is raised (contract §9). */
  private noOutput = false;
  private deferred: Occurrence | undefined;
  private suspended: Segment[] = [];
  private waiting: Occurrence[] = [];
  private readonly watchers = new Map<string, (o: Outcome) => void>();
  private readonly hw: PlaybackBoard;
  private readonly driver: SegmentDriver;

  constructor(private readonly d: PlaybackDeps) {
    this.hw = new PlaybackBoard(d, () => this.current === null);
    this.driver = new SegmentDriver(d, this.hw, {
      live: (seg) => this.live(seg),
      started: (seg, at) => this.markStarted(seg, at),
      end: (seg, how) => this.end(seg, how, true),
      fail: (seg, reason, message) => this.fail(seg, reason, message),
    });
    // Contract §9: what the board measures while a segment sounds goes into its proof.
    d.board.sound?.onLevels((l) => {
      const c = this.current;
      if (!c || c.done || !c.proof) return;
      c.proof.add(l);
      this.judgeSound(c, l.outDb);
    });
  }

  /**
   * Contract §9: an output silent for NO_OUTPUT_MS (five 1 s windows) while its input carries signal
   * is `hw.fault output no_output`, and the segment tries its next path (the next stream
   * URL, the fallback, the amplifier re-initialised); an emergency with every path spent
   * fails `no-output`. An output that sounds again recovers the fault.
   */
  private judgeSound(seg: Segment, outDb: number | null): void {
    const proof = seg.proof!;
    const relay = seg.source.kind === 'stream' || seg.source.kind === 'fm' || seg.source.kind === 'line';
    if (relay && this.d.deadAirMs !== undefined && proof.deadAirMs >= this.d.deadAirMs) {
      const why = `dead air on the ${seg.source.kind} input for ${Math.round(proof.deadAirMs / 1000)} s`;
      proof.newPath();
      void this.driver.deadAir(seg, why);
      return;
    }
    if (outDb !== null && outDb >= SILENT_OUT_DB) {
      seg.unheard = null;
      if (this.noOutput) {
        this.noOutput = false;
        this.d.reportHw?.({
          component: 'output',
          code: 'no_output',
          active: false,
          message: 'the speaker line sounds again',
        });
      }
      return;
    }
    if (proof.silentRunMs < NO_OUTPUT_MS) return;
    const why = `the speaker line silent for ${Math.round(proof.silentRunMs / 1000)} s while the amplifier's input carried signal`;
    if (!this.noOutput) {
      this.noOutput = true;
      this.d.reportHw?.({ component: 'output', code: 'no_output', active: true, message: why });
    }
    proof.newPath();
    void this.driver.noOutput(seg, why).then((next) => {
      if (next !== 'spent' || seg.occ.priority < EMERGENCY || !this.live(seg) || seg.unheard) return;
      // The centre knows from hw.fault; the audio goes on in case the board measures wrong.
      seg.unheard = why;
      this.d.log.error(
        { code: 'NO_OUTPUT', itemId: seg.occ.itemId, why },
        'an emergency sounds on no path: it plays on, and will be reported play.failed no-output',
      );
    });
  }

  prepare(occ: Occurrence): void {
    this.exec(planPrepare(this.stage(), occ));
  }

  /** Resolves with the first thing that happens to the occurrence `key` once fired. */
  outcome(key: string): Promise<Outcome> {
    return new Promise((resolve) => this.watchers.set(key, resolve));
  }

  fire(occ: Occurrence, lateMs: number): void {
    this.exec(planFire(this.stage(), occ, lateMs, this.d.clock.now()));
  }

  /** The `cancel` command (issue 16): stop what plays, and drop what waits or is suspended, if `match` says so. */
  cancel(match: (occ: Occurrence) => boolean): { stopped: boolean; matched: Occurrence[] } {
    const { steps, stopped, matched } = planCancel(this.stage(), match);
    this.exec(steps);
    return { stopped, matched };
  }

  /** Stop what plays (the `stop` command, or shutdown), and put the outputs in their safe state. */
  async stopAll(reason: 'stopped' | 'agent-restart'): Promise<void> {
    this.exec(planStopAll(this.stage(), reason));
    await this.hw.settled();
  }

  /** The `stop` command with an itemId: stop it if it plays, and forget it if it was suspended. */
  async stopItem(itemId: string): Promise<number> {
    const { steps, count } = planStopItem(this.stage(), itemId);
    this.exec(steps);
    return count;
  }

  /** The occurrence playing now, for reports that concern it (a line fault during play). */
  playingOccurrence(): { itemId: string; docId: string | null; occurrence: string } | null {
    const c = this.current;
    if (!c || c.startedAt === null) return null;
    return { itemId: c.occ.itemId, docId: c.occ.docId, occurrence: iso(c.occ.start) };
  }

  /** A board condition changed: FM signal lost while an FM item plays moves it to its fallback. */
  hwChanged(c: HwCondition): void {
    this.exec(planHwChange(this.stage(), c));
  }

  /** The level in force changed (a quiet-hours window, a volume command): what plays follows it now. */
  levelChanged(): void {
    const seg = this.current;
    if (seg && !seg.done && seg.session) seg.session.setVolume(this.d.volumeFor(seg.occ));
  }

  playing(): Playing | null {
    const c = this.current;
    if (!c || c.startedAt === null) return null;
    return {
      itemId: c.occ.itemId,
      docId: c.occ.docId,
      source: c.source.kind,
      startedAt: iso(c.startedAt),
      priority: c.occ.priority,
      ...(c.source.kind === 'live' ? { sessionId: c.source.sessionId } : {}),
    };
  }

  // --- the executor -------------------------------------------------------------------

  private stage(): Stage<Segment> {
    return { current: this.current, suspended: this.suspended, waiting: this.waiting, deferred: this.deferred };
  }

  private exec(steps: Step<Segment>[]): void {
    for (const s of steps) this.step(s);
  }

  private step(s: Step<Segment>): void {
    switch (s.kind) {
      case 'defer-warm-up':
        this.deferred = s.occ;
        return;
      case 'forget-warm-up':
        this.deferred = undefined;
        return;
      case 'warm-up':
        this.deferred = undefined;
        return this.hw.warmUp(s.occ.source);
      case 'wait':
        this.waiting = [...this.waiting, s.occ];
        this.d.log.info({ itemId: s.occ.itemId, repeat: s.occ.repeat }, 'repeat waits for the speaker');
        return;
      case 'unwait':
        this.waiting = this.waiting.filter((w) => w !== s.occ);
        return;
      case 'skip':
        this.waiting = this.waiting.filter((w) => w !== s.occ);
        record(this.d, skippedRecord(s.occ, s.reason), this.d.clock.now());
        return this.settle(s.occ.key, { state: 'skipped', reason: 'busy' });
      case 'drop':
        this.waiting = this.waiting.filter((w) => w !== s.occ);
        return this.end(segment(s.occ, Math.max(0, this.d.clock.now() - s.occ.start), false), s.how, false);
      case 'end':
        return this.end(s.seg, s.how, s.thenNext);
      case 'suspend':
        this.suspended.push(s.seg);
        return;
      case 'forget':
        this.suspended = this.suspended.filter((x) => !s.segs.includes(x));
        // A live session that will not resume is over: unsubscribed, its last live.stats sent.
        for (const x of s.segs) if (x.source.kind === 'live') this.d.live?.close(x.source.sessionId, 'preempted');
        return;
      case 'resume':
        this.suspended = this.suspended.filter((x) => x !== s.seg);
        return;
      case 'start':
        return this.begin(segment(s.occ, s.lateMs, s.resumed));
      case 'failover':
        void this.driver.failover(s.seg, s.seg.source, -1, s.why);
        return;
      case 'release':
        return this.hw.release();
      case 'silence':
        void this.hw.silence();
        return;
    }
  }

  private settle(key: string, o: Outcome): void {
    const w = this.watchers.get(key);
    if (!w) return;
    this.watchers.delete(key);
    w(o);
  }

  /** Close a segment with its terminal record; then, with `thenNext`, what plays next. */
  private end(seg: Segment, how: End, thenNext: boolean): void {
    if (seg.done) return;
    if (seg.unheard && (how === 'finished' || how === 'timeout'))
      return this.fail(seg, 'no-output', `${seg.unheard}; it played on to its end, unheard`);
    seg.done = true;
    this.d.clock.clearTimeout(seg.slotTimer);
    if (seg.session instanceof LiveStream) void seg.session.stopAs(liveReason(how));
    else void seg.session?.stop();
    const now = this.d.clock.now();
    const output = this.output(seg, now);
    record(this.d, endRecord(facts(seg), seg.startedAt, how, now, output), now);
    if (output && seg.proof)
      this.d.onSound?.({
        itemId: seg.occ.itemId,
        output,
        gainDb: seg.proof.gainDb(),
        gainWindows: seg.proof.gainWindows,
      });
    if (seg.startedAt === null) this.settle(seg.occ.key, { state: 'interrupted', reason: how });
    if (this.current === seg) this.current = null;
    if (thenNext) this.exec(planNext(this.stage(), now));
    this.d.onChange?.();
  }

  private fail(seg: Segment, reason: string, message: string): void {
    if (seg.done) return;
    seg.done = true;
    this.d.clock.clearTimeout(seg.slotTimer);
    void seg.session?.stop();
    const now = this.d.clock.now();
    record(this.d, failedRecord(facts(seg), reason, message), now);
    this.settle(seg.occ.key, { state: 'failed', reason, message });
    this.d.log.warn({ code: 'PLAY_FAILED', itemId: seg.occ.itemId, reason, message }, 'play failed');
    if (this.current === seg) {
      this.current = null;
      this.exec(planNext(this.stage(), now));
    }
    this.d.onChange?.();
  }

  // --- one segment ----------------------------------------------------------------------

  private begin(seg: Segment): void {
    this.hw.keepOn();
    this.current = seg;
    void this.driver.run(seg).catch((err: unknown) => {
      this.d.log.error({ code: 'INTERNAL', err, itemId: seg.occ.itemId }, 'playback failed');
      if (this.live(seg)) this.fail(seg, 'internal', (err as Error).message);
    });
  }

  private live(seg: Segment): boolean {
    return this.current === seg && !seg.done;
  }

  /** Contract §9: what was measured of a segment that sounded; `measured: false` where nothing was. */
  private output(seg: Segment, now: number): SoundOutput | undefined {
    if (seg.startedAt === null) return undefined;
    return seg.proof?.result(Math.max(0, now - seg.startedAt)) ?? { measured: false };
  }

  private markStarted(seg: Segment, at: number): void {
    seg.startedAt = at;
    seg.proof = new SoundProof();
    seg.lateMs = Math.max(0, at - seg.occ.start);
    record(this.d, startedRecord(facts(seg), at), this.d.clock.now());
    this.settle(seg.occ.key, { state: 'started', startedAt: at, lateMs: seg.lateMs });
    this.d.log.info(
      { itemId: seg.occ.itemId, source: seg.source.kind, lateMs: seg.lateMs, resumed: seg.resumed },
      'playing',
    );
    if (seg.occ.end !== null && seg.occ.source.kind !== 'file') {
      seg.slotTimer = this.d.clock.setTimeout(
        () => this.end(seg, 'finished', true),
        Math.max(0, seg.occ.end - this.d.clock.now()),
      );
    } else if (seg.occ.durationMs !== null) {
      // A file item with durationS ends when its media end or durationS after it really started.
      seg.slotTimer = this.d.clock.setTimeout(
        () => this.end(seg, 'finished', true),
        Math.max(0, at + seg.occ.durationMs - this.d.clock.now()),
      );
    }
    this.d.onChange?.();
  }
}
