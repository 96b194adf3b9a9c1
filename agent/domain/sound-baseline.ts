// The commissioning level (issue [6/8], contract v1.2 §9): what the installer measured
// through the amplifier with the test tone, kept as the box's baseline, and the verdict on
// later plays against it. Pure.
//
// What is compared is the amplifier's **gain**: the speaker line's level (dB of its rated
// output) minus the level of the signal fed into it (dBFS), per 1 s window of the IO board
// (firmware-bridge/PROTOCOL.md §5.6). The output level alone cannot be compared: a bulletin
// at 60 % volume, or a quiet speech, is not a weak amplifier. The gain does not depend on
// either; it drops when an output stage, a transformer tap or a fuse half-fails.
//
// An amplifier is weak below 60 % of its commissioned output, as voice-alarm suppliers
// (ASL) judge it: 60 % of the line **voltage** for the same input, 20·log10(0.6) = −4.4 dB.
import { z } from 'zod';
import { median, SIGNAL_IN_DBFS, SILENT_OUT_DB, windowGain, type LevelsWindow } from './sound-proof.js';

/** Under this fraction of the commissioned output (line voltage, same input), the amplifier is weak. */
export const WEAK_FRACTION = 0.6;
/** Windows with signal the tone must give for a baseline (the 3 s chime gives 2 or 3). */
export const MIN_BASELINE_WINDOWS = 2;
/** The baseline and the last measured play, in the agent's state directory. */
export const SOUND_BASELINE_FILE = 'sound-baseline.json';
export const SOUND_LAST_FILE = 'sound-last.json';

export const soundBaselineSchema = z.object({
  /** When it was measured (ISO 8601). */
  at: z.string(),
  /** Median gain over the tone's windows, dB (line level dB of rated − input dBFS). */
  gainDb: z.number(),
  /** Median output level during the tone, dB of the rated output (at `volumePct`). */
  levelDb: z.number(),
  /** The speaker line's impedance the board measured, Ω; null where it could not. */
  lineOhms: z.number().nullable(),
  /** The tone's volume, percent of audio.maxVolume. */
  volumePct: z.number(),
  windows: z.number().int().positive(),
  /** Who measured it (site.installer or the user running the check), where known. */
  by: z.string().optional(),
});
export type SoundBaseline = z.infer<typeof soundBaselineSchema>;

/** What the agent measured of its last play that sounded (`sound-last.json`). */
export interface SoundReading {
  at: string;
  itemId: string;
  levelDb: number | null;
  gainDb: number | null;
  silentMs: number;
  /** Percent of the commissioned output (line voltage); null without a baseline or a gain. */
  percent: number | null;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** The tone's windows → the level and gain to keep, or why there is none. */
export function measureBaseline(
  windows: readonly LevelsWindow[],
): { ok: true; gainDb: number; levelDb: number; windows: number } | { ok: false; why: string } {
  const usable = windows.filter((w) => windowGain(w) !== null);
  if (windows.length === 0) return { ok: false, why: 'the IO board sent no measurement while the tone played' };
  if (usable.length < MIN_BASELINE_WINDOWS) {
    const silent = windows.filter(
      (w) => w.outDb !== null && w.outDb < SILENT_OUT_DB && w.inDbfs !== null && w.inDbfs > SIGNAL_IN_DBFS,
    ).length;
    return {
      ok: false,
      why:
        silent > 0
          ? `the speaker line stayed silent in ${silent} of ${windows.length} windows while the tone played`
          : `only ${usable.length} of ${windows.length} windows carried the tone (at least ${MIN_BASELINE_WINDOWS} needed)`,
    };
  }
  return {
    ok: true,
    gainDb: round1(median(usable.map((w) => windowGain(w)!))!),
    levelDb: round1(median(usable.map((w) => w.outDb!))!),
    windows: usable.length,
  };
}

/**
 * Percent of the commissioned output a gain gives (line voltage for the same input), whole
 * percents rounded down: under 60 here is exactly under 60 % (59.6 % reads 59, not 60).
 */
export function percentOf(baseline: Pick<SoundBaseline, 'gainDb'>, gainDb: number): number {
  return Math.floor(100 * 10 ** ((gainDb - baseline.gainDb) / 20));
}

export function isWeak(percent: number): boolean {
  return percent < WEAK_FRACTION * 100;
}

/** A baseline file's text → the baseline, or a message saying what is wrong with it. */
export function parseBaseline(text: string): { ok: true; baseline: SoundBaseline } | { ok: false; why: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, why: `not JSON (${(err as Error).message})` };
  }
  const r = soundBaselineSchema.safeParse(raw);
  if (!r.success) return { ok: false, why: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  return { ok: true, baseline: r.data };
}
