// Proof of sound (contract v1.2 §9): what the IO board measured while one play segment
// should have sounded, window by window (firmware-bridge/PROTOCOL.md §5.6). Pure.
//
// A window is **silent** when the speaker line carries less than SILENT_OUT_DB while the
// amplifier's input carries signal (above SIGNAL_IN_DBFS): the player produced audio and
// the horns got none of it. A window whose input is itself quiet (a pause in speech) says
// nothing either way: it neither counts nor ends a silent run. The run (`silentRunMs`) is
// what the playback judges (more than 5 s: `hw.fault output`); the total (`silentMs`) is
// what the proof of play reports. Dead air (`deadAirMs`) is the input itself quiet, window
// after window: a relay whose station or stream sends nothing.
import type { SoundOutput } from '../../contract/events.js';

/** Below this, the speaker line is silent (dB of the rated output). */
export const SILENT_OUT_DB = -40;
/** Above this, the amplifier's input carries signal (dBFS). */
export const SIGNAL_IN_DBFS = -50;
/** Silent this long while the input carries signal: `hw.fault output no_output`, the next path (contract §9). */
export const NO_OUTPUT_MS = 5_000;

export interface LevelsWindow {
  outDb: number | null;
  inDbfs: number | null;
  windowMs: number;
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * A window's gain (line dB − input dBFS), where the input carried signal and the line
 * sounded: what the commissioning baseline is compared on (domain/sound-baseline.ts). A
 * silent line is `no_output`'s to judge, not a low gain.
 */
export function windowGain(w: LevelsWindow): number | null {
  if (w.outDb === null || w.inDbfs === null) return null;
  if (w.inDbfs <= SIGNAL_IN_DBFS || w.outDb < SILENT_OUT_DB) return null;
  return w.outDb - w.inDbfs;
}

export class SoundProof {
  private readonly levels: number[] = [];
  private readonly gains: number[] = [];
  private measured = 0;
  private silent = 0;
  private run = 0;
  private dead = 0;

  /** One window measured while the segment sounded. */
  add(w: LevelsWindow): void {
    if (w.inDbfs !== null) this.dead = w.inDbfs > SIGNAL_IN_DBFS ? 0 : this.dead + w.windowMs;
    if (w.outDb === null) return;
    this.levels.push(w.outDb);
    const g = windowGain(w);
    if (g !== null) this.gains.push(g);
    this.measured += w.windowMs;
    if (w.outDb >= SILENT_OUT_DB) this.run = 0;
    else if (w.inDbfs !== null && w.inDbfs > SIGNAL_IN_DBFS) {
      this.silent += w.windowMs;
      this.run += w.windowMs;
    }
  }

  /** How long the output has been silent, on end, while the input carried signal. */
  get silentRunMs(): number {
    return this.run;
  }

  /** How long the amplifier's input has carried nothing (dead air), on end. */
  get deadAirMs(): number {
    return this.dead;
  }

  /** Judge the next path afresh (the runs start over; the totals stay). */
  newPath(): void {
    this.run = 0;
    this.dead = 0;
  }

  /** The report for a segment that sounded `playedMs`: measured if at least half of it was. */
  result(playedMs: number): SoundOutput {
    if (this.levels.length === 0 || this.measured < playedMs / 2) return { measured: false };
    return { measured: true, levelDb: Math.round(median(this.levels)! * 10) / 10, silentMs: this.silent };
  }

  /** The amplifier's median gain over the windows that carried signal and sounded; null with none. */
  gainDb(): number | null {
    const g = median(this.gains);
    return g === null ? null : Math.round(g * 10) / 10;
  }

  /** How many windows the gain is the median of. */
  get gainWindows(): number {
    return this.gains.length;
  }
}
