// One play segment, driven from its warm-up to its end: the FM tuned before its input
// opens, the input relay and the amplifier, the player's session, the failover to the
// next URL or the fallback (domain/play-source.ts decides which), and the amplifier the
// board refused (no audio into it, no `play.started`). What plays and what is recorded
// stays the coordinator's (runtime/playback.ts): this file reports back through
// `SegmentHost`, and re-checks at every await that its segment is still the live one.
import type { Clock, TimerHandle } from '../adapters/clock.js';
import type { Player, PlayerSession, PlayerSource } from '../adapters/player.js';
import type { EventSink } from '../../contract/events.js';
import type { Source } from '../../contract/schedule-doc.js';
import { EMERGENCY } from '../domain/arbitration.js';
import type { Occurrence } from '../domain/occurrences.js';
import type { LiveSource, PlaySource } from '../domain/occurrence.js';
import type { LiveSessions } from './live-session.js';
import { playFields, type SegmentFacts } from '../domain/play-records.js';
import type { Staged } from '../domain/playback-plan.js';
import type { SoundProof } from '../domain/sound-proof.js';
import { audioRefusal, planFailover, relayRefusal, streamUrls } from '../domain/play-source.js';
import type { Logger } from '../log.js';
import { inputFor, type PlaybackBoard } from './playback-board.js';
import type { Board } from '../adapters/board.js';

export interface Segment extends Staged {
  lateMs: number;
  resumed: boolean;
  session: PlayerSession | null;
  slotTimer: TimerHandle | undefined;
  /** What the board measured of its sound since it started (contract §9). */
  proof: SoundProof | null;
  /** The stream URL playing (-1: not a stream), for a move to the next one. */
  urlIndex: number;
  /** Contract §9: the amplifier was re-initialised for an output that stayed silent. */
  reinitialised: boolean;
  /**
   * Contract §9: an emergency whose every path was tried while the line stayed silent: why.
   * It plays on (a board that measures wrong must not silence a warning) and ends
   * `play.failed no-output` unless the line sounds again.
   */
  unheard: string | null;
}

export function segment(occ: Occurrence, lateMs: number, resumed: boolean): Segment {
  return {
    occ,
    source: occ.source,
    lateMs,
    resumed,
    startedAt: null,
    session: null,
    slotTimer: undefined,
    proof: null,
    urlIndex: -1,
    reinitialised: false,
    unheard: null,
    done: false,
  };
}

export const facts = (seg: Segment): SegmentFacts => ({
  occ: seg.occ,
  source: seg.source.kind,
  lateMs: seg.lateMs,
  resumed: seg.resumed,
});

/** What the driver reports to the coordinator. */
export interface SegmentHost {
  /** Is `seg` still what plays (not preempted, stopped or ended)? */
  live(seg: Segment): boolean;
  /** Audio came out at `at` (or the relay is on air). */
  started(seg: Segment, at: number): void;
  /** The file played to its end (or a live session ended, or its source went quiet). */
  end(seg: Segment, how: 'finished' | 'timeout'): void;
  fail(seg: Segment, reason: string, message: string): void;
}

export interface SegmentDeps {
  clock: Clock;
  board: Board;
  player: Player;
  events: EventSink;
  log: Logger;
  warmUpMs: number;
  /** What the player is given for an occurrence, percent of full scale. */
  volumeFor: (occ: Occurrence) => number;
  /** Verified cache file for a media, or null. */
  mediaPath: (sha256: string) => string | null;
  /** Live sessions (contract v1.2 §8); without, a live occurrence fails. */
  live?: LiveSessions;
}

export class SegmentDriver {
  constructor(
    private readonly d: SegmentDeps,
    private readonly hw: PlaybackBoard,
    private readonly host: SegmentHost,
  ) {}

  async run(seg: Segment): Promise<void> {
    const { board } = this.d;
    const src = seg.source;
    let tuneError: string | undefined;
    await this.hw.step(async () => {
      if (!this.host.live(seg)) return;
      const wasOn = board.state().amp;
      // FM is tuned before its input and the amplifier open, on every path: an ad-hoc FM
      // play once put the previous station on air for 2 s before tuning.
      if (src.kind === 'fm' && board.tuner) {
        try {
          await board.tuner.tune(src.freqMHz);
        } catch (err) {
          tuneError = `tuner: ${(err as Error).message}`;
          return;
        }
      }
      await board.selectInput(inputFor(src.kind));
      if (!wasOn) {
        // Not pre-warmed (an ad-hoc or late item): audible beats on time. An emergency
        // does not wait for the warm-up: its audio starts as fast as the player allows
        // while the amplifier comes up.
        await board.setAmp(true);
        if (seg.occ.priority < EMERGENCY) await this.sleep(this.d.warmUpMs);
      }
    });
    if (!this.host.live(seg)) return;
    if (tuneError !== undefined) return this.failover(seg, src, -1, tuneError);
    await this.playSource(seg, src, seg.occ.source.kind === 'stream' ? 0 : -1, src.kind === 'fm');
  }

  /** Play `source` for `seg`; for a stream, try its URLs from `urlIndex`, then the fallback. */
  private async playSource(seg: Segment, source: PlaySource, urlIndex: number, tuned = false): Promise<void> {
    seg.urlIndex = urlIndex;
    if (source.kind === 'live') return this.playLive(seg, source);
    if (source.kind === 'fm' || source.kind === 'line') {
      const tuner = this.d.board.tuner;
      if (source.kind === 'fm' && tuner && !tuned) {
        let tuneError: string | undefined;
        await this.hw.step(async () => {
          if (!this.host.live(seg)) return;
          try {
            await tuner.tune(source.freqMHz);
          } catch (err) {
            tuneError = `tuner: ${(err as Error).message}`;
          }
        });
        if (!this.host.live(seg)) return;
        if (tuneError) return this.failover(seg, source, urlIndex, tuneError);
      }
      await this.hw.step(() => this.d.board.selectInput(inputFor(source.kind)));
      if (!this.host.live(seg)) return;
      // Proof of play for a relay is "input relay and amplifier on": an amplifier the
      // board refused (HW_FAULT) or cannot switch (not answering) plays nothing.
      if (!this.d.board.state().amp) await this.hw.step(() => this.d.board.setAmp(true));
      if (!this.host.live(seg)) return;
      const refused = relayRefusal(this.d.board.state());
      if (refused) return this.host.fail(seg, refused.reason, refused.message);
      // A relay reached by a failover continues the segment that started before it: one
      // play.started per segment (an FM fallback to line once sent a second, and armed a
      // second slot timer).
      if (seg.startedAt === null) this.host.started(seg, this.d.clock.now());
      return;
    }
    const req = this.request(seg, source, urlIndex);
    if ('error' in req) return this.failover(seg, source, urlIndex, req.error);
    // Audio into an amplifier the board refused (HW_FAULT) sounds nowhere: no play.started
    // for it, on any source kind (a stream once reported one). A board that does not answer
    // is another matter: the amplifier may well be on, and the stream plays on.
    // A fallback after an FM or line source (or an FM tune that failed before the amplifier
    // opened): the player's input selected and the amplifier on first.
    const want = inputFor(source.kind);
    if (!this.d.board.state().amp || this.d.board.state().input !== want) {
      await this.hw.step(async () => {
        if (!this.host.live(seg)) return;
        if (this.d.board.state().input !== want) await this.d.board.selectInput(want);
        if (!this.d.board.state().amp) await this.d.board.setAmp(true);
      });
      if (!this.host.live(seg)) return;
    }
    const refused = audioRefusal(this.d.board.state());
    if (refused) return this.host.fail(seg, refused.reason, refused.message);
    const session = this.d.player.play(req);
    seg.session = session;
    let startedAt: number;
    try {
      startedAt = await session.started;
    } catch {
      const end = await session.ended;
      // Taken over meanwhile (contract §9: no output, dead air): the judge moved the segment on.
      if (!this.host.live(seg) || seg.session !== session) return;
      return this.failover(seg, source, urlIndex, `${end.message}${end.stderrTail ? `: ${end.stderrTail}` : ''}`);
    }
    if (!this.host.live(seg)) {
      await session.stop();
      return;
    }
    if (seg.startedAt === null) this.host.started(seg, startedAt);
    const end = await session.ended;
    if (!this.host.live(seg) || end.reason === 'stopped' || seg.session !== session) return;
    if (source.kind === 'file' && end.reason === 'end') return this.host.end(seg, 'finished');
    // A stream that ended or failed inside its slot has gone silent: try the next one.
    return this.failover(
      seg,
      source,
      urlIndex,
      end.reason === 'end' ? 'the stream ended before its slot' : end.message,
    );
  }

  /**
   * A live session's segment: the amplifier is on since the warm-up (the `live` command
   * fires at once); `play.started` when its first packet leaves the card. Its end: the
   * `end` chunk (finished), the source gone (interrupted, `timeout`), the card failed.
   */
  private async playLive(seg: Segment, source: LiveSource): Promise<void> {
    const live = this.d.live;
    if (!live) return this.host.fail(seg, 'live', 'this agent plays no live sessions');
    if (this.d.board.state().input !== 'ip' || !this.d.board.state().amp) {
      await this.hw.step(async () => {
        if (!this.host.live(seg)) return;
        if (this.d.board.state().input !== 'ip') await this.d.board.selectInput('ip');
        if (!this.d.board.state().amp) await this.d.board.setAmp(true);
      });
      if (!this.host.live(seg)) return;
    }
    const refused = audioRefusal(this.d.board.state());
    if (refused) return this.host.fail(seg, refused.reason, refused.message);
    // Closed while it waited (a stop, its source silent, its time up): never opened again.
    const over = live.endedAs(source.sessionId);
    if (over === 'end') return this.host.end(seg, 'finished');
    if (over === 'timeout') return this.host.end(seg, 'timeout');
    if (over !== undefined) return this.host.fail(seg, 'live', `the live session ended (${over}) before it could play`);
    const stream = live.play(source, this.d.volumeFor(seg.occ));
    seg.session = stream;
    let startedAt: number;
    try {
      startedAt = await stream.started;
    } catch (err) {
      await stream.ended;
      if (!this.host.live(seg)) return;
      // Resumed after a preemption, its source had ended or gone quiet meanwhile: the session is over, not failed.
      if (seg.resumed && stream.endReason === 'end') return this.host.end(seg, 'finished');
      if (seg.resumed && stream.endReason === 'timeout') return this.host.end(seg, 'timeout');
      return this.host.fail(seg, stream.endReason === 'timeout' ? 'timeout' : 'live', (err as Error).message);
    }
    if (!this.host.live(seg)) return void (await stream.stop());
    if (seg.startedAt === null) this.host.started(seg, startedAt);
    const end = await stream.ended;
    if (!this.host.live(seg) || end.reason === 'stopped') return;
    if (stream.endReason === 'end') return this.host.end(seg, 'finished');
    if (stream.endReason === 'timeout') return this.host.end(seg, 'timeout');
    return this.host.fail(seg, 'live', end.message);
  }

  private request(
    seg: Segment,
    source: Source,
    urlIndex: number,
  ): { source: PlayerSource; volume: number } | { error: string } {
    const volume = this.d.volumeFor(seg.occ);
    if (source.kind === 'stream') {
      const url = streamUrls(source)[urlIndex];
      return url ? { source: { kind: 'stream', url }, volume } : { error: 'no stream URL left' };
    }
    const paths = seg.occ.media
      .filter((m) => source.kind === 'file' && source.media.includes(m.id))
      .map((m) => this.d.mediaPath(m.sha256));
    if (paths.length === 0 || paths.some((p) => p === null)) return { error: 'media not in the cache' };
    return { source: { kind: 'file', paths: paths as string[] }, volume };
  }

  /**
   * Contract §9: the speaker line stayed silent while the amplifier's input carried signal.
   * The next path (the next stream URL, the fallback source), else the amplifier switched
   * off and on once; `spent` when both were tried.
   */
  async noOutput(seg: Segment, why: string): Promise<'moved' | 'reinitialised' | 'spent'> {
    if (!this.host.live(seg)) return 'spent';
    const remaining = seg.occ.end === null ? Infinity : seg.occ.end - this.d.clock.now();
    if (planFailover(seg.source, seg.urlIndex, remaining).kind === 'failover') {
      const session = seg.session;
      seg.session = null;
      await session?.stop();
      void this.failover(seg, seg.source, seg.urlIndex, why);
      return 'moved';
    }
    if (seg.reinitialised) return 'spent';
    seg.reinitialised = true;
    this.d.log.warn({ itemId: seg.occ.itemId, why }, 'no output: the amplifier is switched off and on again');
    await this.hw.step(async () => {
      if (!this.host.live(seg)) return;
      await this.d.board.setAmp(false);
      await this.d.board.setAmp(true);
    });
    return 'reinitialised';
  }

  /**
   * Contract §9: a relay's input carried dead air for `relay.deadAirS`: its next URL or
   * fallback, with `play.degraded`; where it has none, it plays on (nothing better to play).
   */
  async deadAir(seg: Segment, why: string): Promise<void> {
    if (!this.host.live(seg)) return;
    const remaining = seg.occ.end === null ? Infinity : seg.occ.end - this.d.clock.now();
    const plan = planFailover(seg.source, seg.urlIndex, remaining);
    if (plan.kind !== 'failover') return;
    const session = seg.session;
    seg.session = null;
    await session?.stop();
    if (!this.host.live(seg)) return;
    const f = playFields(seg.occ, seg.lateMs, seg.source.kind);
    this.d.events.emit('play.degraded', { ...f, from: plan.from, to: plan.to, reason: 'dead-air' });
    this.d.log.warn({ itemId: seg.occ.itemId, from: plan.from, to: plan.to, why }, 'dead air: the next path');
    seg.source = plan.source;
    await this.playSource(seg, plan.source, plan.urlIndex);
  }

  async failover(seg: Segment, source: PlaySource, urlIndex: number, why: string): Promise<void> {
    if (!this.host.live(seg)) return;
    const remaining = seg.occ.end === null ? Infinity : seg.occ.end - this.d.clock.now();
    const plan = planFailover(source, urlIndex, remaining);
    if (plan.kind === 'fail') return this.host.fail(seg, plan.reason, why);
    const { from, to } = plan;
    const f = playFields(seg.occ, seg.lateMs, seg.source.kind);
    this.d.events.emit('play.failover', { ...f, from, to, reason: why.slice(0, 300) });
    this.d.log.warn({ itemId: seg.occ.itemId, from, to, why }, 'playback failover');
    seg.source = plan.source;
    // The new path is judged afresh: the old one's silence or dead air is not its own.
    seg.proof?.newPath();
    await this.playSource(seg, plan.source, plan.urlIndex);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => this.d.clock.setTimeout(r, ms));
  }
}
