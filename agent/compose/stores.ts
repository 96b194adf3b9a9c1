// The stores (stage one of the composition graph, ports.ts): the state directory opened
// (openStores: the replay state, the SQLite database, which survives a corrupt or full
// disk, and every store over it), then restored (restoreStores: the replay state of
// replay.json and the database merged, the documents the database lost put back, and
// `store.reset` saying what was kept and lost).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Clock } from '../adapters/clock.js';
import { openStore, type Db, type StoreReset } from '../adapters/sqlite-db.js';
import { ReplayState, type LoadResult } from '../adapters/replay-state.js';
import { Outbox } from '../adapters/outbox-store.js';
import { ScheduleStore } from '../adapters/schedule-store.js';
import { CommandStore } from '../adapters/command-store.js';
import { LedgerStore } from '../adapters/ledger-store.js';
import { MetaStore } from '../adapters/meta-store.js';
import { MediaStore } from '../adapters/media-store.js';
import type { KeyRing } from '../../contract/verify.js';
import { restoreReplayState } from '../runtime/replay-restore.js';

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

/**
 * Merge the replay state of replay.json and the database, restore documents the
 * database lost, and say in `store.reset` what was kept and lost (contract v1.1 §7).
 */
export function restoreStores(stores: Stores, keys: KeyRing, log: Logger): void {
  const { replay, replayFile, reset, outbox } = stores;
  const { restored } = restoreReplayState({
    replay,
    replayFile,
    schedules: stores.schedules,
    commands: stores.commands,
    keys,
    log: log.child({ mod: 'store' }),
  });
  if (!reset) return;
  const kept =
    replayFile === 'loaded'
      ? `replay state from replay.json kept; ${restored.length} document(s) in force restored (${restored.join(', ') || 'none'})`
      : `replay.json ${replayFile}: replay state and documents in force could not be restored; the broker's retained documents will be accepted again`;
  const lost =
    reset.reason === 'full'
      ? 'the database on disk is untouched; events of this run are held in memory'
      : 'undelivered events and the play ledger of the old database are lost';
  outbox.emit('store.reset', { ...reset, message: `${reset.message}; ${kept}; ${lost}` });
}
