// `loa-provision init`: what it writes must be what the real agent accepts, secrets
// must not be readable by others, an existing config is backed up, a bad value is
// refused in the schema's own words with nothing written, and the interactive form
// works on a real terminal (a pseudo-terminal from util-linux `script`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../../agent/config.js';
import { readPrivateKey, fingerprintOf } from '../../provisioning/keys.js';
import { spawnAgent } from '../helpers/agent-process.js';
import { makePki } from '../helpers/certs.js';
import { tempDir } from '../helpers/tmp.js';
import { SCRIPT, centreKey, ptySession, runCli, signCsr, spawnCli } from './provision-rig.js';

const mode = (p: string) => statSync(p).mode & 0o777;

async function flags(dir: string, extra: string[] = []): Promise<string[]> {
  return [
    'init',
    '--yes',
    '--config',
    join(dir, 'etc/agent.json'),
    '--device-id',
    'vn-79-26734-01',
    '--groups',
    'all,p79,c26734',
    '--commune-name',
    'Xã Bình Chánh',
    '--commune-code',
    '26734',
    '--province',
    '79',
    '--lat',
    '10.68',
    '--lon',
    '106.57',
    '--installer',
    'tuan',
    '--broker',
    'mqtts://broker.example.vn:8883',
    '--username',
    'vn-79-26734-01',
    '--password',
    'pw-on-the-pole',
    '--trusted-key',
    `centre-2026=${await centreKey()}`,
    '--trusted-key',
    // The line `noc keys --kid centre-2027 --roles schedule,command,live` prints, as it prints it.
    JSON.stringify({ kid: 'centre-2027', publicKey: await centreKey(), roles: ['schedule', 'command', 'live'] }),
    '--board',
    'mcu',
    '--serial',
    '/dev/loa-io',
    '--state-dir',
    join(dir, 'state'),
    '--cache-dir',
    join(dir, 'cache'),
    ...extra,
  ];
}

test('init --yes writes a config the agent accepts, the password and key 0600, and a CSR for the device', async () => {
  const dir = tempDir('init');
  const cfgPath = join(dir, 'etc/agent.json');
  const before = Date.now();
  const r = await spawnCli(await flags(dir));
  assert.equal(r.code, 0, r.out);

  const raw = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, any>;
  const c = parseConfig(raw, join(dir, 'etc'));
  assert.equal(c.deviceId, 'vn-79-26734-01');
  assert.deepEqual(c.groups, ['all', 'p79', 'c26734']);
  assert.equal(c.site.communeName, 'Xã Bình Chánh');
  assert.equal(c.site.lat, 10.68);
  assert.equal(c.hardware.board, 'mcu');
  assert.equal(c.hardware.mcu.path, '/dev/loa-io');
  assert.deepEqual(
    c.trustedKeys.map((k) => k.kid),
    ['centre-2026', 'centre-2027'],
  );
  assert.deepEqual(c.trustedKeys[1]!.roles, ['schedule', 'command', 'live']);
  assert.ok(Date.parse(c.site.installedAt!) >= before - 1000, 'installedAt is now');
  // The password is in its own file, not in the config; loadConfig reads it back.
  assert.equal(raw.mqtt.password, undefined);
  const loaded = loadConfig(cfgPath);
  assert.equal(loaded.mqtt.passwordValue, 'pw-on-the-pole');
  // No certificate yet: cert and key are not set (the schema wants both, and the cert file).
  assert.equal(raw.mqtt.cert, undefined);
  assert.equal(raw.mqtt.key, undefined);

  assert.equal(mode(cfgPath), 0o640);
  assert.equal(mode(join(dir, 'etc/mqtt-password')), 0o600);
  assert.equal(mode(join(dir, 'etc/device.key')), 0o600);
  const key = readPrivateKey(join(dir, 'etc/device.key'));
  assert.equal(key.asymmetricKeyType, 'ec');
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const subject = execFileSync('openssl', ['req', '-in', join(dir, 'etc/device.csr'), '-noout', '-subject'], {
    encoding: 'utf8',
  });
  assert.match(subject, /CN ?= ?vn-79-26734-01, O ?= ?loa, OU ?= ?26734/);
  assert.match(r.out, new RegExp(fingerprintOf(key)), 'the fingerprint is printed');
  // The order that works: the self-test with the agent stopped, then the agent (re)started, then register.
  assert.match(
    r.out,
    /Next:[\s\S]*--cert[\s\S]*sudo systemctl stop loa-agent; sudo loa-provision check --config \S+ --tone[\s\S]*sudo systemctl restart loa-agent[\s\S]*sudo loa-provision register --config \S+/,
  );
  assert.doesNotMatch(r.out, /add the centre's key|no trusted centre key/);

  // The real agent binary agrees.
  const agent = spawnAgent(['--config', cfgPath, '--check-config']);
  assert.equal(await agent.exited(), 0, agent.output());
  assert.match(agent.output(), /configuration OK: device vn-79-26734-01/);
  assert.doesNotMatch(agent.output(), /warning/);
});

test('init --yes without a trusted key: written (the agent can run), but said plainly, and the agent warns too', async () => {
  const dir = tempDir('init-nokey');
  const cfgPath = join(dir, 'etc/agent.json');
  const all = await flags(dir);
  const noKeys = all.filter((a, i) => a !== '--trusted-key' && all[i - 1] !== '--trusted-key');
  const r = await runCli(noKeys);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(
    r.out,
    /warning: no trusted centre key for schedules or commands: the box will refuse every one of them/,
  );
  assert.match(
    r.out,
    /Next:[\s\S]*add the centre's key: sudo loa-provision init --yes --config \S+ --trusted-key '<the line "noc keys" printed>'/,
  );
  const agent = spawnAgent(['--config', cfgPath, '--check-config']);
  assert.equal(await agent.exited(), 0, agent.output());
  assert.match(agent.output(), /configuration OK/);
  assert.match(
    agent.output(),
    /loa-agent: warning: no trusted key may sign schedules or commands: every one will be refused/,
  );
  // A bad --trusted-key is refused with why, nothing written.
  const bad = await runCli(['init', '--yes', '--config', cfgPath, '--trusted-key', '{"kid":"centre-2026"}']);
  assert.equal(bad.code, 78);
  assert.match(bad.err, /--trusted-key: not a key\n {2}"kid" and "publicKey" must both be there/);
});

test('init --yes on an existing config keeps what it was not asked to change, installedAt included', async () => {
  const dir = tempDir('init-keep');
  const cfgPath = join(dir, 'etc/agent.json');
  assert.equal((await runCli(await flags(dir))).code, 0);
  // What a box carries after months in the field: fields init never asks, set by hand or by an older init.
  const installedAt = new Date(Date.now() - 90 * 86_400_000).toISOString();
  const raw = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, any>;
  const before = {
    ...raw,
    site: { ...raw.site, installedAt, address: 'Ấp 3, đường Liên xã' },
    mqtt: { ...raw.mqtt, clientId: 'vn-79-26734-01-main' },
    heartbeatS: 60,
    outbox: { window: 32 },
    audio: { maxVolume: 80, output: 'paced' },
    hardware: { ...raw.hardware, ampWarmUpMs: 3000 },
    relay: { deadAirS: 30 },
  };
  writeFileSync(cfgPath, JSON.stringify(before, null, 2));

  const r = await runCli(['init', '--yes', '--config', cfgPath, '--installer', 'lan']);
  assert.equal(r.code, 0, r.out + r.err);
  const after = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, any>;
  assert.deepEqual(after, { ...before, site: { ...before.site, installer: 'lan' } }, 'only the installer changed');
  assert.equal(after.site.installedAt, installedAt);

  // Asked to: --installed-at now sets it again (a box moved to another pole).
  const t0 = Date.now();
  assert.equal((await runCli(['init', '--yes', '--config', cfgPath, '--installed-at', 'now'])).code, 0);
  assert.ok(Date.parse(JSON.parse(readFileSync(cfgPath, 'utf8')).site.installedAt) >= t0 - 1000);
});

test(
  "as root: the config is root:loa 0640, the secrets loa:loa 0600, as the agent's unit needs",
  { skip: process.getuid?.() === 0 ? false : 'needs root (chown)' },
  async () => {
    const dir = tempDir('init-owner');
    const account = { user: 'loa', uid: 4242, gid: 4343 };
    const r = await runCli(await flags(dir), { account });
    assert.equal(r.code, 0, r.err);
    const own = (f: string) => {
      const st = statSync(join(dir, 'etc', f));
      return `${st.uid}:${st.gid} ${(st.mode & 0o777).toString(8)}`;
    };
    assert.equal(own('.'), '0:4343 750');
    assert.equal(own('agent.json'), '0:4343 640');
    assert.equal(own('device.key'), '4242:4343 600');
    assert.equal(own('mqtt-password'), '4242:4343 600');
    assert.equal(own('device.csr'), '0:0 644');
  },
);

test('init --cert installs the certificate signed for the CSR, and sets mqtt.cert and mqtt.key together', async () => {
  const dir = tempDir('init-cert');
  const cfgPath = join(dir, 'etc/agent.json');
  assert.equal((await runCli(await flags(dir))).code, 0);
  const pki = makePki(tempDir('init-ca'));
  const signed = join(dir, 'signed.crt');
  signCsr(pki, join(dir, 'etc/device.csr'), signed);

  const r = await runCli(['init', '--yes', '--config', cfgPath, '--cert', signed, '--ca', pki.ca]);
  assert.equal(r.code, 0, r.out + r.err);
  const raw = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, any>;
  assert.equal(raw.mqtt.cert, 'device.crt');
  assert.equal(raw.mqtt.key, 'device.key');
  assert.equal(raw.mqtt.ca, 'ca.crt');
  assert.equal(raw.deviceId, 'vn-79-26734-01', 'values not given are kept from the existing config');
  const c = loadConfig(cfgPath);
  assert.equal(c.mqtt.cert, join(dir, 'etc/device.crt'));
  assert.doesNotMatch(r.out, /send .*device\.csr/, 'no more "send the CSR" step');

  // A certificate made for another key is refused, and nothing changes.
  const other = makePki(tempDir('init-other'), 'other');
  const before = readFileSync(cfgPath, 'utf8');
  const bad = await runCli(['init', '--yes', '--config', cfgPath, '--cert', other.clientCert]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /was not made for this box's key/);
  assert.equal(readFileSync(cfgPath, 'utf8'), before);
});

test('init never replaces a config without a timestamped backup, and keeps the device key', async () => {
  const dir = tempDir('init-backup');
  const cfgPath = join(dir, 'etc/agent.json');
  assert.equal((await runCli(await flags(dir))).code, 0);
  const first = readFileSync(cfgPath, 'utf8');
  const fp = fingerprintOf(readPrivateKey(join(dir, 'etc/device.key')));

  const r = await runCli(['init', '--yes', '--config', cfgPath, '--lat', '10.7']);
  assert.equal(r.code, 0, r.err);
  const backups = readdirSync(join(dir, 'etc')).filter((f) => /^agent\.json\.bak-\d{8}T\d{6}$/.test(f));
  assert.equal(
    backups.length,
    1,
    `one backup named agent.json.bak-YYYYMMDDTHHMMSS: ${readdirSync(join(dir, 'etc')).join(', ')}`,
  );
  assert.equal(readFileSync(join(dir, 'etc', backups[0]!), 'utf8'), first);
  assert.equal(mode(join(dir, 'etc', backups[0]!)), 0o640);
  assert.equal(loadConfig(cfgPath).site.lat, 10.7);
  assert.equal(fingerprintOf(readPrivateKey(join(dir, 'etc/device.key'))), fp, 'the key is not regenerated');
  assert.match(r.out, /previous one kept as .*agent\.json\.bak-/);
});

test("a bad value is refused with the schema's own message, exit 78, and nothing is written", async () => {
  const dir = tempDir('init-bad');
  const r = await spawnCli(await flags(dir, ['--lat', '200', '--groups', 'all,P79']));
  assert.equal(r.code, 78, r.out);
  assert.match(r.out, /site\.lat: 200 is not a latitude \(-90 to 90\)/);
  assert.match(r.out, /groups\[1\]: "P79" is not a valid group name/);
  assert.match(r.out, /nothing written/);
  assert.equal(existsSync(join(dir, 'etc')), false, 'no directory, no key, no config');

  // On an existing config, a bad value leaves it byte for byte.
  assert.equal((await runCli(await flags(dir))).code, 0);
  const before = readFileSync(join(dir, 'etc/agent.json'), 'utf8');
  const again = await runCli(['init', '--yes', '--config', join(dir, 'etc/agent.json'), '--broker', 'mqtt:/x']);
  assert.equal(again.code, 78);
  assert.match(again.err, /mqtt\.url: "mqtt:\/x" is not a URL/);
  assert.equal(readFileSync(join(dir, 'etc/agent.json'), 'utf8'), before);
  assert.equal(readdirSync(join(dir, 'etc')).filter((f) => f.includes('.bak-')).length, 0);
});

test('init --ca refuses a file that is not a certificate', async () => {
  const dir = tempDir('init-ca-bad');
  const notCa = join(dir, 'ca.txt');
  writeFileSync(notCa, 'hello\n');
  const r = await runCli(await flags(dir, ['--ca', notCa]));
  assert.equal(r.code, 78);
  assert.match(r.err, /ca\.txt is not a PEM certificate/);
  assert.equal(existsSync(join(dir, 'etc/agent.json')), false);
});

test(
  'interactive init on a real terminal: defaults, a wrong answer asked again, a hidden password',
  { skip: SCRIPT ? false : 'util-linux script not installed', timeout: 90_000 },
  async () => {
    const dir = tempDir('init-pty');
    const cfgPath = join(dir, 'agent.json');
    const s = ptySession([
      'init',
      '--config',
      cfgPath,
      '--state-dir',
      join(dir, 'state'),
      '--cache-dir',
      join(dir, 'cache'),
    ]);
    try {
      await s.answer('Commune name', 'Xã Thử');
      await s.answer('Commune code', '26734');
      await s.answer('Province code', '79');
      await s.expect('Device id [vn-79-26734-01]');
      await s.answer('Device id', ''); // the suggested default
      await s.answer('Groups [all,p79,c26734]', '');
      await s.answer('Latitude', '200');
      await s.expect('site.lat: 200 is not a latitude (-90 to 90)');
      await s.answer('Latitude', '10,68'); // a Vietnamese decimal comma
      await s.answer('Longitude', '106.57');
      await s.answer('Installer', 'tuan');
      await s.answer('Broker URL', 'mqtt://127.0.0.1:1883');
      await s.answer('Broker username', 'box1');
      await s.answer('Broker password', 'hunter2-secret');
      await s.answer('IO board [mcu]', 'gpio');
      await s.answer('Amplifier relay GPIO', '17:low');
      await s.answer('FM input relay GPIO', '27');
      await s.answer('Line input relay GPIO', '17');
      await s.expect('line 17 is already the amp relay');
      await s.answer('Line input relay GPIO', '22');
      await s.answer('Amplifier fault input GPIO', '');
      await s.answer('Add a trusted key', 'centre-2026=tooshort');
      await s.expect('is not a raw Ed25519 public key');
      // Pasted as `noc keys` printed it; then a list pasted over two lines.
      await s.answer('Add a trusted key', JSON.stringify({ kid: 'centre-2026', publicKey: await centreKey() }));
      await s.expect('added centre-2026 (schedule, command)');
      await s.answer('Add a trusted key', '[');
      await s.answer(
        '(the rest of the JSON)',
        `${JSON.stringify({ kid: 'release-2026', publicKey: await centreKey(), roles: ['release'] })}]`,
      );
      await s.expect('added release-2026 (release) (2 keys)');
      await s.answer('Add a trusted key', '');
      await s.answer('Write', 'y');
      assert.equal(await s.exited, 0, s.output());
    } finally {
      s.kill();
    }
    const out = s.output();
    assert.doesNotMatch(out, /hunter2-secret/, 'the password is never echoed');
    const c = loadConfig(cfgPath);
    assert.equal(c.deviceId, 'vn-79-26734-01');
    assert.deepEqual(c.groups, ['all', 'p79', 'c26734']);
    assert.equal(c.site.lat, 10.68);
    assert.equal(c.site.communeName, 'Xã Thử');
    assert.equal(c.mqtt.username, 'box1');
    assert.equal(c.mqtt.passwordValue, 'hunter2-secret');
    assert.equal(c.hardware.board, 'gpio');
    assert.deepEqual(c.hardware.gpio?.pins.amp, { line: 17, activeLow: true });
    assert.equal(c.hardware.gpio?.pins.inputFm.line, 27);
    assert.deepEqual(
      c.trustedKeys.map((k) => [k.kid, k.roles]),
      [
        ['centre-2026', undefined],
        ['release-2026', ['release']],
      ],
    );
    assert.equal(mode(join(dir, 'mqtt-password')), 0o600);
  },
);

test(
  'Ctrl-C at a prompt stops with nothing written',
  { skip: SCRIPT ? false : 'util-linux script not installed', timeout: 60_000 },
  async () => {
    const dir = tempDir('init-ctrlc');
    const s = ptySession(['init', '--config', join(dir, 'agent.json')]);
    try {
      await s.answer('Commune name', 'Xã Thử');
      await s.expect('Commune code');
      s.answer('Commune code', '\x03').catch(() => undefined);
      assert.equal(await s.exited, 130, s.output());
    } finally {
      s.kill();
    }
    assert.match(s.output(), /nothing written/);
    assert.deepEqual(readdirSync(dir), []);
  },
);
