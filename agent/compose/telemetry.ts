// What the box says of itself (contract §5-§7), for the graph (services.ts): the birth and
// death (presence), the heartbeat and the box's part of it (what plays, the amplifier,
// faults, FM, the MCU link, volume, cache, schedules, next, version, update), and the
// documents in force as both report them. The outbox sender needs no wiring of its own.
import type { Board } from '../adapters/board.js';
import type { ScheduleStore } from '../adapters/schedule-store.js';
import type { Clock } from '../adapters/clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { DocRef, UpdateState } from '../../contract/telemetry.js';
import { AGENT_VERSION } from '../../contract/version.js';
import type { ClockReport } from '../domain/clock-trust.js';
import type { FaultTracker } from '../domain/fault-tracker.js';
import { HeartbeatService, type HeartbeatPart } from '../runtime/heartbeat.js';
import type { MediaCache } from '../runtime/media-cache.js';
import type { PlaybackCoordinator } from '../runtime/playback.js';
import { Presence } from '../runtime/presence.js';
import type { Scheduler } from '../runtime/scheduler.js';
import { debianArch, type Updater } from '../runtime/updater.js';
import type { VolumeControl } from '../runtime/volume.js';
import type { Ports } from './ports.js';
import { effectiveSite } from './page.js';
import type { Identity } from './deps.js';

/** The schedule documents in force (not expired by the clock), as birth and heartbeat report them. */
export function inForceRefs(schedules: ScheduleStore, clock: Clock): DocRef[] {
  const now = clock.now();
  return schedules
    .inForce()
    .filter(({ doc }) => !doc.expiresAt || Date.parse(doc.expiresAt) > now)
    .map(({ doc }) => ({ id: doc.id, version: doc.version }));
}

export function buildPresence(w: {
  config: Config;
  log: Logger;
  id: Identity;
  ports: Ports;
  docRefs: () => readonly DocRef[];
  updateState: () => UpdateState;
  onBirth: () => void;
}): Presence {
  const { config: c, ports: p } = w;
  return new Presence({
    link: p.link,
    clock: p.clock,
    log: w.log,
    topic: w.id.topics.status,
    bootId: w.id.bootId,
    epoch: p.stores.outbox.epoch,
    agentVersion: AGENT_VERSION,
    deviceId: c.deviceId,
    groups: c.groups,
    site: effectiveSite(c, p, w.log),
    heartbeatS: c.heartbeatS,
    schedule: w.docRefs,
    arch: debianArch(),
    updateState: w.updateState,
    onBirth: w.onBirth,
  });
}

export function buildHeartbeat(w: {
  config: Config;
  log: Logger;
  id: Identity;
  ports: Ports;
  parts: readonly HeartbeatPart[];
  clockReport: () => ClockReport;
}): HeartbeatService {
  const { ports: p } = w;
  return new HeartbeatService({
    link: p.link,
    clock: p.clock,
    stats: p.stats,
    log: w.log,
    topic: w.id.topics.heartbeat,
    bootId: w.id.bootId,
    periodS: w.config.heartbeatS,
    startedMono: p.startedMono,
    outboxSize: () => p.stores.outbox.size,
    parts: w.parts,
    clockReport: w.clockReport,
  });
}

/** The heartbeat's fields of the box's own services. */
export function boxPart(s: {
  board: Board;
  coordinator: PlaybackCoordinator;
  faults: FaultTracker;
  volume: VolumeControl;
  cache: MediaCache;
  scheduler: Scheduler;
  updater: Updater;
  docRefs: () => DocRef[];
}): HeartbeatPart {
  const { board, coordinator, faults, volume } = s;
  return () => {
    const next = s.scheduler.next();
    return {
      playing: coordinator.playing(),
      amp: { on: board.state().amp, fault: board.state().ampFault || faults.isActive('amp') },
      faults: faults.activeCount(),
      ...(board.tuner ? { fm: board.tuner.state() } : {}),
      ...(board.link ? { mcu: board.link() } : {}),
      volume: volume.masterLevel(),
      // The level in force for what plays (its class), or for normal content when idle, and why.
      volumeWhy: volume.decide(coordinator.playing()?.priority ?? 50),
      cache: s.cache.figures(),
      schedule: s.docRefs(),
      next: next ? { itemId: next.itemId, at: new Date(next.start).toISOString() } : null,
      version: AGENT_VERSION,
      update: s.updater.state(),
    };
  };
}
