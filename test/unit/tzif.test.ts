// contract/tzif.ts: UTC offsets from the system's tz database, checked against ICU (Intl)
// wherever the file answers; the planner falls back to Intl where it does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixedPosixOffset, parseTzif, systemZone, ZONEINFO_DIR } from '../../contract/tzif.js';
import { intlOffsetAt, offsetAt } from '../../agent/domain/occurrences.js';
import { isValidTimezone } from '../../contract/schedule-doc.js';
import { tempDir } from '../helpers/tmp.js';

const HAS_TZDATA = existsSync(join(ZONEINFO_DIR, 'Asia/Ho_Chi_Minh'));
const noTz = HAS_TZDATA ? false : process.env.CI === 'true' ? false : 'no /usr/share/zoneinfo (apt-get install tzdata)';

// Zones whose rules have been settled for years: the system's tzdata and node's ICU may be
// a release apart, and a zone whose rules just changed (Africa/Casablanca's yearly Ramadan
// switches, say) would make this test about that skew rather than about the parser.
const ZONES = [
  'Asia/Ho_Chi_Minh',
  'Asia/Bangkok',
  'Europe/Berlin',
  'America/New_York',
  'Australia/Lord_Howe',
  'Asia/Kolkata',
  'Pacific/Chatham',
  'America/Sao_Paulo',
  'UTC',
  'Etc/GMT+7',
];

test("every offset the zone file gives equals ICU's, 1900 to 2060, around each transition too", { skip: noTz }, () => {
  if (!HAS_TZDATA) assert.fail('CI must have tzdata (/usr/share/zoneinfo)');
  for (const name of ZONES) {
    const zone = systemZone(name);
    assert.ok(zone, `${name}: no zone file`);
    let answered = 0;
    const from = Date.UTC(1900, 0, 1);
    const to = Date.UTC(2060, 0, 1);
    // Every 6 days and 7 hours: lands on all hours and weekdays.
    for (let t = from; t < to; t += 6 * 86_400_000 + 7 * 3_600_000) {
      for (const u of [t, t + 1000, t - 1000]) {
        const o = zone.offsetAt(u);
        if (o === null) continue;
        answered++;
        assert.equal(o, intlOffsetAt(name, u), `${name} at ${new Date(u).toISOString()}`);
      }
    }
    assert.ok(answered > 0, `${name}: the file answered nothing`);
  }
});

test(
  'Vietnam (and any zone without daylight saving) is answered from the file for all future instants',
  { skip: noTz },
  () => {
    if (!HAS_TZDATA) assert.fail('CI must have tzdata (/usr/share/zoneinfo)');
    const zone = systemZone('Asia/Ho_Chi_Minh')!;
    for (let y = 1976; y < 2200; y += 3) assert.equal(zone.offsetAt(Date.UTC(y, 5, 1)), 7 * 3_600_000, String(y));
    assert.equal(systemZone('Asia/Kolkata')!.offsetAt(Date.UTC(2150, 0, 1)), 5.5 * 3_600_000);
    // Berlin after its table: a daylight-saving rule, left to Intl, and offsetAt still answers.
    assert.equal(systemZone('Europe/Berlin')!.offsetAt(Date.UTC(2150, 6, 1)), null);
    assert.equal(offsetAt('Europe/Berlin', Date.UTC(2150, 6, 1)), 2 * 3_600_000);
  },
);

test('names that are not plain zones are left to Intl; validity does not change', () => {
  for (const n of [
    '../etc/passwd',
    'posix/Asia/Ho_Chi_Minh',
    'right/UTC',
    'localtime',
    'posixrules',
    'Asia//Ho_Chi_Minh',
    '',
    'Asia/Nowhere',
  ])
    assert.equal(systemZone(n), null, n);
  assert.equal(isValidTimezone('Asia/Nowhere'), false);
  assert.equal(isValidTimezone('asia/ho_chi_minh'), true, 'Intl is case-insensitive, and still asked');
  assert.equal(isValidTimezone('Asia/Ho_Chi_Minh'), true);
});

test('a file that is not TZif, or is cut short, is not a zone', () => {
  const dir = tempDir('tzif');
  mkdirSync(join(dir, 'Bad'), { recursive: true });
  writeFileSync(join(dir, 'Bad/Text'), '# zone.tab\n');
  assert.equal(systemZone('Bad/Text', dir), null);
  assert.equal(parseTzif(Buffer.from('TZif2')), null);
  if (HAS_TZDATA) {
    const real = readFileSync(join(ZONEINFO_DIR, 'Asia/Ho_Chi_Minh'));
    assert.ok(parseTzif(real));
    for (const cut of [44, 60, real.length - 40]) assert.equal(parseTzif(real.subarray(0, cut)), null, `cut at ${cut}`);
  }
});

test('POSIX footers: fixed offsets read west-positive; daylight-saving rules refused', () => {
  assert.equal(fixedPosixOffset('<+07>-7'), 7 * 3600);
  assert.equal(fixedPosixOffset('UTC0'), 0);
  assert.equal(fixedPosixOffset('IST-5:30'), 5.5 * 3600);
  assert.equal(fixedPosixOffset('<-03>3'), -3 * 3600);
  assert.equal(fixedPosixOffset('CET-1CEST,M3.5.0,M10.5.0/3'), null);
  assert.equal(fixedPosixOffset('EST5EDT,M3.2.0,M11.1.0'), null);
});
