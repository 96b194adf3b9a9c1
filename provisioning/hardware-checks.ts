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
import { fail, fromVerdict, pass, skip, timed, withProgress, type CheckResult, type Outcome } from './report.js';
import { msg, type Text } from './text.js';
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
const TONE_SKIPPED = () => skip(msg('check.tone.skipped'), msg('check.tone.skipped.hint'));

export async function hardwareChecks(ctx: HardwareContext): Promise<void> {
  const board = ctx.config.hardware.board;
  if (board === 'mcu') return mcuChecks(ctx);
  if (board === 'gpio') return gpioChecks(ctx);
  ctx.emit(await timed('IO board', async () => skip(msg('check.board.sim'), msg('check.board.sim.hint'))));
  ctx.emit(await timed(TONE, async () => (ctx.tone ? playTone(ctx) : TONE_SKIPPED())));
  if (ctx.tone) ctx.emit(await timed(COMMISSIONING, async () => notMeasured(msg('check.comm.boardSim'))));
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
      const v = version!;
      return pass(msg('check.mcu.ok', { firmware: (lang) => firmwareDetail(v, lang), path }));
    });
    ctx.emit(answers);
    if (!answers.ok) {
      for (const name of dependent) ctx.emit({ name, ok: true, status: 'skip', detail: msg('check.needsMcu'), ms: 0 });
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
        detail: msg('check.status.failed', { error: errorMessage(err) }),
        hint: msg('check.status.failed.hint'),
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
    ctx.emit(await timed('cabinet door', async () => fromVerdict((l) => doorVerdict(reading, l))));
    ctx.emit(await timed('mains power', async () => fromVerdict((l) => mainsVerdict(reading, l))));
    ctx.emit(await timed('battery', async () => fromVerdict((l) => batteryVerdict(reading, l))));
    ctx.emit(await timed('amplifier', async () => fromVerdict((l) => ampVerdict(reading, l))));
    ctx.emit(
      await timed('speaker line', () =>
        withProgress(ctx.ui, msg('check.line.progress'), () => lineTest(bridge, s, (ohms) => (lineOhms = ohms))),
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
          if (tone.status !== 'ok') return skip(msg('check.comm.needsTone'));
          const minor = version!.minor;
          if (minor < 2) return notMeasured(msg('check.comm.boardOld', { minor }));
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
  const error = errorMessage(err);
  if (/cannot lock port|EBUSY|resource busy|Resource temporarily unavailable/i.test(error)) {
    return fail(msg('check.mcu.busy', { path, error }), msg('check.mcu.busy.hint', { deviceId }));
  }
  if (/ENOENT|no such file/i.test(error)) {
    return fail(msg('check.mcu.missing', { path }), msg('check.mcu.missing.hint'));
  }
  if (/EACCES|permission denied/i.test(error))
    return fail(msg('check.mcu.denied', { path }), msg('check.mcu.denied.hint'));
  if (err instanceof BridgeTimeoutError) {
    return fail(
      msg('check.mcu.silent', { path, command: err.command, attempts: err.attempts, ms: err.timeoutMs }),
      msg('check.mcu.silent.hint'),
    );
  }
  if (/hw_fault/.test(error)) return fail(msg('check.mcu.relays', { error }), msg('check.mcu.relays.hint'));
  if (/protocol/i.test(error)) return fail(msg('check.mcu.protocol', { error }), msg('check.mcu.protocol.hint'));
  return fail(`${path}: ${error}`, msg('check.mcu.other.hint'));
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
  return fromVerdict((l) => lineVerdict(result, impedance, l));
}

async function fmTest(bridge: FirmwareBridge, mhz: number): Promise<Outcome> {
  try {
    const r = await bridge.fmTune(Math.round(mhz * 100));
    return fromVerdict((l) => fmVerdict(r.freq / 100, r.rssi, l));
  } catch (err) {
    if (err instanceof BoardErrorReply && err.error.code === 'not_ready')
      return fail(msg('check.fm.notReady'), msg('check.fm.notReady.hint'));
    return fail(msg('check.fm.failed', { mhz, error: errorMessage(err) }), msg('check.fm.failed.hint'));
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
              msg('check.gpio.reads', { line: g.pins.amp.line, on: on ? 1 : 0, off: off ? 1 : 0 }),
              msg('check.gpio.reads.hint'),
            );
          const rb = on === null ? msg('check.gpio.unreadable') : msg('check.gpio.readBack');
          return pass(msg('check.gpio.ok', { line: g.pins.amp.line, backend: String(board.backend), rb }));
        } catch (err) {
          const error = errorMessage(err);
          if (/busy/i.test(error))
            return fail(
              msg('check.gpio.busy', { error }),
              msg('check.gpio.busy.hint', { deviceId: ctx.config.deviceId }),
            );
          return fail(error, msg('check.gpio.other.hint'));
        }
      }),
    );
    if (g.pins.ampFault && ready) {
      await new Promise((r) => setTimeout(r, 400)); // two fault polls + debounce
      ctx.emit(
        await timed('amplifier fault input', async () =>
          board.state().ampFault
            ? fail(msg('check.gpio.fault', { line: g.pins.ampFault!.line }), msg('check.gpio.fault.hint'))
            : pass(msg('check.gpio.noFault')),
        ),
      );
    }
    const amp: AmpOps = {
      on: async () => (await board.selectInput('ip'), await board.setAmp(true)),
      off: () => board.setAmp(false),
    };
    ctx.emit(
      await timed(TONE, async () =>
        !ready ? skip(msg('check.gpio.needsRelay')) : ctx.tone ? playTone(ctx, amp) : TONE_SKIPPED(),
      ),
    );
    if (ctx.tone) ctx.emit(await timed(COMMISSIONING, async () => notMeasured(msg('check.comm.boardGpio'))));
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
  if (a.player === 'stand-in') return fail(msg('check.tone.standIn'), msg('check.tone.standIn.hint'));
  const file = ctx.toneFile ?? findChime();
  if (!file || !existsSync(file))
    return fail(
      msg('check.tone.noChime', { at: file ? msg('check.tone.noChime.at', { file }) : '' }),
      msg('check.tone.noChime.hint'),
    );
  const player = createMpg123Player({
    bin: a.mpg123Path,
    output: a.output === 'paced' ? { kind: 'paced' } : { kind: 'alsa', device: a.device },
    startTimeoutMs: a.startTimeoutS * 1000,
    stallTimeoutMs: a.stallTimeoutS * 1000,
  });
  return withProgress(ctx.ui, msg('check.tone.progress'), async () => {
    try {
      await amp?.on();
    } catch (err) {
      return fail(msg('check.tone.ampOff', { error: errorMessage(err) }), msg('check.tone.ampOff.hint'));
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
        const error = errorMessage(err);
        const hint: Text = /not found|PLAYER_MISSING|install mpg123/i.test(error)
          ? msg('check.tone.install')
          : a.output === 'alsa'
            ? msg('check.tone.alsa', { device: a.device })
            : msg('check.tone.player');
        return fail(msg('check.tone.noSound', { error }), hint);
      }
      await new Promise((r) => setTimeout(r, 700));
      const current = amp?.current ? await amp.current().catch(() => null) : null;
      const end = await session.ended;
      if (end.reason === 'failed')
        return fail(
          msg('check.tone.failed', { message: end.message }),
          msg('check.tone.failed.hint', { device: a.device }),
        );
      const played = msg('check.tone.played', {
        s: (Math.max(0, end.at - startedAt) / 1000).toFixed(1),
        volume: ctx.volume,
        via: a.output === 'paced' ? msg('check.tone.paced') : `ALSA ${a.device}`,
      });
      if (current !== null && current < AMP_MIN_CURRENT_MA)
        return fail(msg('check.tone.weak', { played, mA: current }), msg('check.tone.weak.hint'));
      return pass(
        msg('check.tone.ok', { played, current: current !== null ? msg('check.tone.current', { mA: current }) : '' }),
      );
    } finally {
      await amp?.off().catch(() => undefined);
    }
  });
}
