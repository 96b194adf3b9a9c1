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
import { ChunkChecker, type ChunkDrop, type LiveChunk } from '../../contract/live-chunk.js';
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
  lastChunkMono: number;
  /** Chunks verified while no segment plays (before the warm-up ends, while preempted). */
  pending: { chunk: LiveChunk; arrival: number }[];
  stream: LiveStream | null;
  unlisten: () => void;
  expiry: TimerHandle;
}

/** Chunks kept for a segment not playing yet: 60 s of 200 ms chunks. */
const MAX_PENDING = 300;

export type LiveEndReason = 'end' | 'timeout' | 'stopped' | 'failed';

/**
 * Chunks are checked in slices of at most SLICE_MS, yielding to the event loop between
 * them, so a flood (each forgery costs an Ed25519 verification, ~50-80 µs) never starves
 * the sound card's pulls: 5,000 forged chunks in one burst blocked the loop long enough to
 * cut two clicks out of a session before this. At most MAX_QUEUED wait; more is dropped and
 * counted (`overflow`): what an attacker with broker access can always do is drown the
 * topic, never make the box play late or stutter.
 */
const SLICE_MS = 4;
const MAX_QUEUED = 1000;

export class LiveSessions {
  private readonly sessions = new Map<string, SessionState>();
  private readonly queue: { st: SessionState; payload: Buffer }[] = [];
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
      lastChunkMono: clock.monoMs(),
      pending: [],
      stream: null,
      unlisten: () => {},
      // Past its maxDurationS nothing of the session can play: forgotten then, whatever happened.
      expiry: clock.setTimeout(() => this.close(source.sessionId), Math.max(0, source.until - clock.now()), {
        unref: true,
      }),
    };
    this.sessions.set(source.sessionId, st);
    st.unlisten = this.d.link.listen(`${this.d.topicRoot}/live/${source.sessionId}`, (_t, payload) =>
      this.enqueue(st, payload),
    );
  }

  has(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  /** A `stop` command: the session its command id names, or every session (none named). */
  closeFor(cmdId: string | undefined): void {
    for (const [id, st] of this.sessions) if (cmdId === undefined || st.source.cmdId === cmdId) this.close(id);
  }

  /** Forget a session: unsubscribed, nothing more of it plays. */
  close(sessionId: string): void {
    const st = this.sessions.get(sessionId);
    if (!st) return;
    this.sessions.delete(sessionId);
    st.ended = true;
    st.unlisten();
    this.d.clock.clearTimeout(st.expiry);
    void st.stream?.stop();
  }

  /** The segment plays: a stream on the sound card for this session. */
  play(source: LiveSource, volume: number): LiveStream {
    this.register(source);
    const st = this.sessions.get(source.sessionId)!;
    const stream = new LiveStream(this.d, st, volume, (s, reason) => {
      if (s.stream === stream) s.stream = null;
      // Stopped (a stop command, or preempted: it may resume) keeps the session until its end.
      if (reason !== 'stopped') this.close(s.source.sessionId);
    });
    st.stream = stream;
    for (const p of st.pending.splice(0)) stream.add(p.chunk, p.arrival);
    return stream;
  }

  private enqueue(st: SessionState, payload: Buffer): void {
    if (st.ended) return;
    if (this.queue.length >= MAX_QUEUED) {
      st.invalid++;
      st.byReason.overflow = (st.byReason.overflow ?? 0) + 1;
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
    const v = st.checker.check(payload);
    if (!v.ok) {
      st.invalid++;
      st.byReason[v.reason] = (st.byReason[v.reason] ?? 0) + 1;
      // Counted, never logged one by one at warn: a flood must not fill the disk.
      this.d.log.debug({ sessionId: st.source.sessionId, reason: v.reason, message: v.message }, 'live chunk dropped');
      return;
    }
    st.received++;
    st.lastChunkMono = this.d.clock.monoMs();
    const arrival = this.d.clock.now();
    if (st.stream) st.stream.add(v.chunk, arrival);
    else {
      st.pending.push({ chunk: v.chunk, arrival });
      if (st.pending.length > MAX_PENDING) st.pending.shift();
    }
  }
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

  /** A verified chunk of the session (LiveSessions checked it). */
  add(chunk: LiveChunk, arrival: number): void {
    if (this.finished) return;
    const late = this.timeline.add(chunk, arrival, this.synced);
    if (late > 0) this.s.late++;
  }

  private pull(frames: number, at: number): Int16Array {
    const pcm = this.timeline.pull(frames, at);
    if (this.startedAt === null && this.timeline.firstAudioAt !== null) {
      this.startedAt = this.timeline.firstAudioAt;
      this.resolveStarted(this.startedAt);
    }
    if (this.timeline.done()) queueMicrotask(() => void this.finish('end', 'the source ended the session'));
    return pcm;
  }

  private checkSilence(): void {
    const quiet = this.d.clock.monoMs() - this.s.lastChunkMono;
    if (quiet >= (this.d.timeoutMs ?? TIMEOUT_MS))
      void this.finish('timeout', `no chunk for ${Math.round(quiet / 1000)} s: the source is gone`);
  }

  private stats(): EventFields['live.stats'] {
    const t = this.timeline.stats;
    return {
      sessionId: this.s.source.sessionId,
      cmdId: this.s.source.cmdId,
      synced: this.synced,
      received: this.s.received,
      late: this.s.late,
      invalid: this.s.invalid,
      ...(this.s.invalid > 0 ? { invalidBy: { ...this.s.byReason } } : {}),
      concealedMs: this.s.concealedMs + t.concealedMs,
      bufferMs: Math.round(this.timeline.bufferMs(this.d.clock.now())),
      clockErrMs: Math.round(this.timeline.resetClockErr() * 1000) / 1000,
    };
  }

  private emitStats(final?: LiveEndReason): void {
    this.d.events.emit('live.stats', { ...this.stats(), ...(final ? { reason: final } : {}) });
  }

  private async finish(reason: LiveEndReason, message: string): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.endReason = reason;
    const { clock } = this.d;
    clock.clearInterval(this.watchdog);
    clock.clearInterval(this.statsTimer);
    await this.stream.stop();
    this.decoder.close?.();
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
    this.d.log.info({ ...this.stats(), reason }, `live session ended: ${message}`);
    this.resolveEnded({
      reason: reason === 'stopped' ? 'stopped' : reason === 'failed' ? 'failed' : 'end',
      at: clock.now(),
      exitCode: null,
      signal: null,
      stderrTail: '',
      message,
    });
  }
}
