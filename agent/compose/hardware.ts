// The hardware ports (stage one of the composition graph, ports.ts):
// - the board the configuration names (sim, gpio, mcu); the gpio and mcu boards (and
//   serialport, the firmware bridge) are imported only for the board configured, so a box
//   never holds the code of the boards it does not have;
// - the player: mpg123, or the silent stand-in only where asked for (or with "auto" where
//   mpg123 is missing, said plainly);
// - the PCM output live sessions pull from (adapters/pcm-output.ts): aplay on the card,
//   or the paced stand-in where the output is "paced" or the player is the stand-in.
import { spawnSync } from 'node:child_process';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Clock } from '../adapters/clock.js';
import type { Board } from '../adapters/board.js';
import type { McuBoardOptions } from '../adapters/mcu-board.js';
import type { Player } from '../adapters/player.js';
import { SimBoard } from '../adapters/sim-board.js';
import { createMpg123Player } from '../adapters/mpg123-player.js';
import { createStandInPlayer } from '../adapters/standin-player.js';
import { createPacedPcmOutput, type PcmOutput } from '../adapters/pcm-output.js';
import { createAlsaPcmOutput } from '../adapters/alsa-output.js';

export function createPcmOutput(c: Config, clock: Clock, log: Logger): PcmOutput {
  const a = c.audio;
  if (a.output === 'alsa' && a.player !== 'stand-in')
    return createAlsaPcmOutput({ clock, device: a.device, aplay: a.aplayPath, procAsound: a.procAsound, log });
  return createPacedPcmOutput({
    clock,
    ppm: a.pacedPpm,
    ...(a.recordDir !== undefined ? { recordDir: a.recordDir } : {}),
    log,
  });
}

export async function createBoard(c: Config, log: Logger, clock: Clock): Promise<Board> {
  if (c.hardware.board === 'gpio' && c.hardware.gpio) {
    const { pins, backend } = c.hardware.gpio;
    const { GpioBoard } = await import('../adapters/gpio-board.js');
    return new GpioBoard({ ...pins, backend, log, clock });
  }
  if (c.hardware.board === 'mcu') {
    const { path, baudRate, watchdogS } = c.hardware.mcu;
    const { McuBoard } = await import('../adapters/mcu-board.js');
    let open: McuBoardOptions['open'];
    if (path === 'sim') open = (await import('../../firmware-bridge/sim-port.js')).simulatedBoard().open;
    else {
      const { openSerial } = await import('../../firmware-bridge/serial.js');
      open = () => openSerial(path, baudRate);
    }
    if (path === 'sim')
      log.warn({ code: 'SIM_BOARD' }, 'hardware.mcu.path is "sim": the IO board is simulated in-process');
    // The caller's logger already carries `mod` (pino appends child bindings, so a
    // second `mod` would be a duplicate key in every JSON line).
    return new McuBoard({ open, watchdogS, log, clock });
  }
  const sim = new SimBoard({ clock });
  // The simulated relays are only visible through the log: say each transition.
  sim.onTransition((t) =>
    log.info(
      { [t.what]: t.value },
      t.what === 'amp' ? `amplifier ${t.value ? 'ON' : 'off'}` : `input -> ${String(t.value)}`,
    ),
  );
  return sim;
}

export function mpg123Available(bin: string): boolean {
  const r = spawnSync(bin, ['--version'], { stdio: 'ignore', timeout: 5000 });
  return r.error === undefined && r.status === 0;
}

/** `durationFor(paths)`: what the stand-in needs to time a file; null = until stopped. */
export function createPlayer(c: Config, log: Logger, durationFor: (paths: readonly string[]) => number | null): Player {
  const a = c.audio;
  const standIn = () =>
    createStandInPlayer({ durationFor: (src) => (src.kind === 'file' ? durationFor(src.paths) : null), log });
  if (a.player === 'stand-in') {
    log.warn(
      { code: 'NO_AUDIO' },
      'audio.player is "stand-in": schedules run and are recorded, but the speaker stays SILENT',
    );
    return standIn();
  }
  const found = mpg123Available(a.mpg123Path);
  if (!found && a.player === 'auto') {
    log.warn(
      { code: 'NO_AUDIO', bin: a.mpg123Path },
      'mpg123 not found: using the silent stand-in player (install mpg123 for sound)',
    );
    return standIn();
  }
  if (!found) {
    // Keep running: FM and line relays need no player, and each file or stream item will
    // report play.failed with the reason, so the centre sees it too.
    log.error(
      { code: 'PLAYER_MISSING', bin: a.mpg123Path },
      'mpg123 not found: file and stream items will fail (apt-get install mpg123)',
    );
  }
  log.info({ bin: a.mpg123Path, output: a.output, device: a.device }, 'audio player: mpg123');
  return createMpg123Player({
    bin: a.mpg123Path,
    output:
      a.output === 'paced'
        ? { kind: 'paced', ...(a.recordDir !== undefined ? { recordDir: a.recordDir } : {}) }
        : { kind: 'alsa', device: a.device },
    startTimeoutMs: a.startTimeoutS * 1000,
    stallTimeoutMs: a.stallTimeoutS * 1000,
    log,
  });
}
