// The commissioning level (issue [6/8] item 3): while `check --tone` plays the chime, the
// IO board (protocol 1.2) measures the speaker line every second. The first such check on
// a box records what it measured as the box's baseline (`{stateDir}/sound-baseline.json`,
// domain/sound-baseline.ts); the agent judges every later play against it. A later check
// compares and keeps the baseline, so a technician chasing a weak amplifier cannot
// overwrite the evidence by testing it: `--rebaseline` replaces it, after an amplifier or
// a speaker line was changed on purpose.
import { join } from 'node:path';
import { soundFiles, type SoundFiles } from '../agent/adapters/sound-files.js';
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
import { msg, type Lang, type Text } from './text.js';

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
export function notMeasured(board: Text): Outcome {
  return skip(msg('check.comm.notMeasured', { board }), msg('check.comm.notMeasured.hint'));
}

export function commission(c: Commissioning): Outcome {
  const m = measureBaseline(c.windows);
  if (!m.ok) return fail(msg('check.comm.notRecorded', { why: m.why }), msg('check.comm.silent.hint'));
  const path = join(c.stateDir, SOUND_BASELINE_FILE);
  const before = soundFiles(c.stateDir).baseline();
  if (before?.ok && !c.rebaseline) {
    const b = before.baseline;
    const percent = percentOf(b, m.gainDb);
    const of = msg('check.comm.of', { percent, gain: m.gainDb, was: b.gainDb, date: b.at.slice(0, 10) });
    if (isWeak(percent))
      return fail(
        msg('check.comm.at', { of }),
        msg('check.comm.weak.hint', { percent: WEAK_FRACTION * 100, command: REBASELINE }),
      );
    return pass(msg('check.comm.kept', { of, command: REBASELINE }));
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
    return fail(
      msg('check.comm.notRecorded', { why: errorMessage(err) }),
      msg('check.comm.unwritable.hint', { dir: c.stateDir }),
    );
  }
  const line = c.lineOhms === null ? msg('check.comm.lineUnknown') : msg('check.comm.line', { ohms: c.lineOhms });
  const replaced = before && !before.ok ? msg('check.comm.replaced', { why: before.why }) : '';
  return pass(
    msg('check.comm.recorded', {
      level: m.levelDb,
      volume: c.volumePct,
      gain: m.gainDb,
      line,
      windows: m.windows,
      path,
      replaced,
    }),
  );
}

// `show --json` gives the agent's own words (English); the terminal, soundText's.
export { describeSound as soundSummary } from '../agent/adapters/sound-files.js';

/**
 * The baseline and the last measured play in `lang`: describeSound's words
 * (agent/adapters/sound-files.ts, what `show --json` and the page's English give), from
 * the catalogue. test/unit/provision-i18n.test.ts holds the English to describeSound's.
 */
export function soundText(files: SoundFiles, lang: Lang): { baseline: string; last: string } {
  const tx = (key: Parameters<typeof msg>[0], vars?: Parameters<typeof msg>[1]) => msg(key, vars)(lang);
  const when = (at: string) => at.slice(0, 16).replace('T', ' ');
  const b = files.baseline();
  const baseline =
    b === null
      ? tx('sound.none')
      : !b.ok
        ? tx('sound.unusable', { why: b.why })
        : tx('sound.baseline', {
            gain: b.baseline.gainDb,
            level: b.baseline.levelDb,
            volume: b.baseline.volumePct,
            line:
              b.baseline.lineOhms === null
                ? msg('check.comm.lineUnknown')
                : msg('check.comm.line', { ohms: b.baseline.lineOhms }),
            at: when(b.baseline.at),
            by: b.baseline.by ? msg('sound.by', { who: b.baseline.by }) : '',
          });
  const r = files.last();
  const last =
    r === null
      ? tx('sound.noPlay')
      : tx('sound.last', {
          at: when(r.at),
          itemId: r.itemId,
          level: r.levelDb ?? '?',
          gain: r.gainDb ?? '?',
          percent:
            r.percent === null
              ? ''
              : msg('sound.percent', { percent: r.percent, weak: isWeak(r.percent) ? msg('sound.weak') : '' }),
          silent: r.silentMs > 0 ? msg('sound.silent', { s: Math.round(r.silentMs / 1000) }) : '',
        });
  return { baseline, last };
}
