// The commissioning level (issue 29 item 3): the baseline measured from the tone's windows,
// the 60 % verdict, the baseline file's validation, and SoundWatch's fault and reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  isWeak,
  measureBaseline,
  parseBaseline,
  percentOf,
  SOUND_BASELINE_FILE,
  SOUND_LAST_FILE,
} from '../../agent/domain/sound-baseline.js';
import { SoundProof } from '../../agent/domain/sound-proof.js';
import { soundFiles } from '../../agent/adapters/sound-files.js';
import { SoundWatch } from '../../agent/runtime/sound-watch.js';
import type { HwCondition } from '../../agent/adapters/board.js';
import { pino } from 'pino';
import { ManualClock } from '../fakes/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';

const w = (outDb: number | null, inDbfs: number | null) => ({ outDb, inDbfs, windowMs: 1000 });

test('the baseline is the median gain and level of the windows that carried the tone and sounded', () => {
  const r = measureBaseline([w(-6, -18), w(-5, -18), w(-7.2, -18), w(-90, -90), w(null, -18)]);
  assert.deepEqual(r, { ok: true, gainDb: 12, levelDb: -6, windows: 3 });
  // Quiet windows (a pause) and unmeasured ones count for nothing; two are needed.
  assert.deepEqual(measureBaseline([w(-6, -18), w(-90, -90)]), {
    ok: false,
    why: 'only 1 of 2 windows carried the tone (at least 2 needed)',
  });
  assert.match((measureBaseline([]) as { why: string }).why, /sent no measurement/);
  const silent = measureBaseline([w(-80, -18), w(-80, -18), w(-6, -18)]);
  assert.deepEqual(silent, {
    ok: false,
    why: 'the speaker line stayed silent in 2 of 3 windows while the tone played',
  });
});

test('60 % of the commissioned line voltage is the line: -4.4 dB passes, -4.5 dB is weak', () => {
  const b = { gainDb: 12 };
  assert.equal(percentOf(b, 12), 100);
  assert.equal(percentOf(b, 6), 50);
  assert.equal(percentOf(b, 12 - 4.4), 60);
  assert.equal(isWeak(percentOf(b, 12 - 4.4)), false);
  assert.equal(percentOf(b, 12 - 4.5), 60 - 1);
  assert.equal(isWeak(percentOf(b, 12 - 4.5)), true);
  assert.equal(percentOf(b, 14), 125, 'a stronger amplifier (a tap changed) is not weak');
});

test('a baseline file that is not JSON or misses a field is refused with what is wrong', () => {
  assert.match((parseBaseline('{') as { why: string }).why, /^not JSON/);
  assert.match((parseBaseline('{"at":"x","gainDb":"12"}') as { why: string }).why, /gainDb/);
  const ok = parseBaseline(
    JSON.stringify({ at: '2026-01-01T00:00:00Z', gainDb: 12, levelDb: -6, lineOhms: null, volumePct: 50, windows: 3 }),
  );
  assert.equal(ok.ok, true);
});

test('SoundProof: the gain of a play is the median over its windows with signal that sounded', () => {
  const p = new SoundProof();
  for (const x of [w(-14, -20), w(-13, -20), w(-80, -20), w(-90, -90), w(-15, -20)]) p.add(x);
  assert.equal(p.gainDb(), 6);
  assert.equal(p.gainWindows, 3);
  assert.equal(new SoundProof().gainDb(), null);
});

function watch(dir: string) {
  const reports: HwCondition[] = [];
  const lines: unknown[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const clock = new ManualClock({ now: Date.parse('2026-03-01T08:00:00Z') });
  const sw = new SoundWatch({ files: soundFiles(dir), clock, log, reportHw: (c) => reports.push(c) });
  const play = (gainDb: number | null, gainWindows = 4) =>
    sw.played({ itemId: 'i1', output: { measured: true, levelDb: -10, silentMs: 0 }, gainDb, gainWindows });
  return { reports, lines, sw, play };
}

test('SoundWatch: weak once under 60 %, recovered once at 60 % or more; no baseline, a short play or an unmeasured one are not judged', () => {
  const dir = tempDir('sound-watch');
  const { reports, play, sw } = watch(dir);
  play(6);
  assert.equal(reports.length, 0, 'no baseline: nothing judged');
  const last = JSON.parse(readFileSync(join(dir, SOUND_LAST_FILE), 'utf8'));
  assert.deepEqual(last, {
    at: '2026-03-01T08:00:00.000Z',
    itemId: 'i1',
    levelDb: -10,
    gainDb: 6,
    silentMs: 0,
    percent: null,
  });

  const baseline = { at: '2026-02-01T08:00:00Z', gainDb: 12, levelDb: -6, lineOhms: 16, volumePct: 50, windows: 3 };
  writeFileSync(join(dir, SOUND_BASELINE_FILE), JSON.stringify(baseline));
  play(6, 2);
  assert.equal(reports.length, 0, 'two windows are too few to judge');
  play(6);
  play(5);
  assert.equal(reports.length, 1, 'raised once');
  assert.deepEqual(
    { ...reports[0], message: undefined },
    { component: 'output', code: 'weak', active: true, message: undefined },
  );
  assert.match(
    reports[0]!.message,
    /delivers 50 % of its commissioned output \(gain 6 dB, commissioned 12 dB on 2026-02-01\)/,
  );
  assert.equal(JSON.parse(readFileSync(join(dir, SOUND_LAST_FILE), 'utf8')).percent, 44);
  sw.played({ itemId: 'i2', output: { measured: false }, gainDb: null, gainWindows: 0 });
  play(11);
  assert.equal(reports.length, 2);
  assert.equal(reports[1]!.active, false);
  assert.match(reports[1]!.message, /89 % .* again/);
});

test('SoundWatch: an unusable baseline file is said once (SOUND_BASELINE) and judges nothing; a disk that refuses the reading does not stop it', () => {
  const dir = tempDir('sound-watch-bad');
  const { reports, lines, play } = watch(dir);
  writeFileSync(join(dir, SOUND_BASELINE_FILE), '{"gainDb": 12');
  play(3);
  play(3);
  assert.equal(reports.length, 0);
  const said = lines.filter((l) => (l as { code?: string }).code === 'SOUND_BASELINE');
  assert.equal(said.length, 1, JSON.stringify(lines));
  // The state directory gone read-only: the reading is not kept, the verdict still is.
  writeFileSync(
    join(dir, SOUND_BASELINE_FILE),
    JSON.stringify({ at: '2026-02-01T08:00:00Z', gainDb: 12, levelDb: -6, lineOhms: 16, volumePct: 50, windows: 3 }),
  );
  mkdirSync(join(dir, `${SOUND_LAST_FILE}.tmp`)); // the temporary file cannot be created
  play(3);
  assert.equal(reports.length, 1);
  assert.ok(lines.some((l) => (l as { code?: string }).code === 'STORE_WRITE'));
});
