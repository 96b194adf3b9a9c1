// The updater (runtime/updater.ts) wired to the agent's parts: the launcher's release
// files (a port: ports.ts), events written once per key (the outbox row and a meta row in
// one transaction, so a kill -9 between them cannot report a commit twice or not at all),
// the media cache for the download, and what makes a quiet window.
import type { Clock } from '../adapters/clock.js';
import type { Link } from '../adapters/mqtt-link.js';
import { getMeta, setMeta } from '../adapters/sqlite-db.js';
import type { ReleaseFiles } from '../adapters/release-files.js';
import { applyDelta } from '../../contract/release-delta.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { AGENT_VERSION } from '../../contract/version.js';
import type { MediaCache } from '../runtime/media-cache.js';
import type { PlaybackCoordinator } from '../runtime/playback.js';
import type { Scheduler } from '../runtime/scheduler.js';
import { Updater, debianArch } from '../runtime/updater.js';
import type { Stores } from './stores.js';
import { run } from '../adapters/release-files.js';
import { checkTarMembers } from '../adapters/tar-members.js';

/** An update never restarts the agent this close before an occurrence starts (beyond the warm-up). */
export const QUIET_MARGIN_MS = 60_000;

export interface UpdateWiring {
  config: Config;
  configPath: string | null;
  log: Logger;
  clock: Clock;
  stores: Stores;
  cache: MediaCache;
  coordinator: PlaybackCoordinator;
  scheduler: Scheduler;
  link: Link;
  files: ReleaseFiles | null;
  restart: (() => void) | null;
  onChange(): void;
}

export function createUpdater(w: UpdateWiring): Updater {
  const { db, outbox } = w.stores;
  const emitOnce = db.transaction((key: string, type: string, fields: object) => {
    const k = `ota_event:${key}`;
    if (getMeta(db, k) !== undefined) return;
    outbox.emit(type as never, fields as never);
    setMeta(db, k, new Date(w.clock.now()).toISOString());
  });
  return new Updater({
    files: w.files,
    tools: { run, checkTarMembers },
    clock: w.clock,
    log: w.log.child({ mod: 'ota' }),
    emitOnce: (key, type, fields) => {
      try {
        emitOnce(key, type, fields);
      } catch (err) {
        // A refusing disk: the event still goes (held in memory by the outbox), maybe twice later.
        w.log.warn({ code: 'STORE_WRITE', err: (err as Error).message, key }, 'update event not recorded as sent once');
        outbox.emit(type, fields);
      }
    },
    fetch: (media, until) => w.cache.fetchNow(media, until),
    busy: () => {
      const playing = w.coordinator.playing();
      if (playing) return `${playing.itemId} plays`;
      const next = w.scheduler.next();
      const lead = w.config.hardware.ampWarmUpMs + QUIET_MARGIN_MS;
      if (next && next.start - w.clock.now() < lead)
        return `${next.itemId} starts at ${new Date(next.start).toISOString()}`;
      return null;
    },
    version: AGENT_VERSION,
    arch: debianArch(),
    node: process.execPath,
    configPath: w.configPath,
    cacheDir: w.config.cacheDir,
    cacheQuotaBytes: w.config.cache.quotaMB * 1024 * 1024,
    restart: w.restart,
    applyDelta: (o) => applyDelta(o),
    onChange: w.onChange,
    commitAfterMs: w.config.update.commitAfterS * 1000,
    probation: { seconds: w.config.update.probationS, exits: w.config.update.probationExits },
    linkUp: () => w.link.connected,
    schedulerTicked: () => w.scheduler.lastWakeMono !== undefined,
  });
}
