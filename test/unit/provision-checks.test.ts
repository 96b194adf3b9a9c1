// Single checks with their inputs faked at the edges: the time-sync sources, the
// directories, the device certificate, the IO board (the in-process simulator with a
// fault scripted), and the words of each hint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../agent/config.js';
import { simulatedBoard } from '../../firmware-bridge/sim-port.js';
import { BridgeTimeoutError } from '../../firmware-bridge/bridge.js';
import { checkCertificate, checkWritable, clockOutcome, clockStatus, type Exec } from '../../provisioning/checks.js';
import { hardwareChecks, mcuFailure } from '../../provisioning/hardware-checks.js';
import { makeUi, memoryIo } from '../../provisioning/io.js';
import type { CheckResult } from '../../provisioning/report.js';
import { makePki } from '../helpers/certs.js';
import { tempDir } from '../helpers/tmp.js';
import { PassThrough } from 'node:stream';
import { say, type Text } from '../../provisioning/text.js';

/** What the report, the JSON and the tests read: the English of a Text. */
const en = (t: Text) => say('en', t);

const noExec: Exec = async () => ({ code: 127, stdout: '' });

test('clock: timesyncd\'s flag file, its absence, timedatectl, chrony, or "cannot tell"', async () => {
  const run = tempDir('run');
  mkdirSync(join(run, 'systemd/timesync'), { recursive: true });
  const waiting = await clockStatus({ runRoot: run, exec: noExec });
  assert.deepEqual(
    { ...waiting, source: en(waiting.source) },
    {
      synced: false,
      source: 'systemd-timesyncd (not synchronised yet)',
    },
  );
  writeFileSync(join(run, 'systemd/timesync/synchronized'), '');
  assert.equal((await clockStatus({ runRoot: run, exec: noExec })).synced, true);

  const empty = tempDir('run-empty');
  const timedatectl: Exec = async (cmd) =>
    cmd === 'timedatectl' ? { code: 0, stdout: 'no\n' } : { code: 127, stdout: '' };
  assert.deepEqual(await clockStatus({ runRoot: empty, exec: timedatectl }), { synced: false, source: 'timedatectl' });
  const chrony: Exec = async (cmd) =>
    cmd === 'chronyc'
      ? { code: 0, stdout: 'Reference ID    : A\nLeap status     : Normal\n' }
      : { code: 1, stdout: '' };
  assert.equal((await clockStatus({ runRoot: empty, exec: chrony })).synced, true);
  const none = await clockStatus({ runRoot: empty, exec: noExec });
  assert.equal(none.synced, null);

  const now = new Date('2026-11-26T06:30:00Z');
  assert.equal(clockOutcome({ synced: true, source: 'x' }, now).status, 'ok');
  const f = clockOutcome({ synced: false, source: 'timedatectl' }, now);
  assert.equal(f.status, 'fail');
  assert.match(en(f.hint!), /timedatectl set-ntp true/);
  assert.equal(clockOutcome(none, now).status, 'warn');
});

test("a directory root can write but the agent's user cannot is a failure with the chown", async () => {
  const dir = tempDir('w');
  assert.equal((await checkWritable(dir, undefined)).status, 'ok');
  const stranger = { user: 'loa', uid: 4242, gid: 4242 };
  const r = await checkWritable(dir, stranger);
  assert.equal(r.status, 'fail');
  assert.match(en(r.hint!), new RegExp(`sudo chown -R loa:loa ${dir}`));
  const file = join(dir, 'file');
  writeFileSync(file, '');
  const nd = await checkWritable(join(file, 'cache'), undefined);
  assert.equal(nd.status, 'fail');
  assert.match(en(nd.detail), /ENOTDIR/);
});

test(
  "a directory the check creates as root is given to the agent's user, as systemd would",
  { skip: process.getuid?.() === 0 ? false : 'needs root (chown)' },
  async () => {
    const dir = join(tempDir('w-new'), 'var/lib/loa');
    const agent = { user: 'loa', uid: 4242, gid: 4242 };
    const r = await checkWritable(dir, agent);
    assert.equal(r.status, 'ok', en(r.detail));
    const { statSync } = await import('node:fs');
    assert.equal(statSync(dir).uid, 4242);
    assert.equal(statSync(join(dir, '..')).uid, 4242, 'every directory it created');
  },
);

test('device certificate: matches the key, and how long it is still valid', async () => {
  const dir = tempDir('cert');
  const pki = makePki(dir);
  const other = makePki(tempDir('cert2'), 'other');
  const base = { deviceId: 'a', mqtt: { url: 'mqtts://h', ca: pki.ca } };
  // makePki's certificates are valid for 2 days: a renewal warning.
  const soon = await checkCertificate(
    parseConfig({ ...base, mqtt: { ...base.mqtt, cert: pki.clientCert, key: pki.clientKey } }, dir),
    new Date(),
    dir,
  );
  assert.equal(soon.status, 'warn');
  assert.match(en(soon.detail), /expires in [01] days/);
  const expired = await checkCertificate(
    parseConfig({ ...base, mqtt: { ...base.mqtt, cert: pki.clientCert, key: pki.clientKey } }, dir),
    new Date(Date.now() + 5 * 86_400_000),
    dir,
  );
  assert.equal(expired.status, 'fail');
  assert.match(en(expired.detail), /EXPIRED/);
  const mismatch = await checkCertificate(
    parseConfig({ ...base, mqtt: { ...base.mqtt, cert: pki.clientCert, key: other.clientKey } }, dir),
    new Date(),
    dir,
  );
  assert.equal(mismatch.status, 'fail');
  assert.match(en(mismatch.detail), /does not belong to/);
  const none = await checkCertificate(parseConfig(base, dir), new Date(), dir);
  assert.equal(none.status, 'skip');
});

test('microcontroller failures: locked port, missing device, silence, permission', () => {
  assert.match(
    en(mcuFailure(new Error('Error Resource temporarily unavailable Cannot lock port'), '/dev/loa-io', 'vn-1').hint!),
    /sudo systemctl stop loa-agent.*noc send --device vn-1 --action selftest/,
  );
  assert.match(
    en(mcuFailure(new Error('Error: No such file or directory, cannot open /dev/loa-io'), '/dev/loa-io', 'vn-1').hint!),
    /udev rule/,
  );
  assert.match(
    en(mcuFailure(new BridgeTimeoutError('get-version', 3, 200, 3), '/dev/loa-io', 'vn-1').hint!),
    /power LED and the TX\/RX wires/,
  );
  assert.match(
    en(mcuFailure(new Error('Error: Permission denied, cannot open /dev/loa-io'), '/dev/loa-io', 'vn-1').hint!),
    /sudo/,
  );
});

async function runHardware(
  script: (sim: ReturnType<typeof simulatedBoard>) => void,
  tone = false,
): Promise<Map<string, CheckResult>> {
  const config = parseConfig(
    {
      deviceId: 'a',
      mqtt: { url: 'mqtt://h' },
      hardware: { board: 'mcu', mcu: { path: 'sim' } },
      audio: { output: 'paced' },
    },
    '/',
  );
  const results = new Map<string, CheckResult>();
  const ui = makeUi(memoryIo(new PassThrough()));
  await hardwareChecks({
    config,
    ui,
    fmMHz: 100,
    tone,
    volume: 50,
    rebaseline: false,
    now: () => new Date(),
    simBoard: () => {
      const sim = simulatedBoard();
      script(sim);
      return sim;
    },
    emit: (r) => results.set(r.name, r),
  });
  return results;
}

test("the IO board's conditions become their own lines: healthy, then one fault at a time", async () => {
  const ok = await runHardware(() => {});
  for (const name of [
    'microcontroller',
    'cabinet door',
    'mains power',
    'battery',
    'amplifier',
    'speaker line',
    'FM tuner',
  ])
    assert.equal(ok.get(name)?.status, 'ok', name);
  assert.equal(ok.get('test tone')?.status, 'skip');

  const battery = await runHardware((s) => s.model.battery(true));
  assert.equal(battery.get('battery')?.status, 'fail');
  assert.match(en(battery.get('battery')!.detail), /LOW \(11\.2 V\)/);

  const amp = await runHardware((s) => s.model.ampFault('overtemperature'));
  assert.equal(amp.get('amplifier')?.status, 'fail');
  assert.match(en(amp.get('amplifier')!.hint!), /tripped/);
});

test('the tone cannot switch a faulty amplifier on: the tone line says so, and the amplifier ends off', async () => {
  let sim: ReturnType<typeof simulatedBoard> | undefined;
  const r = await runHardware((s) => {
    sim = s;
    s.model.ampFault('overcurrent');
  }, true);
  const tone = r.get('test tone')!;
  assert.equal(tone.status, 'fail');
  assert.match(en(tone.detail), /amplifier did not switch on \(set-amp .*hw_fault\)/);
  assert.equal(sim!.model.state().amp, false);
});

test('a relay whose feedback is wrong fails the board handshake with a relay hint, not a cable hint', async () => {
  const r = await runHardware((s) => s.model.relay(true));
  const mcu = r.get('microcontroller')!;
  assert.equal(mcu.status, 'fail');
  assert.match(en(mcu.detail), /hw_fault/);
  assert.match(en(mcu.hint!), /relay/);
  assert.equal(r.get('cabinet door')?.status, 'skip');
});
