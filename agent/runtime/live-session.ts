// Live sessions on the box (contract v1.2 §8). The `live` command opens one (command-
// actions.ts): the session is registered here, then fired as an occurrence like a `play`
// command, so the priority rules of §3 apply to it unchanged (it preempts lower
// priorities, is preempted by higher ones, and resumes like a relay once they end).
// While it holds the speaker, its segment plays through a LiveStream: subscribed to
// `{root}/live/{sessionId}` (QoS 0), every chunk checked (contract/live-chunk.ts), its
// packets put on the playout timeline (domain/live-timeline.ts), which the sound card
// pulls from.
//
// A session's chunk checker outlives its segments: a session preempted and resumed keeps
// refusing the chunks it saw before (a replay), and its counters add up over the whole
// session. The session ends at its `end` chunk (once that audio has played), at a `stop`,
// at `maxDurationS` (the occurrence's slot), or after TIMEOUT_MS without a chunk.
import type { Clock, TimerHandle } from '../adapters/clock.js';
import type { Link } from '../adapters/mqtt-link.js';
import type { PcmOutput, PcmStream } from '../adapters/pcm-output.js';
import type { PlayEnd, PlayerSession } from '../adapters/player.js';
import type { EventFields, EventSink } from '../../contract/events.js';
import { ChunkChecker, MAX_CHUNK_BYTES, type ChunkDrop, type LiveChunk } from '../../contract/live-chunk.js';
import type { KeyRing } from '../../contract/verify.js';
import { LiveTimeline, type PacketDecoder } from '../domain/live-timeline.js';
import type { LiveSource } from '../domain/occurrence.js';
import { LoaError } from '../errors.js';
import type { Logger } from '../log.js';

/** No chunk for this long ends the session (contract §8). */
export const TIMEOUT_MS = 10_000;
const STATS_EVERY_MS = 60_000;

export interface LiveDeps {
  clock: Clock;
  link: Link;
  keys: KeyRing;
  topicRoot: string;
  output: PcmOutput;
  /** Is the box's clock synchronised (then chunks play at capture + latency; else at arrival + latency)? */
  synced: () => boolean;
  events: EventSink;
  log: Logger;
  decoder: () => PacketDecoder & { close?: () => void };
  timeoutMs?: number;
  statsEveryMs?: number;
}

interface SessionState {
  source: LiveSource;
  checker: ChunkChecker;
  received: number;
  late: number;
  invalid: number;
  byReason: Partial<Record<ChunkDrop | 'overflow', number>>;
  concealedMs: number;
  ended: boolean;
  /** Whether the box plays it in step; known once a segment plays. */
  synced: boolean;
  lastChunkMono: number;
  /** Chunks verified while no segment plays (before the warm-up ends, while preempted). */
  pending: { chunk: LiveChunk; arrival: number }[];
  stream: LiveStream | null;
  unlisten: () => void;
  expiry: TimerHandle;
}

/** Chunks kept for a segment not playing yet: 60 s of 200 ms chunks. */
const MAX_PENDING = 300;

/** Contract §8's reasons, and `failed` (the sound card failed). */
export type LiveEndReason = 'end' | 'timeout' | 'stopped' | 'preempted' | 'max-duration' | 'failed';

/**
 * Chunks are checked in slices of at most SLICE_MS, yielding to the event loop between
 * them, so a flood (each forgery costs an Ed25519 verification, ~50-80 µs) never starves
 * the sound card's pulls: 5,000 forged chunks in one burst blocked the loop long enough to
 * cut two clicks out of a session before this. At most MAX_QUEUED wait; more is dropped and
 * counted (`overflow`): what an attacker with broker access can always do is drown the
 * topic, never make the box play late or stutter.
 */
const SLICE_MS = 4;
/** A session's first chunk is stamped within latency + this of a synchronised box's clock. */
const FIRST_CHUNK_SLACK_MS = 10_000;
const MAX_QUEUED = 1000;

export class LiveSessions {
  private readonly sessions = new Map<string, SessionState>();
  private readonly queue: { st: SessionState; payload: Buffer }[] = [];
  /** Session ids closed in this run, with why (the most recent 10,000). */
  private readonly closed = new Map<string, LiveEndReason>();
  private draining = false;

  constructor(private readonly d: LiveDeps) {}

  /**
   * The `live` command accepted: subscribed to the session's chunks from now, so none is
   * missed while the amplifier warms up; they wait for the segment that plays them.
   */
  register(source: LiveSource): void {
    if (this.sessions.has(source.sessionId)) return;
    const { clock } = this.d;
    const st: SessionState = {
      source,
      checker: new ChunkChecker(this.d.keys, source.sessionId, source.kid),
      received: 0,
      late: 0,
      invalid: 0,
      byReason: {},
      concealedMs: 0,
      ended: false,
      synced: this.d.synced(),
      lastChunkMono: clock.monoMs(),
      pending: [],
      stream: null,
      unlisten: () => {},
      // Past its maxDurationS nothing of the session can play: forgotten then, whatever happened.
      expiry: clock.setTimeout(
        () => this.close(source.sessionId, 'max-duration'),
        Math.max(0, source.until - clock.now()),
        {
          unref: true,
        },
      ),
    };
    this.sessions.set(source.sessionId, st);
    st.unlisten = this.d.link.listen(`${this.d.topicRoot}/live/${source.sessionId}`, (_t, payload) =>
      this.enqueue(st, payload),
    );
  }

  /** Open now, or opened before in this run (a session id is used once: its old chunks must not replay into a new one). */
  has(sessionId: string): boolean {
    return this.sessions.has(sessionId) || this.closed.has(sessionId);
  }

  /** A `stop` command: the session its command id names, or every session (none named). */
  closeFor(cmdId: string | undefined): void {
    for (const [id, st] of this.sessions) if (cmdId === undefined || st.source.cmdId === cmdId) this.close(id);
  }

  /** Forget a session: unsubscribed, nothing more of it plays. */
  close(sessionId: string, reason: LiveEndReason = 'stopped'): void {
    const st = this.sessions.get(sessionId);
    if (!st) return;
    this.sessions.delete(sessionId);
    this.closed.set(sessionId, reason);
    if (this.closed.size > 10_000) this.closed.delete(this.closed.keys().next().value!);
    st.ended = true;
    st.unlisten();
    this.d.clock.clearTimeout(st.expiry);
    if (st.stream) void st.stream.stopAs(reason);
    // Closed while it was not playing (suspended, or busy from the start): its last report here.
    else this.d.events.emit('live.stats', { ...sessionStats(st, null, this.d.clock.now()), reason });
  }

  /** How a session closed in this run ended, or undefined (open, or never seen). */
  endedAs(sessionId: string): LiveEndReason | undefined {
    return this.closed.get(sessionId);
  }

  /**
   * The segment plays: a stream on the sound card for this session. A session closed
   * before (stopped, timed out, past its maxDurationS while it waited) is never opened
   * again: its chunks are no longer listened to and a replay of them must not play.
   */
  play(source: LiveSource, volume: number): LiveStream {
    const over = this.closed.get(source.sessionId);
    if (over !== undefined) throw new LoaError('PLAYER_FAILED', `live session ${source.sessionId} is over (${over})`);
    this.register(source);
    const st = this.sessions.get(source.sessionId)!;
    const stream = new LiveStream(this.d, st, volume, (s, reason) => {
      if (s.stream === stream) s.stream = null;
      // Preempted, it may resume: the session is kept (until the playback forgets it, or its end).
      if (reason !== 'preempted') this.close(s.source.sessionId, reason);
    });
    st.stream = stream;
    for (const p of st.pending.splice(0)) stream.add(p.chunk, p.arrival);
    return stream;
  }

  private enqueue(st: SessionState, payload: Buffer): void {
    if (st.ended) return;
    // Too big for a chunk, or too many waiting: dropped before anything is kept of it.
    const why = payload.length > MAX_CHUNK_BYTES ? 'invalid' : this.queue.length >= MAX_QUEUED ? 'overflow' : null;
    if (why) {
      st.invalid++;
      st.byReason[why] = (st.byReason[why] ?? 0) + 1;
      return;
    }
    this.queue.push({ st, payload });
    if (!this.draining) {
      this.draining = true;
      // A turn of the event loop, not a delay: setImmediate runs after the timers and I/O due.
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    const t0 = performance.now();
    while (this.queue.length > 0 && performance.now() - t0 < SLICE_MS) {
      const { st, payload } = this.queue.shift()!;
      this.onChunk(st, payload);
    }
    if (this.queue.length > 0) setImmediate(() => this.drain());
    else this.draining = false;
  }

  private onChunk(st: SessionState, payload: Buffer): void {
    if (st.ended) return;
    const now = this.d.clock.now();
    const synced = this.d.synced();
    const v = st.checker.check(
      payload,
      synced ? { now, pastMs: st.source.latencyMs + FIRST_CHUNK_SLACK_MS, aheadMs: FIRST_CHUNK_SLACK_MS } : undefined,
    );
    if (!v.ok) {
      st.invalid++;
      st.byReason[v.reason] = (st.byReason[v.reason] ?? 0) + 1;
      // Counted, never logged one by one at warn: a flood must not fill the disk.
      this.d.log.debug({ sessionId: st.source.sessionId, reason: v.reason, message: v.message }, 'live chunk dropped');
      return;
    }
    st.received++;
    st.lastChunkMono = this.d.clock.monoMs();
    const arrival = now;
    const chunk = { ...v.chunk, t: v.slot ?? v.chunk.t };
    if (st.stream) st.stream.add(chunk, arrival);
    else {
      st.pending.push({ chunk, arrival });
      if (st.pending.length > MAX_PENDING) st.pending.shift();
    }
  }
}

/** A session's report (contract §8 `live.stats`), with what its playing segment adds. */
function sessionStats(st: SessionState, seg: LiveStream | null, now: number): EventFields['live.stats'] {
  const t = seg?.timelineStats(now);
  return {
    sessionId: st.source.sessionId,
    cmdId: st.source.cmdId,
    synced: seg?.isSynced ?? st.synced,
    received: st.received,
    late: st.late,
    invalid: st.invalid,
    ...(st.invalid > 0 ? { invalidBy: { ...st.byReason } } : {}),
    concealedMs: st.concealedMs + (t?.concealedMs ?? 0),
    bufferMs: t?.bufferMs ?? 0,
    clockErrMs: t?.clockErrMs ?? 0,
  };
}

/** One segment of a live session on the card: the PlayerSession of playback-segment.ts. */
export class LiveStream implements PlayerSession {
  readonly started: Promise<number>;
  readonly ended: Promise<PlayEnd>;
  endReason: LiveEndReason | null = null;
  private resolveStarted!: (at: number) => void;
  private rejectStarted!: (err: Error) => void;
  private resolveEnded!: (e: PlayEnd) => void;
  private readonly timeline: LiveTimeline;
  private readonly decoder: PacketDecoder & { close?: () => void };
  private readonly stream: PcmStream;
  private readonly watchdog: TimerHandle;
  private readonly statsTimer: TimerHandle;
  private startedAt: number | null = null;
  private finished = false;
  private readonly synced: boolean;

  constructor(
    private readonly d: LiveDeps,
    private readonly s: SessionState,
    volume: number,
    private readonly onClose: (s: SessionState, reason: LiveEndReason) => void,
  ) {
    this.started = new Promise((res, rej) => ((this.resolveStarted = res), (this.rejectStarted = rej)));
    this.started.catch(() => {});
    this.ended = new Promise((res) => (this.resolveEnded = res));
    this.synced = d.synced();
    s.synced = this.synced;
    this.decoder = d.decoder();
    this.timeline = new LiveTimeline(s.source.latencyMs, this.decoder);
    this.timeline.setVolume(volume);
    this.stream = d.output.open((frames, at) => this.pull(frames, at), `live-${s.source.sessionId}-${d.clock.now()}`);
    void this.stream.failed.then((why) => this.finish('failed', why));
    this.watchdog = d.clock.setInterval(() => this.checkSilence(), 250);
    this.statsTimer = d.clock.setInterval(() => this.emitStats(), d.statsEveryMs ?? STATS_EVERY_MS);
    d.log.info(
      { sessionId: s.source.sessionId, latencyMs: s.source.latencyMs, synced: this.synced, output: d.output.kind },
      this.synced
        ? 'live session: listening'
        : 'live session: listening, clock NOT synchronised: playing at arrival + latency',
    );
  }

  get isSynced(): boolean {
    return this.synced;
  }

  setVolume(volume: number): void {
    this.timeline.setVolume(volume);
  }

  stop(): Promise<void> {
    return this.finish('stopped', 'stopped');
  }

  /** Stopped by the playback for `reason` (preempted, max-duration) or by the session's close. */
  stopAs(reason: LiveEndReason): Promise<void> {
    return this.finish(reason, reason);
  }

  /** A verified chunk of the session (LiveSessions checked it). */
  add(chunk: LiveChunk, arrival: number): void {
    if (this.finished) return;
    const late = this.timeline.add(chunk, arrival, this.synced);
    if (late > 0) this.s.late++;
  }

  timelineStats(now: number): { concealedMs: number; bufferMs: number; clockErrMs: number } {
    return {
      concealedMs: this.timeline.stats.concealedMs,
      bufferMs: Math.round(this.timeline.bufferMs(now)),
      clockErrMs: Math.round(this.timeline.resetClockErr() * 1000) / 1000,
    };
  }

  private pull(frames: number, at: number): Int16Array {
    const pcm = this.timeline.pull(frames, at);
    if (this.startedAt === null && this.timeline.firstAudioAt !== null) {
      this.startedAt = this.timeline.firstAudioAt;
      this.resolveStarted(this.startedAt);
      // Contract §8: the session's first audio, and whether it plays in step (synced) or at arrival + latency.
      this.d.events.emit('live.started', {
        sessionId: this.s.source.sessionId,
        cmdId: this.s.source.cmdId,
        synced: this.synced,
        latencyMs: this.s.source.latencyMs,
      });
    }
    if (this.timeline.done()) queueMicrotask(() => void this.finish('end', 'the source ended the session'));
    return pcm;
  }

  private checkSilence(): void {
    const quiet = this.d.clock.monoMs() - this.s.lastChunkMono;
    if (quiet >= (this.d.timeoutMs ?? TIMEOUT_MS))
      void this.finish('timeout', `no chunk for ${Math.round(quiet / 1000)} s: the source is gone`);
  }

  private emitStats(final?: LiveEndReason): void {
    this.d.events.emit('live.stats', {
      ...sessionStats(this.s, this, this.d.clock.now()),
      ...(final ? { reason: final } : {}),
    });
  }

  /** Never rejects: a recording that cannot be written or a decoder that throws is logged, and the session still ends. */
  private async finish(reason: LiveEndReason, message: string): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.endReason = reason;
    const { clock } = this.d;
    clock.clearInterval(this.watchdog);
    clock.clearInterval(this.statsTimer);
    try {
      await this.stream.stop();
      this.decoder.close?.();
    } catch (err) {
      this.d.log.error(
        { code: 'INTERNAL', err, sessionId: this.s.source.sessionId },
        'live session: closing its output failed',
      );
    }
    this.emitStats(reason);
    this.s.concealedMs += this.timeline.stats.concealedMs;
    this.onClose(this.s, reason);
    if (this.startedAt === null)
      this.rejectStarted(
        new LoaError(
          'PLAYER_FAILED',
          reason === 'timeout' ? `no chunk within ${(this.d.timeoutMs ?? TIMEOUT_MS) / 1000} s` : message,
        ),
      );
    this.d.log.info({ sessionId: this.s.source.sessionId, reason }, `live session ended: ${message}`);
    this.resolveEnded({
      reason: reason === 'failed' ? 'failed' : reason === 'end' || reason === 'timeout' ? 'end' : 'stopped',
      at: clock.now(),
      exitCode: null,
      signal: null,
      stderrTail: '',
      message,
    });
  }
}
