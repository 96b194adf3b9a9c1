// `loa-provision check` with the IO board as its own process (the rig: provision-check-
// rig.ts): the board simulator on a socat pty pair, and GPIO relays through Debian's gpiod
// tools faked on PATH; healthy and with one fault at a time. The broker and the box's
// files: provision-check.test.ts.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { FirmwareBridge } from '../../firmware-bridge/bridge.js';
import { openSerial } from '../../firmware-bridge/serial.js';
import { tempDir } from '../helpers/tmp.js';
import { installFakeGpiod } from '../helpers/fake-gpio.js';
import { spawn } from 'node:child_process';
import { SOCAT, runCli, spawnCli, startSimPty } from './provision-rig.js';
import { haveMosquitto, skip, deps, provisionedBox, line, withHint } from './provision-check-rig.js';

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
