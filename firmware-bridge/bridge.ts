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
//   after every (re)connect and after every board reset (board-mirror.ts);
// - every keep-alive reply is judged against it and repairs a reset, drift or lost
//   events within one ping period (keep-alive.ts, reconcile.ts).
// Reconnect: a port error/close or `maxMissedPings` consecutive unanswered pings tears
// the port down and reopens it through `open()` with capped jittered backoff; a dead
// pty reports no close until a write fails (FINDINGS, Serial), hence the pings.
// A board speaking another protocol version keeps its port open: the host sends it
// nothing but GET_VERSION every 30 s, and a BOOT of the right version is acted on at once.
// This file keeps the connection lifecycle (connect, version handshake, teardown,
// reopen) and the incoming frames; the desired and confirmed state and its writing is
// board-mirror.ts, the keep-alive keep-alive.ts (its verdict reconcile.ts), the port
// plumbing port-link.ts, the public types bridge-types.ts and the errors request-queue.ts
// (re-exported from here).

import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { PROTOCOL_VERSION, type Frame } from './frame.js';
import { PortLink, dispose } from './port-link.js';
import {
  COMMAND_TIMEOUT_MS,
  ERROR_TYPE,
  WATCHDOG_DEFAULT_S,
  decodeEvent,
  kindOfType,
  type AudioInput,
  type BoardEvent,
  type Command,
  type Replies,
  type VersionBlock,
} from './messages.js';
import { Backoff } from './backoff.js';
import { systemTimers, type TimerHandle, type Timers } from './timers.js';
import { NotConnectedError, RequestQueue, type RetryContext } from './request-queue.js';
import { BoardMirror } from './board-mirror.js';
import { KeepAlive } from './keep-alive.js';
import { zeroCounters } from './bridge-types.js';
import type { BridgeDeps, BridgeEvents, BridgeStats, DesiredState } from './bridge-types.js';

export { BoardErrorReply, BridgeTimeoutError, NotConnectedError } from './request-queue.js';
export type { BridgeDeps, BridgeEvents, BridgeStats, DesiredState } from './bridge-types.js';

/** §6: with a mismatched board the host sends nothing but GET_VERSION, this often. */
export const VERSION_RECHECK_MS = 30_000;
/** §7: on a 1.0 board a LINE_TEST that times out (3 s) may outlast a watchdog shorter than this. */
export const LINE_TEST_MIN_WATCHDOG_S = 6;

class VersionMismatch extends Error {}

export class FirmwareBridge extends EventEmitter<BridgeEvents> {
  private readonly timers: Timers;
  private readonly backoff: Backoff;
  private readonly watchdogS: number;
  private readonly state: BoardMirror;
  private readonly keepAlive: KeepAlive;
  private readonly link: PortLink;
  private readonly counters = zeroCounters();
  private readonly requests: RequestQueue;
  private readonly retry: RetryContext;
  private readonly live = new Set<TimerHandle>();
  private reopenTimer: TimerHandle | undefined;
  private running = false;
  private connecting = false;
  private gen = 0;
  private connectedOnce = false;
  private mismatched = false;
  private recheckTimer: TimerHandle | undefined;

  constructor(private readonly deps: BridgeDeps) {
    super();
    this.timers = deps.timers ?? systemTimers();
    this.backoff = new Backoff(deps.backoff ?? { minMs: 200, maxMs: 5000 });
    this.watchdogS = deps.watchdogS ?? WATCHDOG_DEFAULT_S;
    this.link = new PortLink(
      this.timers,
      (f) => this.onFrame(f),
      (why) => this.lost(why),
    );
    this.requests = new RequestQueue(this.timers, () => this.port);
    this.retry = {
      timeoutMs: (name) => deps.timeoutMs?.[name] ?? COMMAND_TIMEOUT_MS[name],
      running: () => this.running,
      sleep: (ms) => this.sleep(ms),
      counters: this.counters,
    };
    this.state = new BoardMirror({
      watchdogS: this.watchdogS,
      initial: deps.initial,
      requests: this.requests,
      retry: this.retry,
      request: (c) => this.request(c),
      ampRefused: (e) => this.emit('amp-refused', e),
      reapplied: (s) => this.emit('reapplied', s),
    });
    const host = {
      timers: this.timers,
      state: this.state,
      requests: this.requests,
      retry: this.retry,
      counters: this.counters,
      running: () => this.running,
      port: () => this.port,
      mismatched: () => this.mismatched,
      request: <C extends Command>(c: C) => this.request(c),
      emit: this.emit.bind(this),
      lost: (reason: string) => this.lost(reason),
      onBoot: (v: VersionBlock) => this.onBoot(v),
    };
    const pingMs = deps.pingMs ?? Math.floor((this.watchdogS * 1000) / 3);
    this.keepAlive = new KeepAlive(host, pingMs, deps.maxMissedPings ?? 3);
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
    this.timers.clearTimeout(this.recheckTimer);
    this.teardown('stopped');
    for (const h of this.live) this.timers.clearTimeout(h);
    this.live.clear();
  }

  private get port(): Duplex | undefined {
    return this.link.port;
  }

  get connected(): boolean {
    return this.port !== undefined && !this.connecting;
  }

  desired(): DesiredState {
    return { ...this.state.desired };
  }

  stats(): BridgeStats {
    return { ...this.link.stats(), ...this.counters };
  }

  // ---- the desired-state API (what the agent's `mcu` board calls; board-mirror.ts) ----
  /** SET_AMP; switching off an amplifier the board confirmed off sends nothing. */
  setAmp(on: boolean): Promise<boolean> {
    return this.state.setAmp(on);
  }
  /** SELECT_INPUT; the input the board confirmed is not selected again (§5.1: a no-op). */
  selectInput(input: AudioInput): Promise<AudioInput> {
    return this.state.selectInput(input);
  }
  /** The board's minor protocol version, once connected (0 for a 1.0 board). */
  get boardMinor(): number {
    return this.state.minor;
  }
  /** FM_TUNE; the frequency joins the desired state. */
  fmTune(freq: number): Promise<Replies['fm-tune']> {
    return this.state.fmTune(freq);
  }

  /** Send one command; queued behind the request in flight; retries per §4. */
  request<C extends Command>(c: C): Promise<Replies[C['cmd']]> {
    // §6, checklist row 24: a board of another version is sent GET_VERSION and nothing
    // else (an FM_STATUS poll once reached one).
    if (this.mismatched && c.cmd !== 'get-version') {
      return Promise.reject(
        new NotConnectedError(`${c.cmd} not sent: the IO board speaks another protocol version (only GET_VERSION is)`),
      );
    }
    if (c.cmd === 'line-test' && this.state.minor < 1 && this.watchdogS < LINE_TEST_MIN_WATCHDOG_S) {
      // §7: a 1.0 board does not hold its watchdog during LINE_TEST; one that times out
      // (3 s) would leave N = watchdogS without a frame and trip the amplifier off.
      return Promise.reject(
        new RangeError(
          `line-test refused: the board speaks 1.0 and the watchdog is ${this.watchdogS} s (needs ${LINE_TEST_MIN_WATCHDOG_S} s or a 1.1 board)`,
        ),
      );
    }
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
    this.link.attach(port);
    this.state.confirmed = {};
    this.state.uptimeS = undefined;
    try {
      // GET_VERSION first: it is frozen across versions (§6) and tells us the boot counter.
      await this.handshake(my, await this.request({ cmd: 'get-version' }));
    } catch (e) {
      if (my !== this.gen || !this.running) return;
      this.connecting = false;
      if (e instanceof VersionMismatch) {
        // §6: keep listening (a BOOT of our version is acted on at once), ask every 30 s.
        this.scheduleRecheck();
        if (!this.connectedOnce) throw e;
        return;
      }
      this.teardown(`handshake failed: ${(e as Error).message}`);
      this.scheduleReopen();
      if (!this.connectedOnce) throw e;
    }
  }

  private async handshake(my: number, v: VersionBlock): Promise<void> {
    if (v.protocol !== PROTOCOL_VERSION) {
      this.enterMismatch(v.protocol);
      throw new VersionMismatch(`board speaks protocol ${v.protocol}, this host ${PROTOCOL_VERSION}`);
    }
    this.mismatched = false;
    this.timers.clearTimeout(this.recheckTimer);
    this.state.bootCount = v.bootCount;
    this.state.minor = v.minor;
    await this.state.reapply();
    if (my !== this.gen) return;
    this.connecting = false;
    this.connectedOnce = true;
    this.backoff.reset();
    // Emitted once the board is in the desired state, so a listener may rely on it.
    this.emit('connected', v);
    this.keepAlive.schedule();
  }

  private enterMismatch(boardVersion: number): void {
    this.mismatched = true;
    this.keepAlive.cancel();
    this.emit('version-mismatch', boardVersion);
  }

  private scheduleRecheck(ms = VERSION_RECHECK_MS): void {
    this.timers.clearTimeout(this.recheckTimer);
    if (!this.running || !this.port) return;
    this.recheckTimer = this.timers.setTimeout(() => void this.recheck(), ms);
  }

  /** §6: the only frame sent to a mismatched board; a matching answer completes the handshake. */
  private async recheck(): Promise<void> {
    this.recheckTimer = undefined;
    const my = this.gen;
    try {
      this.connecting = true;
      await this.handshake(my, await this.request({ cmd: 'get-version' }));
    } catch (e) {
      if (my !== this.gen || !this.running) return;
      this.connecting = false;
      if (!(e instanceof VersionMismatch)) this.emit('warning', e as Error);
      this.scheduleRecheck();
    }
  }

  private teardown(reason: string): void {
    this.gen++;
    this.keepAlive.cancel();
    this.timers.clearTimeout(this.recheckTimer);
    this.recheckTimer = undefined;
    const had = this.link.detach();
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
    if (f.version !== PROTOCOL_VERSION && !isFrozenFrame(f)) {
      // §2.3/§6: only the frozen frames (BOOT, GET_VERSION reply, ERROR) are read across
      // versions; any other frame of a foreign VER is counted and dropped, never acted on.
      this.counters.foreignVersion++;
      return;
    }
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
    this.state.lastEventSeq = f.seq;
    this.emit('event', e);
    if (e.event === 'boot') this.onBoot(e);
  }

  private onBoot(v: VersionBlock): void {
    if (v.protocol !== PROTOCOL_VERSION) {
      // A firmware update to another version: stop talking but GET_VERSION (§6).
      if (!this.mismatched) {
        this.enterMismatch(v.protocol);
        this.scheduleRecheck();
      }
      return;
    }
    if (this.mismatched) {
      // §6: a BOOT of our version from a mismatched board (a firmware update back): act now.
      if (!this.connecting && this.port) {
        this.timers.clearTimeout(this.recheckTimer);
        void this.recheck();
      }
      return;
    }
    // BOOT repeats every 1 s until we speak; only a new boot counter is a new reset.
    const st = this.state;
    if (v.bootCount === st.bootCount) return;
    const first = st.bootCount === undefined;
    st.bootCount = v.bootCount;
    st.minor = v.minor;
    if (first) return;
    this.counters.resets++;
    st.confirmed = {};
    st.uptimeS = undefined;
    st.tripped = false;
    this.emit('reset', v);
    if (this.connecting) return; // the handshake re-applies right after GET_VERSION
    st.reapply().catch((err: Error) => this.emit('warning', err));
  }
}

/** Frames frozen across versions (§6): read whatever their VER. */
function isFrozenFrame(f: Frame): boolean {
  return f.type === 0x40 || f.type === ERROR_TYPE || f.type === (0x09 | 0x80);
}
