// `loa-provision check --tone` records the commissioning level (issue 29 item 3): the IO
// board simulator (protocol 1.2, in-process behind serialport's mock binding) measures the
// line while a real mpg123 plays the chime; the first check records, a later one compares
// and keeps, a weak amplifier fails, --rebaseline replaces; a 1.1 board and a GPIO-less
// "sim" board say they cannot measure. The baseline file is what the agent reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parseConfig } from '../../agent/config.js';
import { SOUND_BASELINE_FILE } from '../../agent/domain/sound-baseline.js';
import { simulatedBoard } from '../../firmware-bridge/sim-port.js';
import { hardwareChecks } from '../../provisioning/hardware-checks.js';
import { showCommand } from '../../provisioning/show.js';
import { makeUi, memoryIo } from '../../provisioning/io.js';
import type { CheckResult } from '../../provisioning/report.js';
import { tempDir } from '../helpers/tmp.js';
import { MPG123 } from './provision-rig.js';
import { say, type Text } from '../../provisioning/text.js';

/** What the report, the JSON and the tests read: the English of a Text. */
const en = (t: Text) => say('en', t);

const CI = process.env.CI === 'true';
const skip = MPG123 ? false : CI ? false : 'mpg123 not installed';

async function check(
  stateDir: string,
  o: { minor?: number; weakDb?: number; rebaseline?: boolean; board?: 'mcu' | 'sim'; now?: Date } = {},
): Promise<CheckResult | undefined> {
  const config = parseConfig(
    {
      deviceId: 'a',
      mqtt: { url: 'mqtt://h' },
      stateDir,
      site: { installer: 'Nguyễn Văn A' },
      hardware: o.board === 'sim' ? { board: 'sim' } : { board: 'mcu', mcu: { path: 'sim' } },
      audio: { output: 'paced' },
    },
    '/',
  );
  const results = new Map<string, CheckResult>();
  await hardwareChecks({
    config,
    ui: makeUi(memoryIo(new PassThrough())),
    fmMHz: 100,
    tone: true,
    volume: 50,
    rebaseline: o.rebaseline === true,
    now: () => o.now ?? new Date(),
    simBoard: () => {
      const sim = simulatedBoard(o.minor !== undefined ? { minor: o.minor } : {});
      if (o.weakDb) sim.model.levels.outputWeak(o.weakDb);
      return sim;
    },
    emit: (r) => results.set(r.name, r),
  });
  assert.equal(results.get('test tone')?.status, 'ok', JSON.stringify([...results.values()]));
  return results.get('commissioning level');
}

test(
  'the first check --tone records the level; a later one compares and keeps it; a weak amplifier fails and keeps it; --rebaseline replaces it',
  { skip, timeout: 120_000 },
  async () => {
    const dir = tempDir('commission');
    const path = join(dir, SOUND_BASELINE_FILE);
    const first = new Date(Date.now() - 86_400_000);
    const r1 = await check(dir, { now: first });
    assert.equal(r1?.status, 'ok', JSON.stringify(r1));
    assert.match(
      en(r1!.detail),
      /^recorded: output -6 dB of rated at 50 % volume, gain 12 dB, line 16 Ω, [23] windows/,
    );
    const b1 = JSON.parse(readFileSync(path, 'utf8'));
    assert.deepEqual(
      { ...b1, windows: undefined },
      {
        at: first.toISOString(),
        gainDb: 12,
        levelDb: -6,
        lineOhms: 16,
        volumePct: 50,
        windows: undefined,
        by: 'Nguyễn Văn A',
      },
    );

    const r2 = await check(dir);
    assert.equal(r2?.status, 'ok');
    assert.match(en(r2!.detail), /^amplifier at 100 % of the commissioned output .* baseline kept/);

    const weak = await check(dir, { weakDb: 6 });
    assert.equal(weak?.status, 'fail', JSON.stringify(weak));
    assert.match(en(weak!.detail), /^amplifier at 50 % of the commissioned output \(gain 6 dB, commissioned 12 dB on /);
    assert.match(en(weak!.hint!), /weak amplifier.*--rebaseline/);
    assert.deepEqual(
      JSON.parse(readFileSync(path, 'utf8')),
      b1,
      'testing a weak amplifier does not overwrite the evidence',
    );

    const again = await check(dir, { weakDb: 6, rebaseline: true });
    assert.equal(again?.status, 'ok');
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).gainDb, 6);

    // `loa-provision show` prints the baseline and the agent's last measured play (sound-last.json).
    const last = {
      at: '2026-03-01T08:00:00.000Z',
      itemId: 'bulletin',
      levelDb: -14,
      gainDb: 3,
      silentMs: 0,
      percent: 70,
    };
    writeFileSync(join(dir, 'sound-last.json'), JSON.stringify(last));
    const cfg = join(dir, 'loa.json');
    writeFileSync(cfg, JSON.stringify({ deviceId: 'a', mqtt: { url: 'mqtt://127.0.0.1:1' }, stateDir: dir }), {
      mode: 0o600,
    });
    const io = memoryIo(new PassThrough());
    await showCommand(['--config', cfg, '--timeout', '1'], makeUi(io));
    const shown = io.out();
    assert.match(
      shown,
      /commissioned +gain 6 dB, output -12 dB at 50 %, line 16 Ω; \d{4}-\d\d-\d\d \d\d:\d\d by Nguyễn Văn A\n/,
    );
    assert.match(shown, /last sound +2026-03-01 08:00 bulletin: output -14 dB, gain 3 dB = 70 % of commissioned\n/);
  },
);

test(
  'an unusable baseline file is replaced, saying so; a 1.1 board and the "sim" board cannot measure and record nothing',
  { skip, timeout: 120_000 },
  async () => {
    const dir = tempDir('commission-bad');
    const path = join(dir, SOUND_BASELINE_FILE);
    writeFileSync(path, '{"gainDb": 12');
    const r = await check(dir);
    assert.equal(r?.status, 'ok');
    assert.match(en(r!.detail), /replaced an unusable one: .*not JSON/);

    const old = tempDir('commission-11');
    const r11 = await check(old, { minor: 1 });
    assert.equal(r11?.status, 'skip');
    assert.match(en(r11!.detail), /the IO board \(protocol 1\.1\) does not measure its output/);
    assert.equal(existsSync(join(old, SOUND_BASELINE_FILE)), false);

    const sim = await check(old, { board: 'sim' });
    assert.equal(sim?.status, 'skip');
    assert.match(en(sim!.detail), /does not measure/);
  },
);
