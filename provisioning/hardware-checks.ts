// The hardware half of the self-test: the IO microcontroller (firmware version, door,
// mains, battery, amplifier, speaker line, FM tuner), or the GPIO relays, and the test
// tone through the amplifier. The board is driven directly (FirmwareBridge / GpioBoard),
// not through the agent, so the agent must not hold it: a serial port the agent has
// locked ("Cannot lock port", EBUSY) gets a hint to stop it or use the remote selftest.
//
// Every path ends with the amplifier off and the input on `ip`, whatever failed.
import { existsSync } from 'node:fs';
import { findChime } from '../agent/adapters/chime.js';
import type { Config } from '../agent/config.js';
import { createLogger } from '../agent/log.js';
import { GpioBoard, findSysfsChip, DEFAULT_CHIP_LABELS } from '../agent/adapters/gpio-board.js';
import { createMpg123Player } from '../agent/adapters/mpg123-player.js';
import { BoardErrorReply, BridgeTimeoutError, FirmwareBridge } from '../firmware-bridge/bridge.js';
import type { Status, VersionBlock } from '../firmware-bridge/messages.js';
import { openSerial } from '../firmware-bridge/serial.js';
import { simulatedBoard, type SimulatedBoard } from '../firmware-bridge/sim-port.js';
import { errorMessage } from '../cli-kit/index.js';
import type { Ui } from './io.js';
import { fail, pass, skip, timed, withProgress, type CheckResult, type Outcome } from './report.js';
import { commission, COMMISSIONING, notMeasured } from './commissioning.js';
import type { LevelsWindow } from '../agent/domain/sound-proof.js';
import { readFile } from 'node:fs/promises';
import {
  AMP_MIN_CURRENT_MA,
  ampVerdict,
  batteryVerdict,
  doorVerdict,
  firmwareDetail,
  fmVerdict,
  lineVerdict,
  mainsVerdict,
  type BoardReading,
} from '../agent/domain/hardware-verdicts.js';

// Thresholds and verdicts are shared with the agent's remote selftest.
export { AMP_MIN_CURRENT_MA, FM_MIN_RSSI } from '../agent/domain/hardware-verdicts.js';

export interface HardwareContext {
  config: Config;
  ui: Ui;
  fmMHz: number;
  tone: boolean;
  /** Percent of audio.maxVolume for the tone. */
  volume: number;
  toneFile?: string;
  /** Replace the commissioning level the tone measures (commissioning.ts). */
  rebaseline: boolean;
  now: () => Date;
  /** Test seam: the in-process simulator used for hardware.mcu.path "sim". */
  simBoard?: () => SimulatedBoard;
  emit(r: CheckResult): void;
}

interface AmpOps {
  on(): Promise<void>;
  off(): Promise<void>;
  /** The amplifier's supply current, where the board measures it. */
  current?(): Promise<number>;
}

const TONE = 'test tone';
const TONE_SKIPPED = () =>
  skip('not played: it is heard across the commune', 'warn the neighbours, then run: loa-provision check --tone');

export async function hardwareChecks(ctx: HardwareContext): Promise<void> {
  const board = ctx.config.hardware.board;
  if (board === 'mcu') return mcuChecks(ctx);
  if (board === 'gpio') return gpioChecks(ctx);
  ctx.emit(
    await timed('IO board', async () =>
      skip(
        'hardware.board is "sim": no relays or sensors to test',
        'set the real board with loa-provision init --board mcu|gpio',
      ),
    ),
  );
  ctx.emit(await timed(TONE, async () => (ctx.tone ? playTone(ctx) : TONE_SKIPPED())));
  if (ctx.tone) ctx.emit(await timed(COMMISSIONING, async () => notMeasured('hardware.board "sim"')));
}

// ---- the IO microcontroller ----

async function mcuChecks(ctx: HardwareContext): Promise<void> {
  const { path, baudRate, watchdogS } = ctx.config.hardware.mcu;
  const sim = path === 'sim' ? (ctx.simBoard ?? (() => simulatedBoard()))() : undefined;
  const bridge = new FirmwareBridge({
    open: sim ? () => sim.open() : () => openSerial(path, baudRate),
    watchdogS,
    // One attempt is what a checklist wants: no background reconnects while we report.
    backoff: { minMs: 600_000, maxMs: 600_000 },
  });
  let version: VersionBlock | undefined;
  bridge.on('connected', (v) => (version = v));
  const dependent = ['cabinet door', 'mains power', 'battery', 'amplifier', 'speaker line', 'FM tuner', TONE];
  if (ctx.tone) dependent.push(COMMISSIONING);
  // Protocol 1.2: what the board measures while the tone plays is the commissioning level.
  const windows: LevelsWindow[] = [];
  bridge.on('event', (e) => void (e.event === 'levels' && windows.push(e)));
  let lineOhms: number | null = null;
  try {
    const answers = await timed('microcontroller', async () => {
      try {
        await bridge.start();
      } catch (err) {
        return mcuFailure(err, path, ctx.config.deviceId);
      }
      return pass(`${firmwareDetail(version!)} on ${path}`);
    });
    ctx.emit(answers);
    if (!answers.ok) {
      for (const name of dependent)
        ctx.emit({ name, ok: true, status: 'skip', detail: 'needs the microcontroller', ms: 0 });
      return;
    }
    let status: Status | undefined;
    try {
      status = await bridge.request({ cmd: 'get-status' });
    } catch (err) {
      ctx.emit({
        name: 'status',
        ok: false,
        status: 'fail',
        detail: `GET_STATUS failed: ${errorMessage(err)}`,
        hint: 'the board stopped answering after its handshake: check its power and cable, then run the check again',
        ms: 0,
      });
      return;
    }
    const s = status;
    const reading: BoardReading = {
      ...s.flags,
      batteryMv: s.batteryMv,
      temperatureC: s.temperatureC,
      ampCurrentMa: s.ampCurrentMa,
    };
    ctx.emit(await timed('cabinet door', async () => doorVerdict(reading)));
    ctx.emit(await timed('mains power', async () => mainsVerdict(reading)));
    ctx.emit(await timed('battery', async () => batteryVerdict(reading)));
    ctx.emit(await timed('amplifier', async () => ampVerdict(reading)));
    ctx.emit(
      await timed('speaker line', () =>
        withProgress(ctx.ui, 'testing the speaker line', () => lineTest(bridge, s, (ohms) => (lineOhms = ohms))),
      ),
    );
    ctx.emit(await timed('FM tuner', () => fmTest(bridge, ctx.fmMHz)));
    const amp: AmpOps = {
      on: async () => {
        await bridge.selectInput('ip');
        windows.length = 0;
        if (!(await bridge.setAmp(true))) throw new Error('the board reports the amplifier still off');
      },
      off: async () => void (await bridge.setAmp(false)),
      current: async () => (await bridge.request({ cmd: 'get-status' })).ampCurrentMa,
    };
    const tone = await timed(TONE, async () => (ctx.tone ? playTone(ctx, amp) : TONE_SKIPPED()));
    ctx.emit(tone);
    if (ctx.tone)
      ctx.emit(
        await timed(COMMISSIONING, async () => {
          if (tone.status !== 'ok') return skip('needs the test tone to sound');
          const minor = version!.minor;
          if (minor < 2) return notMeasured(`the IO board (protocol 1.${minor})`);
          return commission({
            stateDir: ctx.config.stateDir,
            windows,
            lineOhms,
            volumePct: ctx.volume,
            rebaseline: ctx.rebaseline,
            now: ctx.now(),
            ...(ctx.config.site?.installer ? { by: ctx.config.site.installer } : {}),
          });
        }),
      );
  } finally {
    if (bridge.connected) {
      await bridge.setAmp(false).catch(() => undefined);
      await bridge.selectInput('ip').catch(() => undefined);
    }
    await bridge.stop();
    sim?.stop();
  }
}

export function mcuFailure(err: unknown, path: string, deviceId: string): Outcome {
  const msg = errorMessage(err);
  if (/cannot lock port|EBUSY|resource busy|Resource temporarily unavailable/i.test(msg)) {
    return fail(
      `${path} is in use by another process (${msg})`,
      `the agent holds it: sudo systemctl stop loa-agent, check, then sudo systemctl start loa-agent; or from the centre: noc send --device ${deviceId} --action selftest`,
    );
  }
  if (/ENOENT|no such file/i.test(msg)) {
    return fail(
      `${path} does not exist`,
      "is the IO board's cable plugged in and powered? the udev rule (systemd/99-loa-io.rules) creates /dev/loa-io: ls -l /dev/loa-io /dev/ttyUSB* /dev/ttyACM* /dev/ttyAMA*",
    );
  }
  if (/EACCES|permission denied/i.test(msg))
    return fail(`${path}: permission denied`, "run the check with sudo (the agent's user is in group dialout)");
  if (err instanceof BridgeTimeoutError) {
    return fail(
      `no answer on ${path} (${err.command} × ${err.attempts}, ${err.timeoutMs} ms each)`,
      'the port opens but the board is silent: check its power LED and the TX/RX wires (115200 baud), then power-cycle the IO board',
    );
  }
  if (/hw_fault/.test(msg))
    return fail(
      `the board answers but refuses to switch its relays (${msg})`,
      'a relay or its feedback wiring is faulty (HW_FAULT): check the relays on the IO board; power-cycle it; replace the board if it persists',
    );
  if (/protocol/i.test(msg))
    return fail(
      `the board speaks another protocol version (${msg})`,
      "the IO board's firmware and this agent do not match: update one of them (firmware-bridge/PROTOCOL.md §6)",
    );
  return fail(`${path}: ${msg}`, "check the IO board's cable and power");
}

async function lineTest(bridge: FirmwareBridge, s: Status, measured: (ohms: number) => void): Promise<Outcome> {
  let result: 'ok' | 'open' | 'short';
  let impedance: number | null = null;
  try {
    const r = await bridge.request({ cmd: 'line-test' });
    result = r.result;
    impedance = r.impedance;
    if (result === 'ok') measured(impedance);
  } catch {
    // The active test failed: the status flags (the board's last measurement) still tell.
    result = s.flags.lineShort ? 'short' : s.flags.lineOpen ? 'open' : 'ok';
  }
  return lineVerdict(result, impedance);
}

async function fmTest(bridge: FirmwareBridge, mhz: number): Promise<Outcome> {
  try {
    const r = await bridge.fmTune(Math.round(mhz * 100));
    return fmVerdict(r.freq / 100, r.rssi);
  } catch (err) {
    if (err instanceof BoardErrorReply && err.error.code === 'not_ready')
      return fail(
        'tuner NOT READY',
        'the FM tuner did not start: power-cycle the IO board; if it persists the tuner module is faulty',
      );
    return fail(`tune to ${mhz} MHz failed: ${errorMessage(err)}`, 'check the IO board (see the microcontroller line)');
  }
}

// ---- GPIO relays ----

async function gpioChecks(ctx: HardwareContext): Promise<void> {
  const g = ctx.config.hardware.gpio!;
  const board = new GpioBoard({ ...g.pins, backend: g.backend, log: createLogger({ level: 'silent', pretty: false }) });
  let ready = false;
  try {
    ctx.emit(
      await timed('amplifier relay', async () => {
        try {
          await board.init();
          ready = true;
          await board.setAmp(true);
          const on = await readBack(board, g.pins.amp);
          await new Promise((r) => setTimeout(r, 300));
          await board.setAmp(false);
          const off = await readBack(board, g.pins.amp);
          if (on === false || off === true)
            return fail(
              `GPIO${g.pins.amp.line} reads ${on ? 1 : 0}/${off ? 1 : 0} after on/off`,
              'the line does not follow: another program drives it, or the pin number is wrong',
            );
          const rb = on === null ? 'level not readable back on this backend' : 'read back on and off';
          return pass(
            `GPIO${g.pins.amp.line} switched on and off via ${board.backend} (${rb}): you should have heard the relay click twice`,
          );
        } catch (err) {
          const msg = errorMessage(err);
          if (/busy/i.test(msg))
            return fail(
              `GPIO lines busy (${msg})`,
              `the agent holds them: sudo systemctl stop loa-agent, check, then start it; or from the centre: noc send --device ${ctx.config.deviceId} --action selftest`,
            );
          return fail(msg, 'check the pin numbers (BCM, hardware.gpio.pins) and run with sudo');
        }
      }),
    );
    if (g.pins.ampFault && ready) {
      await new Promise((r) => setTimeout(r, 400)); // two fault polls + debounce
      ctx.emit(
        await timed('amplifier fault input', async () =>
          board.state().ampFault
            ? fail(
                `GPIO${g.pins.ampFault!.line} reports a fault`,
                'the amplifier reports a fault: check its indicator, the speaker line and its supply',
              )
            : pass('no fault'),
        ),
      );
    }
    const amp: AmpOps = {
      on: async () => (await board.selectInput('ip'), await board.setAmp(true)),
      off: () => board.setAmp(false),
    };
    ctx.emit(
      await timed(TONE, async () =>
        !ready ? skip('needs the amplifier relay') : ctx.tone ? playTone(ctx, amp) : TONE_SKIPPED(),
      ),
    );
    if (ctx.tone) ctx.emit(await timed(COMMISSIONING, async () => notMeasured('a GPIO board')));
  } finally {
    if (ready) await board.close().catch(() => undefined);
  }
}

/** The level on a sysfs line as the kernel reads it; null where it cannot be read (gpiod holds the line). */
async function readBack(board: GpioBoard, pin: { line: number; activeLow?: boolean }): Promise<boolean | null> {
  if (board.backend !== 'sysfs') return null;
  const chip = findSysfsChip('/sys', DEFAULT_CHIP_LABELS);
  if (!chip) return null;
  const raw = await readFile(`/sys/class/gpio/gpio${chip.base + pin.line}/value`, 'utf8').catch(() => null);
  if (raw === null) return null;
  return (raw.trim() === '1') !== (pin.activeLow === true);
}

// ---- the test tone ----

async function playTone(ctx: HardwareContext, amp?: AmpOps): Promise<Outcome> {
  const a = ctx.config.audio;
  if (a.player === 'stand-in')
    return fail(
      'audio.player is "stand-in": this box never makes a sound',
      'set "audio": {"player": "mpg123"} in the config',
    );
  const file = ctx.toneFile ?? findChime();
  if (!file || !existsSync(file))
    return fail(`test chime not found${file ? ` at ${file}` : ''}`, 'pass --tone-file FILE.mp3 (any short MP3)');
  const player = createMpg123Player({
    bin: a.mpg123Path,
    output: a.output === 'paced' ? { kind: 'paced' } : { kind: 'alsa', device: a.device },
    startTimeoutMs: a.startTimeoutS * 1000,
    stallTimeoutMs: a.stallTimeoutS * 1000,
  });
  return withProgress(ctx.ui, 'playing the test tone', async () => {
    try {
      await amp?.on();
    } catch (err) {
      return fail(
        `the amplifier did not switch on (${errorMessage(err)})`,
        'a relay fault or a latched amplifier fault (see the amplifier line): check the relay and its wiring',
      );
    }
    try {
      const session = player.play({
        source: { kind: 'file', paths: [file] },
        volume: (a.maxVolume * ctx.volume) / 100,
      });
      let startedAt: number;
      try {
        startedAt = await session.started;
      } catch (err) {
        await session.ended;
        const msg = errorMessage(err);
        const hint = /not found|PLAYER_MISSING|install mpg123/i.test(msg)
          ? 'sudo apt-get install mpg123'
          : a.output === 'alsa'
            ? `no sound out of ALSA device "${a.device}": aplay -l lists the cards; set audio.device`
            : 'see the player message';
        return fail(`no sound: ${msg}`, hint);
      }
      await new Promise((r) => setTimeout(r, 700));
      const current = amp?.current ? await amp.current().catch(() => null) : null;
      const end = await session.ended;
      if (end.reason === 'failed')
        return fail(
          `playback failed: ${end.message}`,
          `check audio.device ("${a.device}") and the sound card (aplay -l)`,
        );
      const played = `${(Math.max(0, end.at - startedAt) / 1000).toFixed(1)} s chime at ${ctx.volume} % via ${a.output === 'paced' ? 'paced output (no card)' : `ALSA ${a.device}`}`;
      if (current !== null && current < AMP_MIN_CURRENT_MA)
        return fail(
          `${played}, but the amplifier drew only ${current} mA`,
          'the amplifier is not powered or the relay did not switch it: check its supply, fuse and the relay',
        );
      return pass(`${played}${current !== null ? `, amplifier ${current} mA` : ''}; every speaker should have sounded`);
    } finally {
      await amp?.off().catch(() => undefined);
    }
  });
}
