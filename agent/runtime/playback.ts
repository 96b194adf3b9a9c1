// The playback coordinator: turns fired occurrences into sound, in the right order on
// the hardware, and keeps the proof of play.
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
import type { Clock, TimerHandle } from '../adapters/clock.js';
import type { LedgerStore } from '../adapters/ledger-store.js';
import type { Board, AudioInput, HwCondition } from '../adapters/board.js';
import type { Player, PlayerSession, PlayerSource } from '../adapters/player.js';
import type { EventSink, EventFields, SourceKind } from '../../contract/events.js';
import type { Occurrence } from '../domain/occurrences.js';
import type { Source } from '../../contract/schedule-doc.js';
import type { Playing } from '../../contract/telemetry.js';
import { arbitrate, canResume, pickResume } from '../domain/arbitration.js';
import { seriesFields } from '../domain/repeat.js';
import type { Logger } from '../log.js';
import type { Playback } from './scheduler.js';

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
}

type End = 'finished' | 'preempted' | 'stopped' | 'agent-restart' | 'hardware' | 'cancelled';

/** How an occurrence fared, first thing that happened to it (the `play` command's result). */
export type Outcome =
  | { state: 'started'; startedAt: number; lateMs: number }
  | { state: 'failed'; reason: string; message: string }
  | { state: 'skipped'; reason: 'busy' }
  | { state: 'interrupted'; reason: string };

interface Segment {
  occ: Occurrence;
  /** What is playing now: the item's source or its fallback. */
  source: Source;
  lateMs: number;
  resumed: boolean;
  startedAt: number | null;
  session: PlayerSession | null;
  slotTimer: TimerHandle | undefined;
  done: boolean;
}

export function inputFor(kind: SourceKind): AudioInput {
  return kind === 'fm' ? 'fm' : kind === 'line' ? 'line' : 'ip';
}

export class PlaybackCoordinator implements Playback {
  private current: Segment | null = null;
  /** A warm-up that came while something else played: done when that ends, if still ahead. */
  private deferredPrepare: Occurrence | undefined;
  private suspended: Segment[] = [];
  /** Repeats (issue 16) that found an equal or higher priority playing: they play when it ends, late. */
  private waiting: Occurrence[] = [];
  private ampOffTimer: TimerHandle | undefined;
  private hw: Promise<void> = Promise.resolve();
  private readonly watchers = new Map<string, (o: Outcome) => void>();

  constructor(private readonly d: PlaybackDeps) {}

  prepare(occ: Occurrence): void {
    const cur = this.current;
    // Something else plays: switching the input now would cut it off early. The amp is on
    // anyway, but it may go off (after ampHoldMs) if that ends before this starts: the
    // warm-up is then done when it ends (afterEnd), or this would start warmUpMs late.
    if (cur) {
      this.deferredPrepare = occ;
      return;
    }
    this.deferredPrepare = undefined;
    this.d.clock.clearTimeout(this.ampOffTimer);
    const src = occ.source;
    this.hwStep(async () => {
      // Tune during the warm-up so the receiver has settled at the instant; a failure is
      // retried (and failed over) when the occurrence fires.
      if (src.kind === 'fm' && this.d.board.tuner) await this.d.board.tuner.tune(src.freqMHz).catch(() => undefined);
      await this.d.board.selectInput(inputFor(src.kind));
      await this.d.board.setAmp(true);
    });
    // If the occurrence then does not play (skipped, media missing), the amplifier goes off.
    this.armAmpOff(this.d.warmUpMs + this.d.holdMs + 1000);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => this.d.clock.setTimeout(r, ms));
  }

  /** Resolves with the first thing that happens to the occurrence `key` once fired. */
  outcome(key: string): Promise<Outcome> {
    return new Promise((resolve) => this.watchers.set(key, resolve));
  }

  private settle(key: string, o: Outcome): void {
    const w = this.watchers.get(key);
    if (!w) return;
    this.watchers.delete(key);
    w(o);
  }

  fire(occ: Occurrence, lateMs: number): void {
    if (this.deferredPrepare?.key === occ.key) this.deferredPrepare = undefined;
    // A repeat never cuts off an equal priority, an emergency included, nor skips as busy: it waits.
    if ((occ.repeat ?? 1) > 1 && this.current && occ.priority <= this.current.occ.priority) return this.wait(occ);
    const decision = arbitrate(this.current ? { priority: this.current.occ.priority } : null, occ);
    if (decision.action === 'skip') return this.skip(occ, 'busy');
    if (this.current) {
      const victim = this.current;
      this.end(victim, 'preempted');
      if (
        canResume(
          { kind: victim.source.kind, priority: victim.occ.priority, slotEnd: victim.occ.end },
          this.d.clock.now(),
        )
      )
        this.suspended.push(victim);
    }
    this.begin({
      occ,
      source: occ.source,
      lateMs,
      resumed: false,
      startedAt: null,
      session: null,
      slotTimer: undefined,
      done: false,
    });
  }

  private skip(occ: Occurrence, reason: 'busy' | 'missed'): void {
    const occurrence = iso(occ.start);
    this.d.ledger.set(
      { key: occ.key, docId: occ.docId, itemId: occ.itemId, occurrence, state: 'skipped', detail: reason },
      this.d.clock.now(),
    );
    this.d.events.emit('play.skipped', {
      itemId: occ.itemId,
      docId: occ.docId,
      occurrence,
      reason,
      ...(occ.cmdId ? { cmdId: occ.cmdId } : {}),
      ...seriesFields(occ),
    });
    this.settle(occ.key, { state: 'skipped', reason: 'busy' });
  }

  /** A repeat never skips as busy: it waits; one still waiting when its series' next repeat comes is skipped (`missed`). */
  private wait(occ: Occurrence): void {
    const same = (w: Occurrence) =>
      w.itemId === occ.itemId && w.docId === occ.docId && w.seriesStart === occ.seriesStart;
    for (const w of this.waiting.filter(same)) this.skip(w, 'missed');
    this.waiting = [...this.waiting.filter((w) => !same(w)), occ];
    this.d.log.info({ itemId: occ.itemId, repeat: occ.repeat }, 'repeat waits for the speaker');
  }

  /** Close a waiting repeat that will not play (cancelled, stopped) with its one terminal event. */
  private dropWaiting(occ: Occurrence, how: End): void {
    this.waiting = this.waiting.filter((w) => w !== occ);
    const lateMs = Math.max(0, this.d.clock.now() - occ.start);
    this.end(
      {
        occ,
        source: occ.source,
        lateMs,
        resumed: false,
        startedAt: null,
        session: null,
        slotTimer: undefined,
        done: false,
      },
      how,
      false,
    );
  }

  /** The `cancel` command (issue 16): stop what plays, and drop what waits or is suspended, if `match` says so. */
  cancel(match: (occ: Occurrence) => boolean): { stopped: boolean; matched: Occurrence[] } {
    const matched: Occurrence[] = [];
    for (const w of this.waiting.filter(match)) {
      matched.push(w);
      this.dropWaiting(w, 'cancelled');
    }
    for (const s of this.suspended.filter((x) => match(x.occ))) matched.push(s.occ);
    this.suspended = this.suspended.filter((x) => !match(x.occ));
    if (this.deferredPrepare && match(this.deferredPrepare)) this.deferredPrepare = undefined;
    const cur = this.current;
    if (!cur || !match(cur.occ)) return { stopped: false, matched };
    matched.push(cur.occ);
    this.end(cur, 'cancelled');
    return { stopped: true, matched };
  }

  /** Stop what plays (the `stop` command, or shutdown), and put the outputs in their safe state. */
  async stopAll(reason: 'stopped' | 'agent-restart'): Promise<void> {
    this.suspended = [];
    for (const w of this.waiting) this.dropWaiting(w, reason);
    if (this.current) this.end(this.current, reason, false);
    this.d.clock.clearTimeout(this.ampOffTimer);
    await this.hwStep(async () => {
      await this.d.board.setAmp(false);
      await this.d.board.selectInput('ip');
    });
  }

  /** The `stop` command with an itemId: stop it if it plays, and forget it if it was suspended. */
  async stopItem(itemId: string): Promise<number> {
    let n = 0;
    const before = this.suspended.length;
    this.suspended = this.suspended.filter((s) => s.occ.itemId !== itemId);
    n += before - this.suspended.length;
    if (this.current?.occ.itemId === itemId) {
      this.end(this.current, 'stopped');
      n++;
    }
    return n;
  }

  /** The occurrence playing now, for reports that concern it (a line fault during play). */
  playingOccurrence(): { itemId: string; docId: string | null; occurrence: string } | null {
    const c = this.current;
    if (!c || c.startedAt === null) return null;
    return { itemId: c.occ.itemId, docId: c.occ.docId, occurrence: iso(c.occ.start) };
  }

  /**
   * A board condition changed. FM signal lost while an FM item plays moves it to its
   * fallback, as a failed stream does (contract §3); without one it stays on FM.
   */
  hwChanged(c: HwCondition): void {
    const seg = this.current;
    if (!c.active || c.component !== 'fm' || !seg || seg.done || seg.source.kind !== 'fm' || seg.startedAt === null)
      return;
    // Without a fallback the relay stays on FM: the signal may come back, and the
    // hw.fault fm no_signal already tells the centre.
    if (!seg.source.fallback) return;
    void this.failover(seg, seg.source, -1, c.message);
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
    };
  }

  // --- segments ---------------------------------------------------------------------

  private begin(seg: Segment): void {
    this.d.clock.clearTimeout(this.ampOffTimer);
    this.current = seg;
    void this.run(seg).catch((err: unknown) => {
      this.d.log.error({ code: 'INTERNAL', err, itemId: seg.occ.itemId }, 'playback failed');
      if (this.live(seg)) this.fail(seg, 'internal', (err as Error).message);
    });
  }

  private live(seg: Segment): boolean {
    return this.current === seg && !seg.done;
  }

  private async run(seg: Segment): Promise<void> {
    const { board } = this.d;
    const src = seg.source;
    let tuneError: string | undefined;
    await this.hwStep(async () => {
      if (!this.live(seg)) return;
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
        if (seg.occ.priority < 100) await this.sleep(this.d.warmUpMs);
      }
    });
    if (!this.live(seg)) return;
    if (tuneError !== undefined) return this.failover(seg, src, -1, tuneError);
    await this.playSource(seg, src, seg.occ.source.kind === 'stream' ? 0 : -1, src.kind === 'fm');
  }

  /** Play `source` for `seg`; for a stream, try its URLs from `urlIndex`, then the fallback. */
  private async playSource(seg: Segment, source: Source, urlIndex: number, tuned = false): Promise<void> {
    if (source.kind === 'fm' || source.kind === 'line') {
      const tuner = this.d.board.tuner;
      if (source.kind === 'fm' && tuner && !tuned) {
        let tuneError: string | undefined;
        await this.hwStep(async () => {
          if (!this.live(seg)) return;
          try {
            await tuner.tune(source.freqMHz);
          } catch (err) {
            tuneError = `tuner: ${(err as Error).message}`;
          }
        });
        if (!this.live(seg)) return;
        if (tuneError) return this.failover(seg, source, urlIndex, tuneError);
      }
      await this.hwStep(() => this.d.board.selectInput(inputFor(source.kind)));
      if (!this.live(seg)) return;
      // Proof of play for a relay is "input relay and amplifier on": an amplifier the
      // board refused (HW_FAULT) or cannot switch (not answering) plays nothing.
      if (!this.d.board.state().amp) await this.hwStep(() => this.d.board.setAmp(true));
      if (!this.live(seg)) return;
      if (!this.d.board.state().amp)
        return this.fail(
          seg,
          'hardware',
          'the amplifier is off: the board refused to switch it on or does not answer (see hw.fault)',
        );
      this.markStarted(seg, this.d.clock.now());
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
      await this.hwStep(async () => {
        if (!this.live(seg)) return;
        if (this.d.board.state().input !== want) await this.d.board.selectInput(want);
        if (!this.d.board.state().amp) await this.d.board.setAmp(true);
      });
      if (!this.live(seg)) return;
    }
    const amp = this.d.board.state();
    if (!amp.amp && amp.ampFault)
      return this.fail(seg, 'hardware', 'the amplifier is off: the board refused to switch it on (see hw.fault amp)');
    const session = this.d.player.play(req);
    seg.session = session;
    let startedAt: number;
    try {
      startedAt = await session.started;
    } catch {
      const end = await session.ended;
      if (!this.live(seg)) return;
      return this.failover(seg, source, urlIndex, `${end.message}${end.stderrTail ? `: ${end.stderrTail}` : ''}`);
    }
    if (!this.live(seg)) {
      await session.stop();
      return;
    }
    if (seg.startedAt === null) this.markStarted(seg, startedAt);
    const end = await session.ended;
    if (!this.live(seg) || end.reason === 'stopped') return;
    if (source.kind === 'file' && end.reason === 'end') return this.end(seg, 'finished');
    // A stream that ended or failed inside its slot has gone silent: try the next one.
    return this.failover(
      seg,
      source,
      urlIndex,
      end.reason === 'end' ? 'the stream ended before its slot' : end.message,
    );
  }

  private request(
    seg: Segment,
    source: Source,
    urlIndex: number,
  ): { source: PlayerSource; volume: number } | { error: string } {
    const volume = this.d.volumeFor(seg.occ);
    if (source.kind === 'stream') {
      const urls = source.urls ?? (source.url ? [source.url] : []);
      const url = urls[urlIndex];
      return url ? { source: { kind: 'stream', url }, volume } : { error: 'no stream URL left' };
    }
    const paths = seg.occ.media
      .filter((m) => source.kind === 'file' && source.media.includes(m.id))
      .map((m) => this.d.mediaPath(m.sha256));
    if (paths.length === 0 || paths.some((p) => p === null)) return { error: 'media not in the cache' };
    return { source: { kind: 'file', paths: paths as string[] }, volume };
  }

  private async failover(seg: Segment, source: Source, urlIndex: number, why: string): Promise<void> {
    if (!this.live(seg)) return;
    const urls = source.kind === 'stream' ? (source.urls ?? (source.url ? [source.url] : [])) : [];
    const from = source.kind === 'stream' ? (urls[urlIndex] ?? 'stream') : source.kind;
    const remaining = seg.occ.end === null ? Infinity : seg.occ.end - this.d.clock.now();
    let next: { source: Source; urlIndex: number } | null = null;
    if (remaining > 1000) {
      if (source.kind === 'stream' && urlIndex + 1 < urls.length) next = { source, urlIndex: urlIndex + 1 };
      else if ((source.kind === 'stream' || source.kind === 'fm') && source.fallback)
        next = { source: source.fallback, urlIndex: -1 };
    }
    if (!next) return this.fail(seg, source.kind === 'stream' ? 'stream' : source.kind === 'fm' ? 'fm' : 'player', why);
    const to = next.source.kind === 'stream' ? (urls[next.urlIndex] ?? 'stream') : `fallback:${next.source.kind}`;
    this.d.events.emit('play.failover', { ...this.fields(seg), from, to, reason: why.slice(0, 300) });
    this.d.log.warn({ itemId: seg.occ.itemId, from, to, why }, 'playback failover');
    seg.source = next.source;
    await this.playSource(seg, next.source, next.urlIndex);
  }

  private markStarted(seg: Segment, at: number): void {
    seg.startedAt = at;
    seg.lateMs = Math.max(0, at - seg.occ.start);
    const f = this.fields(seg);
    this.d.ledger.set(
      {
        key: seg.occ.key,
        docId: seg.occ.docId,
        itemId: seg.occ.itemId,
        occurrence: f.occurrence,
        state: 'started',
        detail: JSON.stringify({
          startedAt: at,
          lateMs: seg.lateMs,
          docVersion: seg.occ.docVersion,
          source: seg.source.kind,
          priority: seg.occ.priority,
          ...seriesFields(seg.occ),
        }),
      },
      this.d.clock.now(),
    );
    this.d.events.emit('play.started', seg.resumed ? { ...f, resumed: true } : f);
    this.settle(seg.occ.key, { state: 'started', startedAt: at, lateMs: seg.lateMs });
    this.d.log.info(
      { itemId: seg.occ.itemId, source: seg.source.kind, lateMs: seg.lateMs, resumed: seg.resumed },
      'playing',
    );
    if (seg.occ.end !== null && seg.occ.source.kind !== 'file') {
      seg.slotTimer = this.d.clock.setTimeout(
        () => this.end(seg, 'finished'),
        Math.max(0, seg.occ.end - this.d.clock.now()),
      );
    } else if (seg.occ.durationMs !== null) {
      // A file item with durationS ends when its media end or durationS after it really started.
      seg.slotTimer = this.d.clock.setTimeout(
        () => this.end(seg, 'finished'),
        Math.max(0, at + seg.occ.durationMs - this.d.clock.now()),
      );
    }
    this.d.onChange?.();
  }

  /** Close a segment with its terminal event; then resume a suspended relay or let the amp go. */
  private end(seg: Segment, how: End, thenResume = true): void {
    if (seg.done) return;
    seg.done = true;
    this.d.clock.clearTimeout(seg.slotTimer);
    void seg.session?.stop();
    const now = this.d.clock.now();
    if (seg.startedAt !== null) {
      const f = this.fields(seg);
      const playedMs = Math.max(0, now - seg.startedAt);
      const state = how === 'finished' ? 'finished' : 'interrupted';
      this.d.ledger.set(
        {
          key: seg.occ.key,
          docId: seg.occ.docId,
          itemId: seg.occ.itemId,
          occurrence: f.occurrence,
          state,
          detail: how,
        },
        now,
      );
      if (how === 'finished') this.d.events.emit('play.finished', { ...f, playedMs });
      else this.d.events.emit('play.interrupted', { ...f, playedMs, reason: how });
    } else {
      // Preempted or stopped during its warm-up, before any audio: still one terminal event.
      const f = this.fields(seg);
      this.d.ledger.set(
        {
          key: seg.occ.key,
          docId: seg.occ.docId,
          itemId: seg.occ.itemId,
          occurrence: f.occurrence,
          state: 'interrupted',
          detail: how,
        },
        now,
      );
      this.d.events.emit('play.interrupted', { ...f, playedMs: 0, reason: how === 'finished' ? 'stopped' : how });
      this.settle(seg.occ.key, { state: 'interrupted', reason: how });
    }
    if (this.current === seg) this.current = null;
    if (thenResume) this.afterEnd();
    this.d.onChange?.();
  }

  private fail(seg: Segment, reason: string, message: string, thenResume = true): void {
    if (seg.done) return;
    seg.done = true;
    this.d.clock.clearTimeout(seg.slotTimer);
    void seg.session?.stop();
    const now = this.d.clock.now();
    const f = this.fields(seg);
    this.d.ledger.set(
      {
        key: seg.occ.key,
        docId: seg.occ.docId,
        itemId: seg.occ.itemId,
        occurrence: f.occurrence,
        state: 'failed',
        detail: reason,
      },
      now,
    );
    this.d.events.emit('play.failed', { ...f, reason, message: message.slice(0, 500) });
    this.settle(seg.occ.key, { state: 'failed', reason, message });
    this.d.log.warn({ code: 'PLAY_FAILED', itemId: seg.occ.itemId, reason, message }, 'play failed');
    if (this.current === seg) {
      this.current = null;
      if (thenResume) this.afterEnd();
    }
    this.d.onChange?.();
  }

  private afterEnd(): void {
    if (this.current) return;
    const now = this.d.clock.now();
    const { resume, expired } = pickResume(
      this.suspended.map((s) => ({ seg: s, kind: s.source.kind, priority: s.occ.priority, slotEnd: s.occ.end })),
      now,
    );
    // A waiting repeat of at least the priority of the relay to resume goes first (the relay stays suspended).
    const waiter = this.waiting.reduce<Occurrence | undefined>(
      (best, w) => (!best || w.priority > best.priority ? w : best),
      undefined,
    );
    if (waiter && (!resume || waiter.priority >= resume.priority)) {
      this.suspended = this.suspended.filter((s) => !expired.some((e) => e.seg === s));
      this.waiting = this.waiting.filter((w) => w !== waiter);
      // A warning that waited plays in full: its slot moves with it.
      const occ = waiter.end === null ? waiter : { ...waiter, end: waiter.end + Math.max(0, now - waiter.start) };
      this.begin({
        occ,
        source: occ.source,
        lateMs: Math.max(0, now - occ.start),
        resumed: false,
        startedAt: null,
        session: null,
        slotTimer: undefined,
        done: false,
      });
      return;
    }
    this.suspended = this.suspended.filter((s) => s !== resume?.seg && !expired.some((e) => e.seg === s));
    if (resume) {
      const s = resume.seg;
      this.begin({
        occ: s.occ,
        source: s.occ.source,
        lateMs: 0,
        resumed: true,
        startedAt: null,
        session: null,
        slotTimer: undefined,
        done: false,
      });
      return;
    }
    const next = this.deferredPrepare;
    this.deferredPrepare = undefined;
    if (next && next.start > now) {
      this.prepare(next); // keeps the amplifier on, with the next item's input, until it starts
      return;
    }
    // Held on for a next item, but silent: the player's input carries nothing now, while a
    // live one (an FM station, the line) would stay on air for the whole hold.
    void this.hwStep(async () => {
      if (!this.current) await this.d.board.selectInput('ip');
    });
    this.armAmpOff(this.d.holdMs);
  }

  private armAmpOff(ms: number): void {
    this.d.clock.clearTimeout(this.ampOffTimer);
    this.ampOffTimer = this.d.clock.setTimeout(() => {
      if (this.current) return;
      void this.hwStep(async () => {
        if (this.current) return;
        await this.d.board.setAmp(false);
        await this.d.board.selectInput('ip');
      });
    }, ms);
  }

  /** Board operations run one at a time, in order; a failure is logged, not thrown. */
  private hwStep(step: () => Promise<void>): Promise<void> {
    const component = this.d.board.kind === 'mcu' ? 'mcu' : 'gpio';
    this.hw = this.hw.then(step).then(
      () => this.d.reportHw?.({ component, code: 'write', active: false, message: 'board operations work again' }),
      (err: unknown) => {
        this.d.log.error({ code: 'BOARD_WRITE', err }, 'board operation failed');
        const message = (err as Error).message.slice(0, 300);
        if (this.d.reportHw) this.d.reportHw({ component, code: 'write', active: true, message });
        else this.d.events.emit('hw.fault', { component, code: 'write', message });
      },
    );
    return this.hw;
  }

  private fields(seg: Segment): EventFields['play.started'] {
    const f: EventFields['play.started'] = {
      itemId: seg.occ.itemId,
      docId: seg.occ.docId,
      docVersion: seg.occ.docVersion,
      occurrence: iso(seg.occ.start),
      lateMs: seg.lateMs,
      source: seg.source.kind,
      priority: seg.occ.priority,
    };
    if (seg.occ.cmdId) f.cmdId = seg.occ.cmdId;
    return { ...f, ...seriesFields(seg.occ) };
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
