// The commissioning baseline and the last measured play, as files in the state directory
// (domain/sound-baseline.ts): `sound-baseline.json` is written by the installer's
// `loa-provision check --tone`, read here on each measured play (a re-commissioning is
// seen without a restart); `sound-last.json` is written here, read by `loa-provision show`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import {
  isWeak,
  parseBaseline,
  SOUND_BASELINE_FILE,
  SOUND_LAST_FILE,
  type SoundBaseline,
  type SoundReading,
} from '../domain/sound-baseline.js';

export type BaselineRead = { ok: true; baseline: SoundBaseline } | { ok: false; why: string } | null;

export interface SoundFiles {
  /** The baseline; null when none was recorded; `ok: false` for a file that cannot be used. */
  baseline(): BaselineRead;
  /** Throws when the disk refuses the write. */
  writeLast(r: SoundReading): void;
  /** The last reading written; null when none (or unreadable: it is only informative). */
  last(): SoundReading | null;
  /** Record the commissioning level (the page; loa-provision writes it itself). Throws when the disk refuses. */
  writeBaseline(b: SoundBaseline): void;
}

export function soundFiles(stateDir: string): SoundFiles {
  const baselinePath = join(stateDir, SOUND_BASELINE_FILE);
  return {
    baseline() {
      let text: string;
      try {
        text = readFileSync(baselinePath, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        return { ok: false, why: `${baselinePath}: ${(err as Error).message}` };
      }
      const r = parseBaseline(text);
      return r.ok ? r : { ok: false, why: `${baselinePath}: ${r.why}` };
    },
    writeLast(r) {
      writeFileAtomic(join(stateDir, SOUND_LAST_FILE), JSON.stringify(r, null, 2) + '\n', 0o644);
    },
    writeBaseline(b) {
      writeFileAtomic(baselinePath, JSON.stringify(b, null, 2) + '\n', 0o644);
    },
    last() {
      try {
        const r = JSON.parse(readFileSync(join(stateDir, SOUND_LAST_FILE), 'utf8')) as SoundReading;
        return typeof r.at === 'string' ? r : null;
      } catch {
        return null;
      }
    },
  };
}

/** The baseline and the last measured play, in words (`loa-provision show`, the page). */
export function describeSound(files: SoundFiles): { baseline: string; last: string } {
  const b = files.baseline();
  const baseline =
    b === null
      ? 'none recorded (loa-provision check --tone records it on a board that measures)'
      : !b.ok
        ? `UNUSABLE: ${b.why}`
        : `gain ${b.baseline.gainDb} dB, output ${b.baseline.levelDb} dB at ${b.baseline.volumePct} %, ${b.baseline.lineOhms === null ? 'line not measured' : `line ${b.baseline.lineOhms} Ω`}; ${b.baseline.at.slice(0, 16).replace('T', ' ')}${b.baseline.by ? ` by ${b.baseline.by}` : ''}`;
  const r = files.last();
  const last =
    r === null
      ? 'no measured play yet'
      : `${r.at.slice(0, 16).replace('T', ' ')} ${r.itemId}: output ${r.levelDb ?? '?'} dB, gain ${r.gainDb ?? '?'} dB${r.percent === null ? '' : ` = ${r.percent} % of commissioned${isWeak(r.percent) ? ' (WEAK)' : ''}`}${r.silentMs > 0 ? `, silent ${Math.round(r.silentMs / 1000)} s` : ''}`;
  return { baseline, last };
}
