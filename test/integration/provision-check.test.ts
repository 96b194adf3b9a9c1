// `loa-provision check` against a real Mosquitto (TLS, mutual TLS with the certificate
// signed for the CSR init made, a password broker) and the board simulator (in-process
// for "sim", and as its own process on a socat pty pair), healthy and with one fault at
// a time: each fault must give the right ✗ and hint, and exit 1.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FirmwareBridge } from '../../firmware-bridge/bridge.js';
import { openSerial } from '../../firmware-bridge/serial.js';
import type { CheckReport } from '../../provisioning/report.js';
import { startBroker, mosquittoPath, type TestBroker } from '../helpers/broker.js';
import { makePki, type Pki } from '../helpers/certs.js';
import { tempDir } from '../helpers/tmp.js';
import { DEFAULT_ROOT as ROOT, deviceTopic, Watcher } from '../helpers/watcher.js';
import { installFakeGpiod } from '../helpers/fake-gpio.js';
import { spawn } from 'node:child_process';
import {
  MPG123,
  SOCAT,
  runCli,
  signCsr,
  spawnCli,
  startPasswordBroker,
  startSimPty,
  syncedRunRoot,
} from './provision-rig.js';

const haveMosquitto = mosquittoPath() !== undefined || process.env.CI === 'true';
const skip = haveMosquitto ? false : 'needs mosquitto (TLS listener)';

let broker: TestBroker;
let pki: Pki;
const runRoot = syncedRunRoot();
const deps = { runRoot, account: null };

before(async () => {
  if (!haveMosquitto) return;
  pki = makePki(tempDir('check-pki'));
  broker = await startBroker({
    tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requireClientCert: true },
  });
});
after(async () => {
  await broker?.close();
});

/** A box as a technician leaves it: init with flags, CSR signed by the centre, certificate installed. */
async function provisionedBox(
  o: { serial?: string; url?: string; ca?: string; board?: string[] } = {},
): Promise<{ dir: string; config: string }> {
  const dir = tempDir('check-box');
  const config = join(dir, 'etc/agent.json');
  const base = [
    'init',
    '--yes',
    '--config',
    config,
    '--device-id',
    `box-${Math.random().toString(36).slice(2, 8)}`,
    '--broker',
    o.url ?? broker.url,
    '--ca',
    o.ca ?? pki.ca,
    ...(o.board ?? ['--board', 'mcu', '--serial', o.serial ?? 'sim']),
    '--state-dir',
    join(dir, 'state'),
    '--cache-dir',
    join(dir, 'cache'),
    '--audio-output',
    'paced',
  ];
  const r = await runCli(base, deps);
  assert.equal(r.code, 0, r.out + r.err);
  signCsr(pki, join(dir, 'etc/device.csr'), join(dir, 'signed.crt'));
  const r2 = await runCli(['init', '--yes', '--config', config, '--cert', join(dir, 'signed.crt')], deps);
  assert.equal(r2.code, 0, r2.out + r2.err);
  return { dir, config };
}

/** The checklist line whose name column is `name` (mark, padded name, detail). */
const isLine = (name: string) => (x: string) => x.startsWith('[') && x.slice(7, 7 + name.length + 1) === `${name} `;

function line(out: string, name: string): string {
  const l = out.split('\n').find(isLine(name));
  assert.ok(l, `no "${name}" line in:\n${out}`);
  return l;
}

/** The line for `name` and the hint line under it. */
function withHint(out: string, name: string): string {
  const lines = out.split('\n');
  const i = lines.findIndex(isLine(name));
  assert.ok(i >= 0, `no "${name}" line in:\n${out}`);
  return `${lines[i]}\n${lines[i + 1] ?? ''}`;
}

describe('check', { skip, timeout: 180_000 }, () => {
  test('a healthy box (mutual TLS, simulated IO board, tone) passes every check, exit 0, report written and published', async (t) => {
    const box = await provisionedBox();
    const json = join(box.dir, 'report.json');
    const args = ['check', '--config', box.config, '--json', json, '--publish', ...(MPG123 ? ['--tone'] : [])];
    const r = await runCli(args, deps);
    assert.equal(r.code, 0, r.out);
    const report = JSON.parse(readFileSync(json, 'utf8')) as CheckReport;
    assert.equal(report.passed, true);
    const statuses = Object.fromEntries(report.checks.map((c) => [c.name, c.status]));
    for (const name of [
      'config valid',
      'clock synchronised',
      'disk space',
      'state directory',
      'cache directory',
      'device certificate',
      'DNS',
      'broker reachable',
      'microcontroller',
      'cabinet door',
      'mains power',
      'battery',
      'amplifier',
      'speaker line',
      'FM tuner',
    ]) {
      assert.equal(statuses[name], 'ok', `${name}: ${JSON.stringify(report.checks.find((c) => c.name === name))}`);
    }
    if (MPG123) {
      assert.equal(statuses['test tone'], 'ok');
      assert.match(line(r.out, 'test tone'), /amplifier 850 mA/);
    } else t.diagnostic('mpg123 not installed: tone not played');
    assert.match(line(r.out, 'broker reachable'), /TLS TLSv1\.3 server verified .*client certificate/);
    assert.match(r.out, /^\[ok\] +config valid/m, 'ASCII marks when not a UTF-8 TTY');
    assert.match(r.out, /\d+ passed, 0 failed in [\d.]+ s \(longest: /);
    // Always also in the state directory.
    assert.deepEqual(
      JSON.parse(readFileSync(join(box.dir, 'state/last-check.json'), 'utf8')).checks.length,
      report.checks.length,
    );
    // Published retained: a watcher that connects afterwards still gets it.
    const deviceId = report.deviceId!;
    const w = await Watcher.connect(broker.url, [deviceTopic(ROOT, deviceId, 'check')], {
      ca: readFileSync(pki.ca),
      cert: readFileSync(pki.clientCert),
      key: readFileSync(pki.clientKey),
    });
    try {
      const m = await w.waitFor(() => true, 5000, 'retained check report');
      assert.equal(m.retain, true);
      assert.equal(m.json<CheckReport>().passed, true);
      assert.equal(m.json<CheckReport>().ts, report.ts);
    } finally {
      await w.close();
    }
    const longest = report.checks.reduce((a, c) => (c.ms > a.ms ? c : a));
    t.diagnostic(`healthy check in-process: ${report.totalMs} ms, longest step ${longest.name} ${longest.ms} ms`);

    // The same as the technician runs it: its own process, clock from the real system.
    const p = await spawnCli(['check', '--config', box.config, ...(MPG123 ? ['--tone'] : [])]);
    assert.equal(p.code, 0, p.out);
    const again = JSON.parse(readFileSync(join(box.dir, 'state/last-check.json'), 'utf8')) as CheckReport;
    const slow = again.checks.reduce((a, c) => (c.ms > a.ms ? c : a));
    t.diagnostic(
      `healthy check as a process: ${Math.round(p.ms)} ms wall (node start included), report ${again.totalMs} ms, longest step ${slow.name} ${slow.ms} ms`,
    );
    // Generous: a 2-core CI machine under load. The tone alone is a 3 s chime.
    assert.ok(p.ms < 30_000, `check took ${p.ms} ms`);
  });

  test('broker down: TCP refused, with the hint about the port and the broker', async () => {
    const box = await provisionedBox();
    await broker.stop();
    try {
      const r = await runCli(['check', '--config', box.config], deps);
      assert.equal(r.code, 1, r.out);
      const l = withHint(r.out, 'broker reachable');
      assert.match(l, /\[FAIL\].*TCP: .* refused the connection \(ECONNREFUSED\)/);
      assert.match(l, /-> nothing listens on port \d+ there: check the port in mqtt\.url/);
      assert.match(line(r.out, 'DNS'), /\[ok\]/, 'the name still resolves');
    } finally {
      await broker.start();
    }
  });

  test('wrong CA: TLS verification fails, the hint names mqtt.ca', async () => {
    const other = makePki(tempDir('other-ca'), 'other');
    const box = await provisionedBox({ ca: other.ca });
    const r = await runCli(['check', '--config', box.config], deps);
    assert.equal(r.code, 1, r.out);
    const l = withHint(r.out, 'broker reachable');
    assert.match(
      l,
      /TLS: the broker's certificate is not signed by the CA this box trusts \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/,
    );
    assert.match(l, /mqtt\.ca \(.*ca\.crt\) is not the CA that signed/);
  });

  test('no client certificate on a broker that requires one: the hint says to install the signed CSR', async () => {
    const dir = tempDir('check-nocert');
    const config = join(dir, 'agent.json');
    assert.equal(
      (
        await runCli(
          [
            'init',
            '--yes',
            '--config',
            config,
            '--device-id',
            'box-nocert',
            '--broker',
            broker.url,
            '--ca',
            pki.ca,
            '--board',
            'sim',
            '--state-dir',
            join(dir, 's'),
            '--cache-dir',
            join(dir, 'c'),
          ],
          deps,
        )
      ).code,
      0,
    );
    const r = await runCli(['check', '--config', config], deps);
    assert.equal(r.code, 1, r.out);
    assert.match(line(r.out, 'device certificate'), /\[skip\].*device\.csr awaits signing/);
    const l = withHint(r.out, 'broker reachable');
    // TLS 1.3 reports the refusal as an alert after the handshake; older stacks reset the connection.
    assert.match(
      l,
      /\[FAIL\].*TLS: .*(refused this box's client certificate|closed the connection during the TLS handshake)/,
    );
    assert.match(
      l,
      /-> .*(requires mutual TLS: have device\.csr signed .*init --cert|may require a client certificate \(device\.csr signed)/,
    );
  });

  test('wrong password: CONNACK refusal, the hint names the username and the password file', async () => {
    const pw = await startPasswordBroker('box-pw', 'right-password');
    try {
      const dir = tempDir('check-pw');
      const config = join(dir, 'agent.json');
      const init = await runCli(
        [
          'init',
          '--yes',
          '--config',
          config,
          '--device-id',
          'box-pw',
          '--broker',
          pw.url,
          '--username',
          'box-pw',
          '--password',
          'WRONG',
          '--board',
          'sim',
          '--state-dir',
          join(dir, 's'),
          '--cache-dir',
          join(dir, 'c'),
        ],
        deps,
      );
      assert.equal(init.code, 0, init.err);
      const r = await runCli(['check', '--config', config], deps);
      assert.equal(r.code, 1, r.out);
      const l = withHint(r.out, 'broker reachable');
      assert.match(l, /MQTT: the broker refused .*\(CONNACK (4|5|134|135)/);
      assert.match(l, /mqtt\.username \(box-pw\) and the password in .*mqtt-password/);
      // And the right one passes.
      assert.equal((await runCli(['init', '--yes', '--config', config, '--password', 'right-password'], deps)).code, 0);
      const ok = await runCli(['check', '--config', config], deps);
      assert.match(line(ok.out, 'broker reachable'), /\[ok\].*user box-pw/);
      assert.equal(ok.code, 0, ok.out);
    } finally {
      await pw.stop();
    }
  });

  test('the microcontroller path does not exist: the hint is about the cable and the udev rule; board lines are skipped', async () => {
    const box = await provisionedBox({ serial: '/dev/loa-io-absent' });
    // As on a box where the technician stopped the agent for the check.
    const exec = async (cmd: string) =>
      cmd === 'systemctl' ? { code: 3, stdout: 'inactive\n' } : { code: 127, stdout: '' };
    const r = await runCli(['check', '--config', box.config], { ...deps, exec });
    assert.equal(r.code, 1, r.out);
    const l = withHint(r.out, 'microcontroller');
    assert.match(l, /\[FAIL\].*\/dev\/loa-io-absent does not exist/);
    assert.match(l, /cable plugged in.*udev rule/);
    assert.match(line(r.out, 'cabinet door'), /\[skip\].*needs the microcontroller/);
    assert.match(line(r.out, 'test tone'), /\[skip\]/);
    assert.match(r.out, /loa-agent is stopped: start it again with  sudo systemctl start loa-agent/);
  });

  test('cache directory not writable: its own ✗ with the reason and a fix', async () => {
    const box = await provisionedBox();
    const file = join(box.dir, 'not-a-dir');
    writeFileSync(file, 'x');
    const cfg = JSON.parse(readFileSync(box.config, 'utf8')) as Record<string, unknown>;
    writeFileSync(box.config, JSON.stringify({ ...cfg, cacheDir: join(file, 'cache') }));
    const r = await runCli(['check', '--config', box.config], deps);
    assert.equal(r.code, 1, r.out);
    const l = withHint(r.out, 'cache directory');
    assert.match(l, /\[FAIL\].*ENOTDIR/);
    assert.match(l, /is a file, not a directory/);
    assert.match(line(r.out, 'state directory'), /\[ok\]/);
  });

  test('an invalid config: exit 78 and every problem listed', async () => {
    const dir = tempDir('check-invalid');
    const config = join(dir, 'agent.json');
    writeFileSync(config, JSON.stringify({ deviceId: 'Box', mqtt: { url: 'mqtt:/x' }, hartbeatS: 5 }));
    const json = join(dir, 'r.json');
    const r = await runCli(['check', '--config', config, '--json', json], deps);
    assert.equal(r.code, 78, r.out);
    assert.match(r.out, /\[FAIL\] +config valid +CONFIG_INVALID: 3 problems/);
    assert.match(r.out, /deviceId: "Box" is not a valid device id/);
    assert.match(r.out, /hartbeatS: unknown field \(did you mean "heartbeatS"\?\)/);
    assert.equal(JSON.parse(readFileSync(json, 'utf8')).passed, false);
  });
});

describe(
  'check with the board simulator as its own process on a socat pty pair',
  { skip: !haveMosquitto ? skip : SOCAT ? false : 'socat not installed', timeout: 180_000 },
  () => {
    let sim: Awaited<ReturnType<typeof startSimPty>>;
    before(async () => {
      sim = await startSimPty();
    });
    after(async () => {
      await sim?.stop();
    });

    test('door open, mains lost, line short and FM signal lost each give their ✗ and hint; fixed, all pass', async () => {
      const box = await provisionedBox({ serial: sim.host });
      await sim.script('door open');
      await sim.script('line short');
      await sim.script('mains lost');
      await sim.script('fm loss');
      const r = await runCli(['check', '--config', box.config], deps);
      assert.equal(r.code, 1, r.out);
      assert.match(line(r.out, 'microcontroller'), /\[ok\].*firmware 1\.0\.0.*on .*host/);
      assert.match(withHint(r.out, 'cabinet door'), /\[FAIL\].*OPEN\n.*-> close the cabinet door/);
      assert.match(withHint(r.out, 'speaker line'), /\[FAIL\].*SHORTED \(0 Ω\)\n.*-> a short on the speaker line/);
      assert.match(
        withHint(r.out, 'mains power'),
        /\[FAIL\].*LOST: running on battery \(12\.6 V\)\n.*-> check the mains breaker/,
      );
      assert.match(
        withHint(r.out, 'FM tuner'),
        /\[FAIL\].*weak: 100\.0 MHz, RSSI 6 dBµV \(under 20\)\n.*-> check the FM antenna/,
      );
      assert.match(line(r.out, 'battery'), /\[ok\]/);

      for (const fix of ['door closed', 'line ok', 'mains present', 'fm ok']) await sim.script(fix);
      const ok = await runCli(['check', '--config', box.config], deps);
      assert.equal(ok.code, 0, ok.out);
    });

    test('line open and tuner not ready', async () => {
      const box = await provisionedBox({ serial: sim.host });
      await sim.script('line open');
      await sim.script('tuner fail');
      try {
        const r = await runCli(['check', '--config', box.config], deps);
        assert.equal(r.code, 1, r.out);
        assert.match(withHint(r.out, 'speaker line'), /OPEN \(open circuit\)\n.*-> no speaker on the line/);
        assert.match(withHint(r.out, 'FM tuner'), /tuner NOT READY\n.*-> the FM tuner did not start/);
      } finally {
        await sim.script('line ok');
        await sim.script('tuner ok');
      }
    });

    test('a silent microcontroller: no answer, with the hint about power and wiring', async () => {
      const box = await provisionedBox({ serial: sim.host });
      await sim.script('silence on');
      try {
        const r = await runCli(['check', '--config', box.config], deps);
        assert.equal(r.code, 1, r.out);
        const l = withHint(r.out, 'microcontroller');
        assert.match(l, /\[FAIL\].*no answer on .*host \(get-version × 3/);
        assert.match(l, /board is silent: check its power LED and the TX\/RX wires/);
      } finally {
        await sim.script('silence off');
      }
    });

    test('the agent holds the serial port: the hint says to stop it or use the remote selftest', async () => {
      const box = await provisionedBox({ serial: sim.host });
      // What the running agent does: the port open and locked by its bridge.
      const holder = new FirmwareBridge({ open: () => openSerial(sim.host), watchdogS: 10 });
      await holder.start();
      try {
        const r = await runCli(['check', '--config', box.config], deps);
        assert.equal(r.code, 1, r.out);
        const l = withHint(r.out, 'microcontroller');
        assert.match(l, /is in use by another process \(.*lock/i);
        assert.match(l, /sudo systemctl stop loa-agent.*noc send --device box-\w+ --action selftest/);
      } finally {
        await holder.stop();
      }
    });
  },
);

describe(
  "check with GPIO relays (Debian's gpiod tools, faked on PATH), as its own process",
  { skip, timeout: 120_000 },
  () => {
    const fake = installFakeGpiod(tempDir('prov-gpiod'), [{ name: 'gpiochip0', label: 'pinctrl-bcm2711', lines: 58 }]);

    async function gpioBox(): Promise<string> {
      const box = await provisionedBox({
        board: ['--board', 'gpio', '--pin-amp', '17:low', '--pin-fm', '27', '--pin-line', '22', '--pin-fault', '23'],
      });
      const cfg = JSON.parse(readFileSync(box.config, 'utf8')) as { hardware: { gpio: Record<string, unknown> } };
      cfg.hardware.gpio.backend = 'gpiod';
      writeFileSync(box.config, JSON.stringify(cfg));
      return box.config;
    }

    test('the amplifier relay is switched on and off; the fault input is read', async () => {
      const config = await gpioBox();
      const r = await spawnCli(['check', '--config', config], { PATH: fake.path });
      assert.match(line(r.out, 'amplifier relay'), /\[ok\].*GPIO17 switched on and off via gpiod/);
      assert.match(line(r.out, 'amplifier fault input'), /\[ok\] .*no fault/);
      // Active low: on is 0, off is 1; the board ends in its safe state (amp off).
      const amp = fake.gpiosetLines().map((l) => /17=(\d)/.exec(l)?.[1]);
      assert.ok(amp.includes('0') && amp.at(-1) === '1', `amp levels ${amp.join(',')}`);
      assert.equal(r.code, 0, r.out);

      fake.setLevel(23, 1);
      try {
        const f = await spawnCli(['check', '--config', config], { PATH: fake.path });
        assert.equal(f.code, 1, f.out);
        assert.match(
          withHint(f.out, 'amplifier fault input'),
          /\[FAIL\].*GPIO23 reports a fault\n.*-> the amplifier reports a fault/,
        );
      } finally {
        fake.setLevel(23, 0);
      }
    });

    test('lines held by the running agent: the hint says to stop it or use the remote selftest', async () => {
      const config = await gpioBox();
      // What the agent does on gpiod: one gpioset holding the lines while it lives.
      const holder = spawn('gpioset', ['--mode=wait', 'gpiochip0', '17=1'], {
        env: { ...process.env, PATH: fake.path },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      try {
        await new Promise((r) => setTimeout(r, 300));
        const r = await spawnCli(['check', '--config', config], { PATH: fake.path });
        assert.equal(r.code, 1, r.out);
        assert.match(
          withHint(r.out, 'amplifier relay'),
          /\[FAIL\].*busy.*\n.*-> the agent holds them: sudo systemctl stop loa-agent/,
        );
        assert.match(line(r.out, 'test tone'), /\[skip\]/);
      } finally {
        holder.stdin.end();
        holder.kill();
      }
    });
  },
);
