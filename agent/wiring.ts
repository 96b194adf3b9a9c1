// The composition root's adapters: every port of the agent is built here, from the
// configuration, and nowhere else. runtime/agent.ts wires services to these ports;
// tests pass their own (a fake link, a sim board, a stand-in player) through AgentDeps.
//
// - the board the configuration names (sim, gpio, mcu), put in its safe state first; the
//   gpio and mcu boards (and serialport, the firmware bridge) are imported only for the
//   board configured, so a box never holds the code of the boards it does not have;
// - the stores: the SQLite database (opened by openStore, which survives a corrupt or
//   full disk), the replay state beside it, and every store over the database;
// - the MQTT link, the media fetcher, the system stats, and the player (the stand-in
//   only where asked for, or with "auto" where mpg123 is missing, said plainly).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Clock } from './adapters/clock.js';
import type { Board } from './adapters/board.js';
import type { McuBoardOptions } from './adapters/mcu-board.js';
import type { Player } from './adapters/player.js';
import { SimBoard } from './adapters/sim-board.js';
import { createMpg123Player } from './adapters/mpg123-player.js';
import { createStandInPlayer } from './adapters/standin-player.js';
import { openStore, type Db, type StoreReset } from './adapters/sqlite-db.js';
import { ReplayState, type LoadResult } from './adapters/replay-state.js';
import { Outbox } from './adapters/outbox-store.js';
import { ScheduleStore } from './adapters/schedule-store.js';
import { CommandStore } from './adapters/command-store.js';
import { LedgerStore } from './adapters/ledger-store.js';
import { MetaStore } from './adapters/meta-store.js';
import { MediaStore } from './adapters/media-store.js';
import { MqttLink, type Link } from './adapters/mqtt-link.js';

/** Everything the agent keeps on disk, opened together. */
export interface Stores {
  db: Db;
  /** Set when the database had to be rebuilt or replaced (contract v1.1 `store.reset`). */
  reset: StoreReset | undefined;
  replay: ReplayState;
  replayFile: LoadResult;
  outbox: Outbox;
  schedules: ScheduleStore;
  commands: CommandStore;
  ledger: LedgerStore;
  meta: MetaStore;
  media: MediaStore;
}

/**
 * Open the state directory: the replay state first (it says whether this box had a
 * database before), then the database, then the stores over it. Never throws for a
 * corrupt or full disk (see openStore); only a database newer than this agent stops it.
 */
export function openStores(c: Config, log: Logger, clock: Clock, scheduleTopics: readonly string[]): Stores {
  const storeLog = log.child({ mod: 'store' });
  const replay = new ReplayState(join(c.stateDir, 'replay.json'), storeLog);
  const replayFile = replay.load();
  const opened = openStore(join(c.stateDir, 'loa.db'), {
    synchronous: c.outbox.synchronous,
    hadState: existsSync(replay.path),
    now: () => clock.now(),
  });
  const reset = opened.reset;
  if (reset) log.error({ code: 'STORE_RESET', ...reset }, `database rebuilt: ${reset.reason}`);
  const db = opened.db;
  const outbox = new Outbox(db, {
    maxEvents: c.outbox.maxEvents,
    clock,
    onDisk: (state, detail) =>
      state === 'refused'
        ? log.error({ code: 'STORE_WRITE', detail }, 'the disk refuses writes: events held in memory, playback goes on')
        : log.warn({ detail }, 'the disk takes writes again'),
    onDrop: (info) => log.error({ code: 'OUTBOX_FULL', ...info }, 'outbox full: oldest events dropped'),
  });
  return {
    db,
    reset,
    replay,
    replayFile,
    outbox,
    schedules: new ScheduleStore(db, storeLog, scheduleTopics),
    commands: new CommandStore(db),
    ledger: new LedgerStore(db),
    meta: new MetaStore(db),
    media: new MediaStore(db, storeLog),
  };
}

/** The MQTT link of the configuration, with the box's last will. */
export function createLink(c: Config, log: Logger, clock: Clock, will: { topic: string; payload: string }): Link {
  const { mqtt: m } = c;
  return new MqttLink({
    url: m.url,
    clientId: m.clientId ?? c.deviceId,
    ...(m.username !== undefined ? { username: m.username } : {}),
    ...(m.passwordValue !== undefined ? { password: m.passwordValue } : {}),
    ...(m.ca !== undefined ? { ca: m.ca } : {}),
    ...(m.cert !== undefined ? { cert: m.cert } : {}),
    ...(m.key !== undefined ? { key: m.key } : {}),
    insecureSkipVerify: m.insecureSkipVerify,
    version: m.version,
    keepaliveS: m.keepaliveS,
    sessionExpiryS: m.sessionExpiryS,
    connectTimeoutS: m.connectTimeoutS,
    backoff: { minMs: m.reconnect.minS * 1000, maxMs: m.reconnect.maxS * 1000 },
    will,
    log: log.child({ mod: 'mqtt' }),
    clock,
    // The largest accepted document, plus room for the topic and the packet's headers.
    maxPacketBytes: c.schedule.maxBytes + 4096,
  });
}

export async function createBoard(c: Config, log: Logger, clock: Clock): Promise<Board> {
  if (c.hardware.board === 'gpio' && c.hardware.gpio) {
    const { pins, backend } = c.hardware.gpio;
    const { GpioBoard } = await import('./adapters/gpio-board.js');
    return new GpioBoard({ ...pins, backend, log, clock });
  }
  if (c.hardware.board === 'mcu') {
    const { path, baudRate, watchdogS } = c.hardware.mcu;
    const { McuBoard } = await import('./adapters/mcu-board.js');
    let open: McuBoardOptions['open'];
    if (path === 'sim') open = (await import('../firmware-bridge/sim-port.js')).simulatedBoard().open;
    else {
      const { openSerial } = await import('../firmware-bridge/serial.js');
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
    output: a.output === 'paced' ? { kind: 'paced' } : { kind: 'alsa', device: a.device },
    startTimeoutMs: a.startTimeoutS * 1000,
    stallTimeoutMs: a.stallTimeoutS * 1000,
    log,
  });
}
