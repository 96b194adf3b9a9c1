// The bridge's pinger and reset / lost-event detection (PROTOCOL.md §4, §7): one
// keep-alive every period (PING on a 1.1 board, whose reply carries the boot counter and
// the input; GET_STATUS on a 1.0 board), `maxMissed` unanswered in a row = the board is
// lost, and every reply judged against the board state (reconcile.ts verdict): a reset
// (boot counter or uptime), drift (amp, input, watchdog, tuner, fault flags) or lost
// events are repaired within one ping period, whatever BOOT or event frames were lost.
// FirmwareBridge (bridge.ts) owns the connection and hands this its host.
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { BoardMirror } from './board-mirror.js';
import type { BridgeEvents } from './bridge-types.js';
import { judge, type Observed } from './reconcile.js';
import {
  ERROR_TYPE,
  decodeError,
  decodeReply,
  encodeCommand,
  type Command,
  type Replies,
  type Status,
  type VersionBlock,
} from './messages.js';
import { BoardErrorReply, BridgeTimeoutError, type RequestQueue, type RetryContext } from './request-queue.js';
import type { TimerHandle, Timers } from './timers.js';

/** What the keep-alive needs of the bridge. */
export interface KeepAliveHost {
  timers: Timers;
  state: BoardMirror;
  requests: RequestQueue;
  retry: RetryContext;
  counters: { timeouts: number; missedPings: number; resets: number; repairs: number };
  running(): boolean;
  port(): Duplex | undefined;
  mismatched(): boolean;
  request<C extends Command>(c: C): Promise<Replies[C['cmd']]>;
  emit: EventEmitter<BridgeEvents>['emit'];
  /** The board is gone: tear the port down and reopen it. */
  lost(reason: string): void;
  /** A version block seen as a BOOT (bridge.ts decides whether it is a new reset). */
  onBoot(v: VersionBlock): void;
}

export class KeepAlive {
  private timer: TimerHandle | undefined;
  private consecutiveMissed = 0;

  constructor(
    private readonly h: KeepAliveHost,
    private readonly pingMs: number,
    private readonly maxMissed: number,
  ) {}

  schedule(): void {
    this.h.timers.clearTimeout(this.timer);
    if (!this.h.running() || !this.h.port()) return;
    this.timer = this.h.timers.setTimeout(() => void this.ping(), this.pingMs);
  }

  cancel(): void {
    this.h.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async ping(): Promise<void> {
    const h = this.h;
    const port = h.port();
    try {
      const o = await this.exchange();
      this.consecutiveMissed = 0;
      await this.reconcile(o);
    } catch (e) {
      if (port !== h.port()) return; // torn down meanwhile; reconnect is already scheduled
      if (e instanceof BoardErrorReply && e.error.code === 'busy') {
        this.consecutiveMissed = 0; // §7: BUSY is an answer; the board is alive and fed
      } else if (e instanceof BridgeTimeoutError) {
        h.counters.timeouts++;
        h.counters.missedPings++;
        if (++this.consecutiveMissed >= this.maxMissed) {
          this.consecutiveMissed = 0;
          h.emit('no-answer');
          h.lost(`${this.maxMissed} pings unanswered`);
          return;
        }
      } else if (!h.mismatched()) h.emit('warning', e as Error);
    }
    if (!h.mismatched()) this.schedule();
  }

  /**
   * One keep-alive exchange, never retried (§7: one per period; three missed in a row is
   * no answer). PING on a 1.1 board; GET_STATUS on a 1.0 board, whose PING cannot show a reset.
   */
  private async exchange(): Promise<Observed & { status?: Status }> {
    const { requests, retry } = this.h;
    const name = this.h.state.minor >= 1 ? 'ping' : 'get-status';
    const ms = retry.timeoutMs(name);
    const f = await requests.queued(() =>
      requests.exchange(name, requests.nextSeq(), encodeCommand({ cmd: name }), ms),
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
      const s = await this.h.request({ cmd: 'get-status' });
      return { ...p, uptimeS: s.uptimeS, watchdogS: s.watchdogS, fmFreq: s.fmFreq, status: s };
    } catch (e) {
      if (!(e instanceof BridgeTimeoutError || e instanceof BoardErrorReply)) throw e;
      return p;
    }
  }

  /** Judge a keep-alive reply against the wanted state and repair what differs (reconcile.ts). */
  private async reconcile(o: Observed & { status?: Status }): Promise<void> {
    const h = this.h;
    const st = h.state;
    const v = judge(
      { ...st.desired, watchdogS: st.watchdogS },
      { bootCount: st.bootCount, uptimeS: st.uptimeS, lastEventSeq: st.lastEventSeq, tripped: st.tripped },
      o,
    );
    if (o.uptimeS !== undefined) st.uptimeS = o.uptimeS;
    st.tripped = o.flags.watchdogTripped;
    st.confirmed.amp = o.flags.ampOn;
    if (o.input !== undefined) st.confirmed.input = o.input;
    st.lastEventSeq = o.lastEventSeq;
    let reset = v.reset;
    let block: VersionBlock | undefined;
    if (!reset && st.minor < 1 && (v.lostEvents || v.drift.length > 0)) {
      // 1.0: no boot counter in the keep-alive, and an uptime read in the same second as
      // the reset is not smaller: a reset may show only as drift or a lost event. Ask.
      block = await h.request({ cmd: 'get-version' });
      if (st.bootCount !== undefined && block.bootCount !== st.bootCount)
        reset = `boot counter ${st.bootCount} → ${block.bootCount}`;
    }
    if (reset) {
      // The BOOT was lost: the version block says which reset this was, then re-apply.
      block ??= await h.request({ cmd: 'get-version' });
      if (block.bootCount === st.bootCount) st.bootCount = undefined; // 1.0: uptime told us, not the counter
      h.emit('warning', new Error(`IO board reset without a BOOT heard (${reset}); re-applying`));
      const before = h.counters.resets;
      h.onBoot(block);
      if (h.counters.resets === before) {
        // A first-ever counter (1.0) is not counted by onBoot: count this reset here.
        h.counters.resets++;
        st.confirmed = {};
        h.emit('reset', block);
        await st.reapply();
      }
      h.emit('status', o.status ?? (await h.request({ cmd: 'get-status' })));
      return;
    }
    if (v.lostEvents) h.emit('status', o.status ?? (await h.request({ cmd: 'get-status' })));
    if (v.drift.length > 0) {
      h.counters.repairs++;
      h.emit('drift', v.drift);
      st.confirmed = {};
      await st.reapply(o.flags.ampFault);
    }
  }
}
