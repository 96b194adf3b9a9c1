// Host side of the board protocol over any Duplex byte stream (a SerialPort, or one
// end of a PassThrough pair in tests).
//
// Invariants:
// - one request in flight: requests run through a promise queue, and a waiter for
//   (SEQ, reply TYPE) is registered BEFORE the frame is written (STYLE habit 4), so a
//   reply that comes back faster than write()'s callback is never missed;
// - a reply matching no waiter (late, after a timeout) is counted and dropped;
// - every timer goes through `timers` and every stream listener is removed on teardown,
//   so stop() leaves nothing running;
// - the desired state (watchdog, input, tuner, amp) is the host's truth: it is re-applied
//   after every (re)connect and after every board reset (BOOT, or a boot counter change).
// Reconnect: a port error/close or `maxMissedPings` consecutive unanswered pings tears
// the port down and reopens it through `open()` with capped jittered backoff; a dead
// pty reports no close until a write fails (FINDINGS, Serial), hence the pings.

import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { encodeFrame, PROTOCOL_VERSION, type Frame } from './frame.js';
import { FrameParser, type ParserStats } from './parser.js';
import {
  COMMAND_RETRY,
  COMMAND_TIMEOUT_MS,
  ERROR_TYPE,
  WATCHDOG_DEFAULT_S,
  decodeError,
  decodeEvent,
  decodeReply,
  encodeCommand,
  kindOfType,
  replyType,
  type BoardError,
  type BoardEvent,
  type Command,
  type CommandName,
  type Replies,
  type Status,
  type VersionBlock,
} from './messages.js';
import { Backoff, type BackoffPolicy } from '../agent/domain/backoff.js';
import type { AudioInput } from '../agent/adapters/board.js';
import { systemTimers, type TimerHandle, type Timers } from './timers.js';

const IDLE_MS = 50;
/** §4: a retried command gets up to 2 more attempts. */
const MAX_ATTEMPTS = 3;
/** §5.3: BUSY is retried after 100 ms. */
const BUSY_RETRY_MS = 100;

/** The request got no reply in time (after its retries). Transient: the caller may retry later. */
export class BridgeTimeoutError extends Error {
  override readonly name = 'BridgeTimeoutError';
  readonly retryable = true;
  constructor(
    readonly command: CommandName,
    readonly seq: number,
    readonly timeoutMs: number,
    readonly attempts: number,
  ) {
    super(`${command} (seq ${seq}) got no reply within ${timeoutMs} ms after ${attempts} attempt(s)`);
  }
}
/** The board answered ERROR. Retryable only for BUSY / NOT_READY (§5.3). */
export class BoardErrorReply extends Error {
  override readonly name = 'BoardErrorReply';
  readonly retryable: boolean;
  constructor(
    readonly command: CommandName,
    readonly seq: number,
    readonly error: BoardError,
  ) {
    super(`${command} (seq ${seq}) failed on the board: ${error.code}`);
    this.retryable = error.code === 'busy' || error.code === 'not_ready';
  }
}
/** No port open (between a loss and the reconnect), or the port went away mid-request. */
export class NotConnectedError extends Error {
  override readonly name = 'NotConnectedError';
  readonly retryable = true;
}

export interface DesiredState {
  amp: boolean;
  input: AudioInput;
  /** 10 kHz units, undefined = leave the tuner alone. */
  fmFreq: number | undefined;
}

export interface BridgeStats extends ParserStats {
  timeouts: number;
  retries: number;
  lateReplies: number;
  badPayloads: number;
  unknownEvents: number;
  resets: number;
  reconnects: number;
  missedPings: number;
}

export interface BridgeEvents {
  /** An unsolicited board event (BOOT included). */
  event: [BoardEvent];
  /** The board was reset (BOOT with a new boot counter, or the counter changed). */
  reset: [VersionBlock];
  /** The desired state was written to the board after a connect or reset. */
  reapplied: [DesiredState];
  connected: [VersionBlock];
  disconnected: [reason: string];
  /** `maxMissedPings` pings in a row went unanswered (§7: report hw.fault mcu no_answer). */
  'no-answer': [];
  /** A ping showed events we did not receive; this is the status read to catch up (§4). */
  status: [Status];
  /** The board speaks another protocol version (§6). */
  'version-mismatch': [boardVersion: number];
  /** Background work (re-apply, status catch-up) failed; never fatal. */
  warning: [Error];
}

export interface BridgeDeps {
  open(): Promise<Duplex>;
  timers?: Timers;
  /** Watchdog N sent with SET_WATCHDOG; pings go every N/3 (§7). */
  watchdogS?: number;
  /** Overrides the N/3 ping period (tests). */
  pingMs?: number;
  maxMissedPings?: number;
  timeoutMs?: Partial<Record<CommandName, number>>;
  backoff?: BackoffPolicy;
  initial?: Partial<DesiredState>;
}

interface Waiter {
  seq: number;
  type: number;
  name: CommandName;
  resolve(f: Frame): void;
  reject(e: Error): void;
}

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
  private seq = 0;
  private waiter: Waiter | undefined;
  private queue: Promise<unknown> = Promise.resolve();
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

  constructor(private readonly deps: BridgeDeps) {
    super();
    this.timers = deps.timers ?? systemTimers();
    this.backoff = new Backoff(deps.backoff ?? { minMs: 200, maxMs: 5000 });
    this.watchdogS = deps.watchdogS ?? WATCHDOG_DEFAULT_S;
    this.pingMs = deps.pingMs ?? Math.floor((this.watchdogS * 1000) / 3);
    this.maxMissed = deps.maxMissedPings ?? 3;
    this.desiredState = { amp: false, input: 'ip', fmFreq: undefined, ...deps.initial };
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
    const run = (): Promise<Replies[C['cmd']]> => this.attempt(c, 1);
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async attempt<C extends Command>(c: C, n: number): Promise<Replies[C['cmd']]> {
    const name: CommandName = c.cmd;
    const timeoutMs = this.deps.timeoutMs?.[name] ?? COMMAND_TIMEOUT_MS[name];
    const seq = this.nextSeq();
    try {
      const f = await this.exchange(name, seq, encodeCommand(c), timeoutMs);
      if (f.type === ERROR_TYPE) throw new BoardErrorReply(name, seq, decodeError(f.payload));
      return decodeReply(name, f.payload) as Replies[C['cmd']];
    } catch (e) {
      const again = n < MAX_ATTEMPTS && this.running && COMMAND_RETRY[name];
      if (e instanceof BridgeTimeoutError) {
        this.counters.timeouts++;
        if (again) {
          this.counters.retries++;
          return this.attempt(c, n + 1);
        }
        throw new BridgeTimeoutError(name, seq, timeoutMs, n);
      }
      if (e instanceof BoardErrorReply && e.error.code === 'busy' && again) {
        this.counters.retries++;
        await this.sleep(BUSY_RETRY_MS);
        return this.attempt(c, n + 1);
      }
      throw e;
    }
  }

  private exchange(name: CommandName, seq: number, m: { type: number; payload: Buffer }, timeoutMs: number): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      const port = this.port;
      if (!port) return reject(new NotConnectedError(`${name} (seq ${seq}): not connected`));
      const timer = this.timers.setTimeout(() => {
        this.waiter = undefined;
        reject(new BridgeTimeoutError(name, seq, timeoutMs, 1));
      }, timeoutMs);
      // Registered before the write: the reply may arrive before write() calls back.
      this.waiter = {
        seq,
        type: replyType(name),
        name,
        resolve: (f) => {
          this.timers.clearTimeout(timer);
          this.waiter = undefined;
          resolve(f);
        },
        reject: (e) => {
          this.timers.clearTimeout(timer);
          this.waiter = undefined;
          reject(e);
        },
      };
      port.write(encodeFrame({ seq, type: m.type, payload: m.payload }));
    });
  }

  private nextSeq(): number {
    this.seq = this.seq >= 255 ? 1 : this.seq + 1; // §4: 1..255, 0 never used
    return this.seq;
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
        this.emit('version-mismatch', v.protocol);
        throw new Error(`board speaks protocol ${v.protocol}`);
      }
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
    this.waiter?.reject(new NotConnectedError(`${this.waiter.name} (seq ${this.waiter.seq}): ${reason}`));
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
    this.reopenTimer = this.timers.setTimeout(() => {
      this.reopenTimer = undefined;
      this.counters.reconnects++;
      this.connect().catch(() => undefined); // connect() schedules the next try itself
    }, this.backoff.next());
  }

  // ---- incoming frames ----

  private onFrame(f: Frame): void {
    const kind = kindOfType(f.type);
    if (kind === 'reply' || kind === 'error') {
      const w = this.waiter;
      if (w && w.seq === f.seq && (f.type === w.type || f.type === ERROR_TYPE)) w.resolve(f);
      else this.counters.lateReplies++;
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
      this.emit('version-mismatch', v.protocol);
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
      const ms = this.deps.timeoutMs?.ping ?? COMMAND_TIMEOUT_MS.ping;
      const f = await this.queued(() => this.exchange('ping', this.nextSeq(), encodeCommand({ cmd: 'ping' }), ms));
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

  private queued<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
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
