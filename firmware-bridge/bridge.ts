// Host side of the board protocol over any Duplex byte stream (a SerialPort, or one
// end of a PassThrough pair in tests).
//
// Invariants:
// - one request in flight: requests run through a promise queue, and a waiter for
//   (SEQ, reply TYPE) is registered BEFORE the frame is written (STYLE habit 4), so a
//   reply that comes back faster than write()'s callback is never missed (that queue,
//   the waiter and the §4 retry policy live in request-queue.ts);
// - a reply matching no waiter (late, after a timeout) is counted and dropped;
// - every timer goes through `timers` and every stream listener is removed on teardown,
//   so stop() leaves nothing running;
// - the desired state (watchdog, input, tuner, amp) is the host's truth: it is re-applied
//   after every (re)connect and after every board reset (BOOT, or a boot counter change).
// Reconnect: a port error/close or `maxMissedPings` consecutive unanswered pings tears
// the port down and reopens it through `open()` with capped jittered backoff; a dead
// pty reports no close until a write fails (FINDINGS, Serial), hence the pings.
// This file keeps the connection lifecycle, pinger and desired state; its public types
// are in bridge-types.ts and its errors in request-queue.ts, all re-exported from here.

import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { PROTOCOL_VERSION, type Frame } from './frame.js';
import { FrameParser, type ParserStats } from './parser.js';
import {
  COMMAND_TIMEOUT_MS,
  ERROR_TYPE,
  WATCHDOG_DEFAULT_S,
  decodeError,
  decodeEvent,
  decodeReply,
  encodeCommand,
  kindOfType,
  type AudioInput,
  type BoardEvent,
  type Command,
  type Replies,
  type VersionBlock,
} from './messages.js';
import { Backoff } from './backoff.js';
import { systemTimers, type TimerHandle, type Timers } from './timers.js';
import { BoardErrorReply, BridgeTimeoutError, RequestQueue, type RetryContext } from './request-queue.js';
import type { BridgeDeps, BridgeEvents, BridgeStats, DesiredState } from './bridge-types.js';

export { BoardErrorReply, BridgeTimeoutError, NotConnectedError } from './request-queue.js';
export type { BridgeDeps, BridgeEvents, BridgeStats, DesiredState } from './bridge-types.js';

const IDLE_MS = 50;
/** §6: with a mismatched board the host sends nothing but GET_VERSION, this often. */
export const VERSION_RECHECK_MS = 30_000;

class VersionMismatch extends Error {}

export class FirmwareBridge extends EventEmitter<BridgeEvents> {
  private readonly timers: Timers;
  private readonly backoff: Backoff;
  private readonly watchdogS: number;
  private readonly pingMs: number;
  private readonly maxMissed: number;
  private readonly desiredState: DesiredState;
  private port: Duplex | undefined;
  private parser: FrameParser | undefined;
  private detach: (() => void) | undefined;
  private readonly totals: ParserStats = { frames: 0, badCrc: 0, garbageBytes: 0, oversize: 0, truncated: 0 };
  private readonly counters = { timeouts: 0, retries: 0, lateReplies: 0, badPayloads: 0, unknownEvents: 0, resets: 0, reconnects: 0, missedPings: 0 };
  private readonly requests: RequestQueue;
  private readonly retry: RetryContext;
  private readonly live = new Set<TimerHandle>();
  private pingTimer: TimerHandle | undefined;
  private reopenTimer: TimerHandle | undefined;
  private idleTimer: TimerHandle | undefined;
  private running = false;
  private connecting = false;
  private gen = 0;
  private consecutiveMissed = 0;
  private bootCount: number | undefined;
  private lastEventSeq = 0;
  private connectedOnce = false;
  private mismatched = false;

  constructor(private readonly deps: BridgeDeps) {
    super();
    this.timers = deps.timers ?? systemTimers();
    this.backoff = new Backoff(deps.backoff ?? { minMs: 200, maxMs: 5000 });
    this.watchdogS = deps.watchdogS ?? WATCHDOG_DEFAULT_S;
    this.pingMs = deps.pingMs ?? Math.floor((this.watchdogS * 1000) / 3);
    this.maxMissed = deps.maxMissedPings ?? 3;
    this.desiredState = { amp: false, input: 'ip', fmFreq: undefined, ...deps.initial };
    this.requests = new RequestQueue(this.timers, () => this.port);
    this.retry = {
      timeoutMs: (name) => deps.timeoutMs?.[name] ?? COMMAND_TIMEOUT_MS[name],
      running: () => this.running,
      sleep: (ms) => this.sleep(ms),
      counters: this.counters,
    };
  }

  /** Opens the port and brings the board to the desired state; resolves once connected (or rejects with the first open error, while reconnecting goes on in the background). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.connect();
  }

  /** Clears every timer and listener and closes the port. Pending requests reject. */
  async stop(): Promise<void> {
    this.running = false;
    this.timers.clearTimeout(this.reopenTimer);
    this.teardown('stopped');
    for (const h of this.live) this.timers.clearTimeout(h);
    this.live.clear();
  }

  get connected(): boolean {
    return this.port !== undefined && !this.connecting;
  }

  desired(): DesiredState {
    return { ...this.desiredState };
  }

  stats(): BridgeStats {
    const p = this.parser?.stats;
    const sum = { ...this.totals };
    if (p) for (const k of Object.keys(sum) as (keyof ParserStats)[]) sum[k] += p[k];
    return { ...sum, ...this.counters };
  }

  // ---- the desired-state API (what the agent's `mcu` board calls) ----

  async setAmp(on: boolean): Promise<boolean> {
    this.desiredState.amp = on;
    return (await this.request({ cmd: 'set-amp', on })).on;
  }
  async selectInput(input: AudioInput): Promise<AudioInput> {
    this.desiredState.input = input;
    return (await this.request({ cmd: 'select-input', input })).input;
  }
  async fmTune(freq: number): Promise<Replies['fm-tune']> {
    encodeCommand({ cmd: 'fm-tune', freq }); // throws RangeError before the desired state changes
    this.desiredState.fmFreq = freq;
    return this.request({ cmd: 'fm-tune', freq });
  }

  /** Send one command; queued behind the request in flight; retries per §4. */
  request<C extends Command>(c: C): Promise<Replies[C['cmd']]> {
    return this.requests.send(c, this.retry);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const h = this.timers.setTimeout(() => {
        this.live.delete(h);
        r();
      }, ms);
      this.live.add(h);
    });
  }

  // ---- connection lifecycle ----

  private async connect(): Promise<void> {
    // Every teardown bumps `gen`; an attempt that finds it changed after an await was
    // overtaken (its port was lost, or stop() ran) and must not touch the current port,
    // or two reconnect loops would tear down each other's ports.
    const my = ++this.gen;
    this.connecting = true;
    let port: Duplex;
    try {
      port = await this.deps.open();
    } catch (e) {
      if (my !== this.gen) return;
      this.connecting = false;
      this.scheduleReopen();
      if (!this.connectedOnce) throw e;
      return;
    }
    if (my !== this.gen || !this.running) {
      dispose(port);
      return;
    }
    this.attach(port);
    try {
      // GET_VERSION first: it is frozen across versions (§6) and tells us the boot counter.
      const v = await this.request({ cmd: 'get-version' });
      if (v.protocol !== PROTOCOL_VERSION) {
        this.mismatched = true;
        this.emit('version-mismatch', v.protocol);
        throw new VersionMismatch(`board speaks protocol ${v.protocol}, this host ${PROTOCOL_VERSION}`);
      }
      this.mismatched = false;
      this.bootCount = v.bootCount;
      await this.reapply();
      if (my !== this.gen) return;
      this.connecting = false;
      this.connectedOnce = true;
      this.backoff.reset();
      // Emitted once the board is in the desired state, so a listener may rely on it.
      this.emit('connected', v);
      this.schedulePing();
    } catch (e) {
      if (my !== this.gen || !this.running) return;
      this.connecting = false;
      this.teardown(`handshake failed: ${(e as Error).message}`);
      this.scheduleReopen();
      if (!this.connectedOnce) throw e;
    }
  }

  private attach(port: Duplex): void {
    const parser = new FrameParser();
    const onData = (b: Buffer): void => {
      parser.write(b);
      this.timers.clearTimeout(this.idleTimer);
      this.idleTimer = parser.pending > 0 ? this.timers.setTimeout(() => parser.idle(), IDLE_MS) : undefined;
    };
    const onFrame = (f: Frame): void => this.onFrame(f);
    const onLost = (e?: Error): void => this.lost(e ? `port error: ${e.message}` : 'port closed');
    port.on('data', onData);
    port.on('error', onLost);
    port.on('close', onLost);
    parser.on('data', onFrame);
    this.port = port;
    this.parser = parser;
    this.detach = () => {
      port.off('data', onData);
      port.off('error', onLost);
      port.off('close', onLost);
      parser.off('data', onFrame);
      for (const k of Object.keys(this.totals) as (keyof ParserStats)[]) this.totals[k] += parser.stats[k];
      dispose(port);
    };
  }

  private teardown(reason: string): void {
    this.gen++;
    this.timers.clearTimeout(this.pingTimer);
    this.timers.clearTimeout(this.idleTimer);
    this.pingTimer = this.idleTimer = undefined;
    const had = this.port !== undefined;
    this.detach?.();
    this.detach = undefined;
    this.port = undefined;
    this.parser = undefined;
    this.requests.abort(reason);
    if (had) this.emit('disconnected', reason);
  }

  private lost(reason: string): void {
    if (!this.port) return;
    this.teardown(reason);
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (!this.running) return;
    this.timers.clearTimeout(this.reopenTimer);
    // A mismatched board is asked its version every 30 s (§6), not hammered with backoff.
    const wait = this.mismatched ? VERSION_RECHECK_MS : this.backoff.next();
    this.reopenTimer = this.timers.setTimeout(() => {
      this.reopenTimer = undefined;
      this.counters.reconnects++;
      this.connect().catch(() => undefined); // connect() schedules the next try itself
    }, wait);
  }

  /** True while the board speaks another protocol version (§6). */
  get versionMismatch(): boolean {
    return this.mismatched;
  }

  // ---- incoming frames ----

  private onFrame(f: Frame): void {
    const kind = kindOfType(f.type);
    if (kind === 'reply' || kind === 'error') {
      if (!this.requests.deliver(f)) this.counters.lateReplies++;
      return;
    }
    if (kind !== 'event') return; // commands never come from the board
    let e: BoardEvent | undefined;
    try {
      e = decodeEvent(f.type, f.payload);
    } catch {
      this.counters.badPayloads++;
      return;
    }
    if (!e) {
      this.counters.unknownEvents++;
      return;
    }
    this.lastEventSeq = f.seq;
    this.emit('event', e);
    if (e.event === 'boot') this.onBoot(e);
  }

  private onBoot(v: VersionBlock): void {
    if (v.protocol !== PROTOCOL_VERSION) {
      // A firmware update to another version: stop talking but GET_VERSION (§6).
      this.mismatched = true;
      this.emit('version-mismatch', v.protocol);
      this.lost(`board rebooted speaking protocol ${v.protocol}`);
      return;
    }
    // BOOT repeats every 1 s until we speak; only a new boot counter is a new reset.
    if (v.bootCount === this.bootCount) return;
    const first = this.bootCount === undefined;
    this.bootCount = v.bootCount;
    if (first) return;
    this.counters.resets++;
    this.emit('reset', v);
    if (this.connecting) return; // the handshake re-applies right after GET_VERSION
    this.reapply().catch((err: Error) => this.emit('warning', err));
  }

  /** Write the desired state, amp last so the speaker never plays the wrong source (§5.2). */
  private async reapply(): Promise<void> {
    const d = this.desiredState;
    await this.request({ cmd: 'set-watchdog', seconds: this.watchdogS });
    if (!d.amp) await this.request({ cmd: 'set-amp', on: false });
    await this.request({ cmd: 'select-input', input: d.input });
    if (d.fmFreq !== undefined) await this.request({ cmd: 'fm-tune', freq: d.fmFreq });
    if (d.amp) await this.request({ cmd: 'set-amp', on: true });
    this.emit('reapplied', { ...d });
  }

  // ---- pinger and reset / lost-event detection ----

  private schedulePing(): void {
    this.timers.clearTimeout(this.pingTimer);
    if (!this.running || !this.port) return;
    this.pingTimer = this.timers.setTimeout(() => void this.ping(), this.pingMs);
  }

  private async ping(): Promise<void> {
    const port = this.port;
    try {
      // Our own retry policy: one attempt per period, three missed in a row = no answer.
      const ms = this.retry.timeoutMs('ping');
      const f = await this.requests.queued(() => this.requests.exchange('ping', this.requests.nextSeq(), encodeCommand({ cmd: 'ping' }), ms));
      if (f.type === ERROR_TYPE) throw new BoardErrorReply('ping', f.seq, decodeError(f.payload));
      const r = decodeReply('ping', f.payload);
      this.consecutiveMissed = 0;
      if (r.lastEventSeq !== this.lastEventSeq) await this.catchUp(r.lastEventSeq);
    } catch (e) {
      if (port !== this.port) return; // torn down meanwhile; reconnect is already scheduled
      if (e instanceof BridgeTimeoutError) {
        this.counters.timeouts++;
        this.counters.missedPings++;
        if (++this.consecutiveMissed >= this.maxMissed) {
          this.consecutiveMissed = 0;
          this.emit('no-answer');
          this.lost(`${this.maxMissed} pings unanswered`);
          return;
        }
      }
    }
    this.schedulePing();
  }

  /** §4: an event was lost (or the board reset and we missed BOOT): read the truth. */
  private async catchUp(boardSeq: number): Promise<void> {
    this.lastEventSeq = boardSeq;
    const v = await this.request({ cmd: 'get-version' });
    if (this.bootCount !== undefined && v.bootCount !== this.bootCount) this.onBoot(v);
    this.emit('status', await this.request({ cmd: 'get-status' }));
  }
}

/**
 * Release a port. SerialPort's stream has no _destroy, so destroy() alone leaves the fd
 * open and its flock held ("Cannot lock port" on every reopen): close it first.
 */
function dispose(port: Duplex): void {
  port.on('error', () => undefined); // a late EIO from a dead port must not crash the process
  const sp = port as Duplex & { isOpen?: boolean; close?: (cb: (e?: Error | null) => void) => void };
  if (typeof sp.close === 'function' && sp.isOpen) sp.close(() => port.destroy());
  else port.destroy();
}
