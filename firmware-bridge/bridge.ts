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
//   after every (re)connect and after every board reset;
// - every keep-alive reply is judged against it (reconcile.ts): a reset (boot counter
//   or uptime), drift (amp, input, watchdog, tuner, fault flags) or lost events are
//   repaired within one ping period, whatever BOOT or event frames were lost;
// - the keep-alive is PING on a 1.1 board (its reply carries the boot counter and the
//   input) and GET_STATUS on a 1.0 board (uptime, input, watchdog N, tuner);
// - what the board last confirmed (amp, input) is kept, so a command that would change
//   nothing is not sent (a firmware that mutes on every SELECT_INPUT would clip audio).
// Reconnect: a port error/close or `maxMissedPings` consecutive unanswered pings tears
// the port down and reopens it through `open()` with capped jittered backoff; a dead
// pty reports no close until a write fails (FINDINGS, Serial), hence the pings.
// A board speaking another protocol version keeps its port open: the host sends it
// nothing but GET_VERSION every 30 s, and a BOOT of the right version is acted on at once.
// This file keeps the connection lifecycle, keep-alive and desired state; the verdict on
// a keep-alive reply is reconcile.ts, the port plumbing port-link.ts, the public types
// bridge-types.ts and the errors request-queue.ts (re-exported from here).

import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { PROTOCOL_VERSION, type Frame } from './frame.js';
import { judge, type Observed } from './reconcile.js';
import { PortLink, dispose } from './port-link.js';
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
  type Status,
  type VersionBlock,
} from './messages.js';
import { Backoff } from './backoff.js';
import { systemTimers, type TimerHandle, type Timers } from './timers.js';
import {
  BoardErrorReply,
  BridgeTimeoutError,
  NotConnectedError,
  RequestQueue,
  type RetryContext,
} from './request-queue.js';
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
  private readonly pingMs: number;
  private readonly maxMissed: number;
  private readonly desiredState: DesiredState;
  private readonly link: PortLink;
  private readonly counters = {
    timeouts: 0,
    retries: 0,
    lateReplies: 0,
    badPayloads: 0,
    unknownEvents: 0,
    foreignVersion: 0,
    resets: 0,
    repairs: 0,
    reconnects: 0,
    missedPings: 0,
  };
  private readonly requests: RequestQueue;
  private readonly retry: RetryContext;
  private readonly live = new Set<TimerHandle>();
  private pingTimer: TimerHandle | undefined;
  private reopenTimer: TimerHandle | undefined;
  private running = false;
  private connecting = false;
  private gen = 0;
  private consecutiveMissed = 0;
  private bootCount: number | undefined;
  private lastEventSeq = 0;
  private connectedOnce = false;
  private mismatched = false;
  private recheckTimer: TimerHandle | undefined;
  /** Minor protocol version of the board (from its version block). */
  private minor = 0;
  private uptimeS: number | undefined;
  private tripped = false;
  /** What the board last confirmed; undefined = unknown (after a connect or a reset). */
  private confirmed: { amp?: boolean; input?: AudioInput } = {};

  constructor(private readonly deps: BridgeDeps) {
    super();
    this.timers = deps.timers ?? systemTimers();
    this.backoff = new Backoff(deps.backoff ?? { minMs: 200, maxMs: 5000 });
    this.watchdogS = deps.watchdogS ?? WATCHDOG_DEFAULT_S;
    this.pingMs = deps.pingMs ?? Math.floor((this.watchdogS * 1000) / 3);
    this.maxMissed = deps.maxMissedPings ?? 3;
    this.desiredState = { amp: false, input: 'ip', fmFreq: undefined, ...deps.initial };
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
    return { ...this.desiredState };
  }

  stats(): BridgeStats {
    return { ...this.link.stats(), ...this.counters };
  }

  // ---- the desired-state API (what the agent's `mcu` board calls) ----

  /** SET_AMP; switching off an amplifier the board confirmed off sends nothing. */
  async setAmp(on: boolean): Promise<boolean> {
    this.desiredState.amp = on;
    return this.sendAmp(on, () => (!on && this.confirmed.amp === false ? { on: false } : undefined));
  }
  /** SELECT_INPUT; the input the board confirmed is not selected again (§5.1: a no-op). */
  async selectInput(input: AudioInput): Promise<AudioInput> {
    this.desiredState.input = input;
    // Decided when the command's turn comes, after what is queued before it.
    try {
      const r = (
        await this.requests.send({ cmd: 'select-input', input }, this.retry, () =>
          this.confirmed.input === input ? { input } : undefined,
        )
      ).input;
      this.confirmed.input = r;
      return r;
    } catch (e) {
      this.confirmed.input = undefined; // unknown: the next select is sent
      throw e;
    }
  }
  private async sendAmp(on: boolean, skip?: () => { on: boolean } | undefined): Promise<boolean> {
    try {
      const r = (await this.requests.send({ cmd: 'set-amp', on }, this.retry, skip)).on;
      this.confirmed.amp = r;
      return r;
    } catch (e) {
      // Refused (HW_FAULT): the board keeps it off. Anything else: unknown, so the next
      // SET_AMP 0 is sent, never skipped on a guess.
      this.confirmed.amp = e instanceof BoardErrorReply && e.error.code === 'hw_fault' ? false : undefined;
      throw e;
    }
  }
  /** The board's minor protocol version, once connected (0 for a 1.0 board). */
  get boardMinor(): number {
    return this.minor;
  }
  async fmTune(freq: number): Promise<Replies['fm-tune']> {
    encodeCommand({ cmd: 'fm-tune', freq }); // throws RangeError before the desired state changes
    this.desiredState.fmFreq = freq;
    return this.request({ cmd: 'fm-tune', freq });
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
    if (c.cmd === 'line-test' && this.minor < 1 && this.watchdogS < LINE_TEST_MIN_WATCHDOG_S) {
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
    this.confirmed = {};
    this.uptimeS = undefined;
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
    this.bootCount = v.bootCount;
    this.minor = v.minor;
    await this.reapply();
    if (my !== this.gen) return;
    this.connecting = false;
    this.connectedOnce = true;
    this.backoff.reset();
    // Emitted once the board is in the desired state, so a listener may rely on it.
    this.emit('connected', v);
    this.schedulePing();
  }

  private enterMismatch(boardVersion: number): void {
    this.mismatched = true;
    this.timers.clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
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
    this.timers.clearTimeout(this.pingTimer);
    this.timers.clearTimeout(this.recheckTimer);
    this.recheckTimer = undefined;
    this.pingTimer = undefined;
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
    this.lastEventSeq = f.seq;
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
    if (v.bootCount === this.bootCount) return;
    const first = this.bootCount === undefined;
    this.bootCount = v.bootCount;
    this.minor = v.minor;
    if (first) return;
    this.counters.resets++;
    this.confirmed = {};
    this.uptimeS = undefined;
    this.tripped = false;
    this.emit('reset', v);
    if (this.connecting) return; // the handshake re-applies right after GET_VERSION
    this.reapply().catch((err: Error) => this.emit('warning', err));
  }

  /**
   * Write the desired state, amp last so the speaker never plays the wrong source (§5.2).
   * SET_AMP 0 goes first when the amp is wanted off or a fault is flagged (it clears a
   * fault latch whose cause went). A refused SET_AMP 1 (HW_FAULT) does not fail the rest:
   * it is reported as 'amp-refused' and tried again at the next keep-alive.
   */
  private async reapply(ampFault = false): Promise<void> {
    const d = this.desiredState;
    await this.request({ cmd: 'set-watchdog', seconds: this.watchdogS });
    if (!d.amp || ampFault) await this.sendAmp(false);
    this.confirmed.input = (await this.request({ cmd: 'select-input', input: d.input })).input;
    if (d.fmFreq !== undefined) await this.request({ cmd: 'fm-tune', freq: d.fmFreq });
    let ampOn = false;
    if (d.amp) {
      try {
        ampOn = await this.sendAmp(true);
      } catch (e) {
        if (!(e instanceof BoardErrorReply) || e.error.code !== 'hw_fault') throw e;
        this.emit('amp-refused', e);
      }
    }
    // What the board did with WATCHDOG_TRIPPED (§6.1): a 1.1 board clears it on any
    // SET_AMP, a 1.0 board only on SET_AMP 1 accepted. Left set, the flag is no new
    // trip at the next keep-alive (rising edge only): forgetting it made a 1.0 board
    // tripped while idle re-applied every keep-alive until the next play.
    if (this.minor >= 1 || ampOn) this.tripped = false;
    this.emit('reapplied', { ...d, amp: ampOn });
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
      const o = await this.keepAlive();
      this.consecutiveMissed = 0;
      await this.reconcile(o);
    } catch (e) {
      if (port !== this.port) return; // torn down meanwhile; reconnect is already scheduled
      if (e instanceof BoardErrorReply && e.error.code === 'busy') {
        this.consecutiveMissed = 0; // §7: BUSY is an answer; the board is alive and fed
      } else if (e instanceof BridgeTimeoutError) {
        this.counters.timeouts++;
        this.counters.missedPings++;
        if (++this.consecutiveMissed >= this.maxMissed) {
          this.consecutiveMissed = 0;
          this.emit('no-answer');
          this.lost(`${this.maxMissed} pings unanswered`);
          return;
        }
      } else if (!this.mismatched) this.emit('warning', e as Error);
    }
    if (!this.mismatched) this.schedulePing();
  }

  /**
   * One keep-alive exchange, never retried (§7: one per period; three missed in a row is
   * no answer). PING on a 1.1 board; GET_STATUS on a 1.0 board, whose PING cannot show a reset.
   */
  private async keepAlive(): Promise<Observed & { status?: Status }> {
    const name = this.minor >= 1 ? 'ping' : 'get-status';
    const ms = this.retry.timeoutMs(name);
    const f = await this.requests.queued(() =>
      this.requests.exchange(name, this.requests.nextSeq(), encodeCommand({ cmd: name }), ms),
    );
    if (f.type === ERROR_TYPE) throw new BoardErrorReply(name, f.seq, decodeError(f.payload));
    if (name === 'get-status') {
      const s = decodeReply('get-status', f.payload);
      return { ...s, status: s };
    }
    const p = decodeReply('ping', f.payload);
    // A 1.1 PING shows a reset, the amplifier and the input, but not the watchdog N or the
    // tuner: GET_STATUS after it, so their drift is repaired within the same period
    // (checklist row 10). Its failure is not a missed keep-alive: the PING answered.
    try {
      const s = await this.request({ cmd: 'get-status' });
      return { ...p, uptimeS: s.uptimeS, watchdogS: s.watchdogS, fmFreq: s.fmFreq, status: s };
    } catch (e) {
      if (!(e instanceof BridgeTimeoutError || e instanceof BoardErrorReply)) throw e;
      return p;
    }
  }

  /** Judge a keep-alive reply against the wanted state and repair what differs (reconcile.ts). */
  private async reconcile(o: Observed & { status?: Status }): Promise<void> {
    const d = this.desiredState;
    const v = judge(
      { ...d, watchdogS: this.watchdogS },
      { bootCount: this.bootCount, uptimeS: this.uptimeS, lastEventSeq: this.lastEventSeq, tripped: this.tripped },
      o,
    );
    if (o.uptimeS !== undefined) this.uptimeS = o.uptimeS;
    this.tripped = o.flags.watchdogTripped;
    this.confirmed.amp = o.flags.ampOn;
    if (o.input !== undefined) this.confirmed.input = o.input;
    this.lastEventSeq = o.lastEventSeq;
    let reset = v.reset;
    let block: VersionBlock | undefined;
    if (!reset && this.minor < 1 && (v.lostEvents || v.drift.length > 0)) {
      // 1.0: no boot counter in the keep-alive, and an uptime read in the same second as
      // the reset is not smaller: a reset may show only as drift or a lost event. Ask.
      block = await this.request({ cmd: 'get-version' });
      if (this.bootCount !== undefined && block.bootCount !== this.bootCount)
        reset = `boot counter ${this.bootCount} → ${block.bootCount}`;
    }
    if (reset) {
      // The BOOT was lost: the version block says which reset this was, then re-apply.
      block ??= await this.request({ cmd: 'get-version' });
      if (block.bootCount === this.bootCount) this.bootCount = undefined; // 1.0: uptime told us, not the counter
      this.emit('warning', new Error(`IO board reset without a BOOT heard (${reset}); re-applying`));
      const before = this.counters.resets;
      this.onBoot(block);
      if (this.counters.resets === before) {
        // A first-ever counter (1.0) is not counted by onBoot: count this reset here.
        this.counters.resets++;
        this.confirmed = {};
        this.emit('reset', block);
        await this.reapply();
      }
      this.emit('status', o.status ?? (await this.request({ cmd: 'get-status' })));
      return;
    }
    if (v.lostEvents) this.emit('status', o.status ?? (await this.request({ cmd: 'get-status' })));
    if (v.drift.length > 0) {
      this.counters.repairs++;
      this.emit('drift', v.drift);
      this.confirmed = {};
      await this.reapply(o.flags.ampFault);
    }
  }
}

/** Frames frozen across versions (§6): read whatever their VER. */
function isFrozenFrame(f: Frame): boolean {
  return f.type === 0x40 || f.type === ERROR_TYPE || f.type === (0x09 | 0x80);
}
