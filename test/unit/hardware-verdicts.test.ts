// One set of thresholds for the agent's remote selftest and loa-provision check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DISK_FAIL_MB,
  DISK_WARN_MB,
  FM_MIN_RSSI,
  diskVerdict,
  fmVerdict,
  lineVerdict,
  ampVerdict,
} from '../../agent/domain/hardware-verdicts.js';
import { FM_MIN_RSSI as PROVISION_FM_MIN_RSSI } from '../../provisioning/hardware-checks.js';

test('disk: fail under 100 MB, warn under 500 MB or under the cache quota, null is a warning', () => {
  assert.equal(diskVerdict(DISK_FAIL_MB - 1, '/var/lib/loa').status, 'fail');
  assert.equal(diskVerdict(DISK_FAIL_MB, '/var/lib/loa').status, 'warn');
  assert.equal(diskVerdict(DISK_WARN_MB - 1, '/var/lib/loa').status, 'warn');
  assert.equal(diskVerdict(DISK_WARN_MB, '/var/lib/loa').status, 'ok');
  assert.equal(diskVerdict(1000, '/var/cache/loa', 2048).status, 'warn');
  assert.equal(diskVerdict(null, '/var/lib/loa').status, 'warn');
  assert.match(diskVerdict(150, '/x').hint!, /journalctl --vacuum-size/);
});

test('FM, line and amplifier verdicts; the provisioning CLI uses the same RSSI threshold', () => {
  assert.equal(PROVISION_FM_MIN_RSSI, FM_MIN_RSSI);
  assert.equal(fmVerdict(98.5, FM_MIN_RSSI - 1).status, 'fail');
  assert.equal(fmVerdict(98.5, FM_MIN_RSSI).status, 'ok');
  assert.equal(fmVerdict(98.5, null).status, 'fail');
  assert.deepEqual(
    [lineVerdict('ok', 16).status, lineVerdict('open', 0xffff).detail, lineVerdict('short', 0).detail],
    ['ok', 'OPEN (open circuit)', 'SHORTED (0 Ω)'],
  );
  const r = {
    doorOpen: false,
    mainsLost: false,
    batteryLow: false,
    batteryMv: 13_400,
    ampFault: true,
    watchdogTripped: false,
    temperatureC: 92,
    ampCurrentMa: 0,
  };
  assert.equal(ampVerdict(r).status, 'fail');
  assert.match(ampVerdict({ ...r, ampFault: false, watchdogTripped: true }).detail, /watchdog had switched it off/);
});
