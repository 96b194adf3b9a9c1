// `loa-provision check` against a real Mosquitto (TLS, mutual TLS with the certificate
// signed for the CSR init made, a password broker) and the board simulator in process,
// healthy and with one fault at a time: each fault must give the right ✗ and hint, and
// exit 1. The board as its own process: provision-check-board.test.ts; the rig:
// provision-check-rig.ts.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckReport } from '../../provisioning/report.js';
import { makePki } from '../helpers/certs.js';
import { tempDir } from '../helpers/tmp.js';
import { DEFAULT_ROOT as ROOT, deviceTopic, Watcher } from '../helpers/watcher.js';
import { centreKey, MPG123, runCli, spawnCli, startPasswordBroker } from './provision-rig.js';
import { skip, broker, pki, deps, provisionedBox, line, withHint } from './provision-check-rig.js';

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
          '--trusted-key',
          `centre-2026=${await centreKey()}`,
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
    assert.match(r.out, /loa-agent is stopped: start it again with {2}sudo systemctl start loa-agent/);
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

  test('init --yes without a trusted key: the box cannot obey, so check fails on it and says how to add one', async () => {
    const box = await provisionedBox({ trustedKey: false });
    const r = await runCli(['check', '--config', box.config], deps);
    assert.equal(r.code, 1, r.out);
    assert.match(line(r.out, 'config valid'), /\[ok\]/, 'the agent would start');
    const l = withHint(r.out, 'trusted keys');
    assert.match(l, /\[FAIL\] +trusted keys +none: every schedule and every command will be refused/);
    assert.match(
      l,
      /-> add the centre's key: sudo loa-provision init --yes --config \S+ --trusted-key '<the line "noc keys" printed>'/,
    );
    assert.match(line(r.out, 'broker reachable'), /\[ok\]/, 'the other checks still run');
    assert.equal(JSON.parse(readFileSync(join(box.dir, 'state/last-check.json'), 'utf8')).passed, false);
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
