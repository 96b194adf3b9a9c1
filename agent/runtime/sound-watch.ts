// The commissioning level at work (issue [6/8] item 3): each play the IO board measured is
// judged against the baseline the installer recorded (`loa-provision check --tone`). An
// amplifier delivering under 60 % of its commissioned output for the same input is
// `hw.fault output weak`; a later play at 60 % or more recovers it. The last reading is
// kept in the state directory for `loa-provision show`. A box without a baseline, or a
// play without enough measured windows, is judged on nothing: it never guesses.
import type { SoundOutput } from '../../contract/events.js';
import type { HwCondition } from '../adapters/board.js';
import type { SoundFiles } from '../adapters/sound-files.js';
import type { Clock } from '../adapters/clock.js';
import type { Logger } from '../log.js';
import { isWeak, percentOf } from '../domain/sound-baseline.js';

/** Windows that carried signal and sounded, before a play's gain is judged (short plays are noisy). */
export const MIN_JUDGED_WINDOWS = 3;

export interface MeasuredPlay {
  itemId: string;
  output: SoundOutput;
  gainDb: number | null;
  gainWindows: number;
}

export class SoundWatch {
  private weak = false;
  private lastBad: string | undefined;
  private readonly listeners = new Set<(p: MeasuredPlay) => void>();

  constructor(
    private readonly d: { files: SoundFiles; clock: Clock; log: Logger; reportHw: (c: HwCondition) => void },
  ) {}

  /** Each play that ended, measured or not (the page's commissioning waits for its tone's). */
  onPlayed(l: (p: MeasuredPlay) => void): () => void {
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }

  played(p: MeasuredPlay): void {
    for (const l of this.listeners) l(p);
    if (!p.output.measured) return;
    const read = this.d.files.baseline();
    if (read && !read.ok && read.why !== this.lastBad) {
      this.lastBad = read.why;
      this.d.log.warn({ code: 'SOUND_BASELINE', why: read.why }, 'commissioning level unusable: plays are not judged');
    }
    const baseline = read?.ok ? read.baseline : null;
    const judged = baseline !== null && p.gainDb !== null && p.gainWindows >= MIN_JUDGED_WINDOWS;
    const percent = judged ? percentOf(baseline, p.gainDb!) : null;
    try {
      this.d.files.writeLast({
        at: new Date(this.d.clock.now()).toISOString(),
        itemId: p.itemId,
        levelDb: p.output.levelDb,
        gainDb: p.gainDb,
        silentMs: p.output.silentMs,
        percent,
      });
    } catch (err) {
      this.d.log.warn({ code: 'STORE_WRITE', err }, 'last sound reading not written');
    }
    if (percent === null) return;
    const weak = isWeak(percent);
    if (weak === this.weak) return;
    this.weak = weak;
    this.d.reportHw({
      component: 'output',
      code: 'weak',
      active: weak,
      message: weak
        ? `the amplifier delivers ${percent} % of its commissioned output (gain ${p.gainDb} dB, commissioned ${baseline!.gainDb} dB on ${baseline!.at.slice(0, 10)})`
        : `the amplifier delivers ${percent} % of its commissioned output again`,
    });
  }
}
