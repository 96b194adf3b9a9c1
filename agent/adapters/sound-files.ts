// The commissioning baseline and the last measured play, as files in the state directory
// (domain/sound-baseline.ts): `sound-baseline.json` is written by the installer's
// `loa-provision check --tone`, read here on each measured play (a re-commissioning is
// seen without a restart); `sound-last.json` is written here, read by `loa-provision show`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import {
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
