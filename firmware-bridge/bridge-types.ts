// Public option, state, stats and event types of FirmwareBridge, split out of bridge.ts
// to keep it small (with the bridge's zeroed counters); bridge.ts re-exports the types.

import type { ParserStats } from './parser.js';
import type { AudioInput, BoardEvent, CommandName, Status, VersionBlock } from './messages.js';
import type { BackoffPolicy } from './backoff.js';
import type { Duplex } from 'node:stream';
import type { Timers } from './timers.js';

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
  /** Board frames of another VER that are not frozen (§6): dropped, never acted on. */
  foreignVersion: number;
  resets: number;
  /** Keep-alive replies that showed drift from the wanted state, which was then re-applied. */
  repairs: number;
  reconnects: number;
  missedPings: number;
}

export interface BridgeEvents {
  /** An unsolicited board event (BOOT included). */
  event: [BoardEvent];
  /** The board was reset (BOOT with a new boot counter, or the counter changed). */
  reset: [VersionBlock];
  /** The desired state was written to the board after a connect, reset or drift; `amp` is what the board took. */
  reapplied: [DesiredState];
  /** SET_AMP 1 refused with HW_FAULT while re-applying; tried again at the next keep-alive. */
  'amp-refused': [Error];
  /** A keep-alive reply differed from the wanted state (what differed); re-applying follows. */
  drift: [string[]];
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
  /** Watchdog N sent with SET_WATCHDOG; keep-alives go every N/3 (§7). */
  watchdogS?: number;
  /** Overrides the N/3 ping period (tests). */
  pingMs?: number;
  maxMissedPings?: number;
  timeoutMs?: Partial<Record<CommandName, number>>;
  backoff?: BackoffPolicy;
  initial?: Partial<DesiredState>;
}

/** The bridge's own counters (BridgeStats less the parser's), all zero: stats() reports them. */
export function zeroCounters(): Omit<BridgeStats, keyof ParserStats> {
  return {
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
}
