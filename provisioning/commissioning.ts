// The commissioning level (issue [6/8] item 3): while `check --tone` plays the chime, the
// IO board (protocol 1.2) measures the speaker line every second. The first such check on
// a box records what it measured as the box's baseline (`{stateDir}/sound-baseline.json`,
// domain/sound-baseline.ts); the agent judges every later play against it. A later check
// compares and keeps the baseline, so a technician chasing a weak amplifier cannot
// overwrite the evidence by testing it: `--rebaseline` replaces it, after an amplifier or
// a speaker line was changed on purpose.
import { join } from 'node:path';
import { soundFiles } from '../agent/adapters/sound-files.js';
import {
  isWeak,
  measureBaseline,
  percentOf,
  SOUND_BASELINE_FILE,
  WEAK_FRACTION,
  type SoundBaseline,
} from '../agent/domain/sound-baseline.js';
import type { LevelsWindow } from '../agent/domain/sound-proof.js';
import { errorMessage } from '../cli-kit/index.js';
import { atomicWrite } from './files.js';
import { fail, pass, skip, type Outcome } from './report.js';

export const COMMISSIONING = 'commissioning level';

export interface Commissioning {
  stateDir: string;
  /** The board's windows while the tone played. */
  windows: readonly LevelsWindow[];
  /** The speaker line's impedance from the line test, Ω; null where it was not measured. */
  lineOhms: number | null;
  volumePct: number;
  rebaseline: boolean;
  now: Date;
  by?: string;
}

const REBASELINE = 'loa-provision check --tone --rebaseline';

/** Not measured at all: a board without protocol 1.2 (GPIO relays, an older IO board, "sim"). */
export function notMeasured(board: string): Outcome {
  return skip(
    `${board} does not measure its output: no commissioning level (plays are reported "measured": false)`,
    'an IO board with firmware protocol 1.2 measures it (firmware-bridge/PROTOCOL.md §5.6)',
  );
}

export function commission(c: Commissioning): Outcome {
  const m = measureBaseline(c.windows);
  if (!m.ok)
    return fail(
      `not recorded: ${m.why}`,
      "the amplifier's output does not reach the line: check its output fuse, the speaker line's terminals and the line test above, then run the check again",
    );
  const path = join(c.stateDir, SOUND_BASELINE_FILE);
  const before = soundFiles(c.stateDir).baseline();
  if (before?.ok && !c.rebaseline) {
    const b = before.baseline;
    const percent = percentOf(b, m.gainDb);
    const of = `${percent} % of the commissioned output (gain ${m.gainDb} dB, commissioned ${b.gainDb} dB on ${b.at.slice(0, 10)})`;
    if (isWeak(percent))
      return fail(
        `amplifier at ${of}`,
        `under ${WEAK_FRACTION * 100} % is a weak amplifier: check its supply voltage, output fuse and transformer taps; if it was replaced on purpose, record the new level: ${REBASELINE}`,
      );
    return pass(`amplifier at ${of}; baseline kept (${REBASELINE} replaces it)`);
  }
  const baseline: SoundBaseline = {
    at: c.now.toISOString(),
    gainDb: m.gainDb,
    levelDb: m.levelDb,
    lineOhms: c.lineOhms,
    volumePct: c.volumePct,
    windows: m.windows,
    ...(c.by ? { by: c.by } : {}),
  };
  try {
    atomicWrite(path, JSON.stringify(baseline, null, 2) + '\n', 0o644);
  } catch (err) {
    return fail(`not recorded: ${errorMessage(err)}`, `the state directory must be writable: ls -ld ${c.stateDir}`);
  }
  const line = c.lineOhms === null ? 'line not measured' : `line ${c.lineOhms} Ω`;
  const replaced = before && !before.ok ? ` (replaced an unusable one: ${before.why})` : '';
  return pass(
    `recorded: output ${m.levelDb} dB of rated at ${c.volumePct} % volume, gain ${m.gainDb} dB, ${line}, ${m.windows} windows → ${path}${replaced}`,
  );
}

export { describeSound as soundSummary } from '../agent/adapters/sound-files.js';
