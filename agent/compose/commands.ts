// The command service (contract §4) wired to what each command acts on: playback, the
// board, the cache and scheduler, the updater (`update`), volume (`volume`,
// `volume-profile`), repeat series (`cancel`) and the clock (`clock`). services.ts builds
// the services; this file only connects them, so the graph stays readable.
import type { Board } from '../adapters/board.js';
import type { Clock } from '../adapters/clock.js';
import type { SystemStats } from '../adapters/system-stats.js';
import type { Config } from '../config.js';
import type { FaultTracker } from '../domain/fault-tracker.js';
import type { DocRef } from '../../contract/telemetry.js';
import { bindingsFor } from '../../contract/topics.js';
import type { Logger } from '../log.js';
import { createExecutor, selftest, type ActionDeps } from '../runtime/command-actions.js';
import { CommandService } from '../runtime/commands.js';
import type { HeartbeatService } from '../runtime/heartbeat.js';
import type { MediaCache } from '../runtime/media-cache.js';
import type { PlaybackCoordinator } from '../runtime/playback.js';
import type { Presence } from '../runtime/presence.js';
import type { Repeats } from '../runtime/repeats.js';
import type { LiveSessions } from '../runtime/live-session.js';
import type { Scheduler } from '../runtime/scheduler.js';
import type { Updater } from '../runtime/updater.js';
import type { VolumeControl } from '../runtime/volume.js';
import type { SharedSigned } from './signed.js';
import type { Stores } from './stores.js';

export interface CommandWiring {
  config: Config;
  log: Logger;
  clock: Clock;
  board: Board;
  stores: Stores;
  stats: SystemStats;
  resultTopic: string;
  signed: SharedSigned;
  presence: Presence;
  heartbeat: HeartbeatService;
  services: {
    coordinator: PlaybackCoordinator;
    faults: FaultTracker;
    cache: MediaCache;
    scheduler: Scheduler;
    updater: Updater;
    volume: VolumeControl;
    repeats: Repeats;
    live: LiveSessions;
  };
  docRefs: () => DocRef[];
  onLifecycle: ((action: 'restart' | 'reboot') => void) | undefined;
  underSystemd: boolean;
  /** The `clock` command (runtime/clock-watch.ts resetBound). */
  resetClockBound: () => { before: string | null; after: string | null };
}

/** The command service, and the self-test it runs (also the technician's page's). */
export function createCommandService(w: CommandWiring): {
  service: CommandService;
  selftest: () => ReturnType<typeof selftest>;
} {
  const { config: c, log, clock, presence, heartbeat, services: s } = w;
  const actions: ActionDeps = {
    clock,
    log: log.child({ mod: 'cmd' }),
    coordinator: s.coordinator,
    board: w.board,
    faults: s.faults,
    stats: w.stats,
    cacheDir: c.cacheDir,
    mpg123Path: c.audio.player === 'stand-in' ? null : c.audio.mpg123Path,
    snapshot: async () => ({ birth: presence.birth(), heartbeat: await heartbeat.snapshot() }),
    setVolume: (level) => s.volume.setMaster(level),
    setVolumeProfile: (profile, issuedAt) => {
      const r = s.volume.setProfile(profile, issuedAt);
      if ('olderThan' in r)
        return {
          ok: false,
          code: 'replay',
          message: `issued before the volume profile in force (issued ${r.olderThan}): an older profile never replaces a newer one`,
        };
      return {
        ok: true,
        result: {
          source: r.source,
          windows: r.profile.windows.length,
          timezone: r.profile.timezone,
          now: s.volume.decide(50),
        },
      };
    },
    sync: () => {
      s.cache.sync();
      s.scheduler.replan();
      return { cache: s.cache.figures(), schedule: w.docRefs() };
    },
    fetchMedia: (media, until) => s.cache.fetchNow(media, until),
    update: (doc) => s.updater.accept(doc),
    repeats: s.repeats,
    resetClockBound: w.resetClockBound,
    live: {
      sessions: s.live,
      keyRoles: (kid) => w.signed.keys.roles(kid),
      synced: () => w.signed.clockSynced() === undefined,
    },
    underSystemd: w.underSystemd,
  };
  const executor = createExecutor(actions);
  const service = new CommandService({
    ...w.signed,
    store: w.stores.commands,
    log: log.child({ mod: 'cmd' }),
    bindings: bindingsFor(c.topicRoot, c.deviceId, c.groups, 'cmd'),
    maxLifetimeMs: c.commands.maxLifetimeH * 3_600_000,
    resultTopic: w.resultTopic,
    execute: executor,
    lifecycle: (action) => w.onLifecycle?.(action),
  });
  return { service, selftest: () => selftest(actions) };
}
