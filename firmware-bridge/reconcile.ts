// What a keep-alive reply says about the board, compared with what the host wants
// (PROTOCOL.md §4 "Status is the truth", §7). Pure: the bridge performs the verdict.
//
// The host cannot rely on BOOT frames or on event SEQs to notice a reset: noise at
// power-up or the host's own first command can swallow or stop the BOOT, and after a
// reset last_event_seq is 1 again, maybe the very value the host last saw. So every
// keep-alive reply is checked against the wanted state:
// - a reset: the boot counter of a 1.1 PING reply changed, or the uptime of a 1.0
//   GET_STATUS reply went backwards;
// - drift: the amplifier, input, watchdog N or tuner differ from what the host wants,
//   an amplifier fault is flagged (SET_AMP 0 clears a latch whose cause went), or
//   WATCHDOG_TRIPPED rose; the host re-applies its wanted state;
// - lost events: last_event_seq is not the last event SEQ the host received; the host
//   reads GET_STATUS (the levels) to catch up.
import type { AudioInput, StatusFlags } from './payload-fields.js';

/** One keep-alive reply: PING (1.1: with boot counter and input) or GET_STATUS (1.0). */
export interface Observed {
  flags: StatusFlags;
  lastEventSeq: number;
  bootCount?: number;
  input?: AudioInput;
  uptimeS?: number;
  watchdogS?: number;
  /** 10 kHz units, 0 when the tuner is off (GET_STATUS only). */
  fmFreq?: number;
}

export interface Known {
  bootCount: number | undefined;
  uptimeS: number | undefined;
  lastEventSeq: number;
  /** WATCHDOG_TRIPPED in the previous reply (a 1.0 board keeps it set while the amp stays off). */
  tripped: boolean;
}

export interface Wanted {
  amp: boolean;
  input: AudioInput;
  fmFreq: number | undefined;
  watchdogS: number;
}

export interface Verdict {
  /** Why the board must have reset; null if nothing says so. */
  reset: string | null;
  /** What differs from the wanted state; empty when the board is as wanted. */
  drift: string[];
  lostEvents: boolean;
}

export function judge(want: Wanted, known: Known, o: Observed): Verdict {
  let reset: string | null = null;
  if (o.bootCount !== undefined && known.bootCount !== undefined && o.bootCount !== known.bootCount)
    reset = `boot counter ${known.bootCount} → ${o.bootCount}`;
  else if (o.uptimeS !== undefined && known.uptimeS !== undefined && o.uptimeS < known.uptimeS)
    reset = `uptime ${known.uptimeS} s → ${o.uptimeS} s`;
  const drift: string[] = [];
  if (o.flags.ampOn !== want.amp && !(want.amp && o.flags.ampFault))
    drift.push(`amp ${o.flags.ampOn ? 'on' : 'off'}, wanted ${want.amp ? 'on' : 'off'}`);
  if (o.flags.ampFault) drift.push('amplifier fault flagged');
  if (o.flags.watchdogTripped && !known.tripped) drift.push('watchdog tripped');
  if (o.input !== undefined && o.input !== want.input) drift.push(`input ${o.input}, wanted ${want.input}`);
  if (o.watchdogS !== undefined && o.watchdogS !== want.watchdogS)
    drift.push(`watchdog ${o.watchdogS} s, wanted ${want.watchdogS} s`);
  if (o.fmFreq === 0 && want.fmFreq !== undefined) drift.push('tuner off, wanted tuned');
  return { reset, drift, lostEvents: o.lastEventSeq !== known.lastEventSeq };
}
