// What sounds, for the graph (services.ts): the volume control, the playback coordinator
// on the board and the player, and the board's faults (debounced hw.fault / hw.recovered).
// Volume and faults tell the playback (a level changed; is something playing that a fault
// affects?) and the playback asks them (the level for an occurrence; a board operation
// failed): that cycle stays in this file, through a `late` holder for the playback.
import type { Board } from '../adapters/board.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { FaultTracker } from '../domain/fault-tracker.js';
import { redactingSink } from '../domain/redact.js';
import type { MediaCache } from '../runtime/media-cache.js';
import { PlaybackCoordinator } from '../runtime/playback.js';
import { VolumeControl } from '../runtime/volume.js';
import { LiveSessions } from '../runtime/live-session.js';
import { SoundWatch } from '../runtime/sound-watch.js';
import { OpusDecoder } from '../../cli-kit/opus.js';
import { late, none, type Step } from './kit.js';
import type { Ports } from './ports.js';

export interface Audio {
  volume: VolumeControl;
  sound: SoundWatch;
  faults: FaultTracker;
  coordinator: PlaybackCoordinator;
  live: LiveSessions;
}

export function buildAudio(w: {
  config: Config;
  log: Logger;
  ports: Ports;
  cache: MediaCache;
  kick: () => void;
  /** Is the clock synchronised (live sessions then play at capture + latency)? */
  synced: () => boolean;
}): Audio {
  const { config: c, log, ports: p, kick } = w;
  const { clock, stores } = p;
  const playback = late<PlaybackCoordinator>('the playback coordinator is not built yet');
  const volume = new VolumeControl({
    clock,
    log: log.child({ mod: 'volume' }),
    store: stores.meta,
    maxVolume: c.audio.maxVolume,
    safeLevel: c.volume.safeLevel,
    emergencyLevel: c.volume.emergencyLevel,
    configured: { timezone: c.volume.profile.timezone, windows: c.volume.profile.windows.map((x) => ({ ...x })) },
    onChange: () => {
      playback.get().levelChanged();
      kick();
    },
  });
  // Board conditions -> debounced hw.fault / hw.recovered; a fault raised while
  // something plays names the occurrence it affected.
  const faults = new FaultTracker({
    timers: clock,
    recoverMs: c.hardware.faultRecoverS * 1000,
    report: (type, f) => {
      const during = type === 'hw.fault' ? playback.get().playingOccurrence() : null;
      stores.outbox.emit(type, during ? { ...f, ...during } : f);
      if (type === 'hw.fault') log.warn({ code: 'HW_FAULT', hw: f, during }, `hardware fault: ${f.message}`);
      else log.info({ hw: f }, `hardware recovered: ${f.message}`);
      kick();
    },
  });
  const live = new LiveSessions({
    clock,
    link: p.link,
    keys: p.keys,
    topicRoot: c.topicRoot,
    output: p.pcmOutput,
    synced: w.synced,
    events: redactingSink(stores.outbox),
    log: log.child({ mod: 'live' }),
    decoder: () => new OpusDecoder(),
  });
  // Each measured play against the installer's commissioning level (contract §9).
  const sound = new SoundWatch({
    files: p.soundFiles,
    clock,
    log: log.child({ mod: 'sound' }),
    reportHw: (cond) => faults.set(cond),
  });
  const coordinator = new PlaybackCoordinator({
    clock,
    board: p.board,
    player: p.player,
    ledger: stores.ledger,
    events: redactingSink(stores.outbox),
    log: log.child({ mod: 'playback' }),
    warmUpMs: c.hardware.ampWarmUpMs,
    holdMs: c.hardware.ampHoldMs,
    volumeFor: (occ) => volume.playerVolume(occ),
    // The test chime (the page's tone) is a built-in media, found by its hash like a cached one.
    mediaPath: (sha) => (sha === p.chime?.sha256 ? p.chime.path : w.cache.pathFor(sha)),
    onChange: kick,
    reportHw: (cond) => faults.set(cond),
    deadAirMs: c.relay.deadAirS * 1000,
    live,
    onSound: (m) => sound.played(m),
  });
  playback.set(coordinator);
  return { volume, faults, coordinator, live, sound };
}

/**
 * The board's conditions, to the fault tracker and the playback. Subscribed last at start;
 * unsubscribed first at stop (a condition then would write to a closed database).
 */
export function hardwareStep(board: Board, a: Audio, kick: () => void): Step {
  let off = none;
  return {
    name: 'hardware conditions',
    start: () => {
      off = board.onHw((cond) => {
        a.faults.set(cond);
        a.coordinator.hwChanged(cond);
        kick();
      });
    },
    stop: () => {
      off();
      a.faults.stop();
    },
  };
}
