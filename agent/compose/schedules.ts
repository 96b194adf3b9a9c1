// Schedules, for the graph (services.ts): the media cache; then intake (verify, persist)
// -> scheduler (occurrences on time) -> playback, with the repeat series of `play`
// commands beside the scheduler. The repeats and the clock watch drive the scheduler
// (replan; the clock changed) and the scheduler asks them (series, cancels; may the clock
// be trusted?): the graph's `late` holder for the scheduler is set here, once it exists.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { mediaNeeds } from '../domain/cache-plan.js';
import { bindingsFor } from '../../contract/topics.js';
import type { ClockWatch } from '../runtime/clock-watch.js';
import { MediaCache } from '../runtime/media-cache.js';
import type { PlaybackCoordinator } from '../runtime/playback.js';
import type { Presence } from '../runtime/presence.js';
import { Repeats } from '../runtime/repeats.js';
import { ScheduleIntake } from '../runtime/schedule-intake.js';
import { Scheduler, type Playback } from '../runtime/scheduler.js';
import type { Late } from './kit.js';
import type { Ports } from './ports.js';
import type { SharedSigned } from './signed.js';
import { mediaCacheDir } from '../adapters/media-cache-dir.js';
import { threadCpuClock } from '../adapters/thread-cpu.js';

export function buildCache(c: Config, log: Logger, p: Ports, kick: () => void): MediaCache {
  return new MediaCache({
    files: mediaCacheDir,
    store: p.stores.media,
    cacheDir: c.cacheDir,
    quotaBytes: c.cache.quotaMB * 1024 * 1024,
    concurrency: c.cache.concurrency,
    events: p.stores.outbox,
    clock: p.clock,
    log: log.child({ mod: 'cache' }),
    fetcher: p.fetcher,
    onChange: kick,
  });
}

export function buildScheduling(w: {
  config: Config;
  log: Logger;
  ports: Ports;
  cache: MediaCache;
  coordinator: PlaybackCoordinator;
  clockWatch: ClockWatch;
  signed: SharedSigned;
  presence: Presence;
  scheduler: Late<Scheduler>;
  kick: () => void;
}): { scheduler: Scheduler; repeats: Repeats; intake: ScheduleIntake } {
  const { config: c, log, ports: p, cache, coordinator, clockWatch, kick } = w;
  const { clock } = p;
  const { outbox, ledger, schedules } = p.stores;
  const playback: Playback = {
    prepare: (occ) => coordinator.prepare(occ),
    fire: (occ, lateMs) => {
      for (const m of occ.media) cache.markUsed(m.sha256); // LRU: what plays is what is used
      coordinator.fire(occ, lateMs);
    },
  };
  const repeats = new Repeats({
    clock,
    log: log.child({ mod: 'repeat' }),
    replay: p.stores.replay,
    stopMatching: (match) => coordinator.cancel(match),
    upcoming: () => w.scheduler.get().upcoming(),
    replan: () => w.scheduler.get().replan(),
    docExpiry: (docId) => {
      const e = schedules.inForce().find((f) => f.doc.id === docId)?.doc.expiresAt;
      return e === undefined ? undefined : Date.parse(e);
    },
  });
  const scheduler = new Scheduler({
    clock,
    log: log.child({ mod: 'scheduler' }),
    docs: () => schedules.inForce(),
    ledger,
    events: outbox,
    playback,
    // A file item plays only verified bytes; other sources (and their fallbacks) need no cache.
    mediaReady: (occ) => occ.source.kind !== 'file' || occ.media.every((m) => cache.pathFor(m.sha256) !== null),
    onReplan: (docs) =>
      cache.setNeeds(...mediaNeeds(docs, clock.now() - c.schedule.graceS * 1000, c.cache.horizonH * 3_600_000)),
    checkpoint: playingCheckpoint(p, coordinator),
    clockHold: () => clockWatch.verdict(),
    onJump: () => void clockWatch.refresh(),
    warmUpMs: c.hardware.ampWarmUpMs,
    graceMs: c.schedule.graceS * 1000,
    horizonMs: c.schedule.horizonH * 3_600_000,
    onChange: kick,
    series: (win) => repeats.series(win),
    cancelled: (occ) => repeats.cancelled(occ),
    cpuMs: threadCpuClock(),
  });
  w.scheduler.set(scheduler);
  const intake = new ScheduleIntake({
    ...w.signed,
    store: schedules,
    log: log.child({ mod: 'intake' }),
    bindings: bindingsFor(c.topicRoot, c.deviceId, c.groups, 'schedule'),
    maxLifetimeMs: c.schedule.maxLifetimeDays * 86_400_000,
    onAccepted: () => {
      scheduler.replan();
      w.presence.publishBirth();
      kick();
    },
  });
  return { scheduler, repeats, intake };
}

/**
 * Idle, the scheduler's checkpoint stays in memory (adapters/meta-store.ts); while something
 * plays it is written at each wake, so a kill mid-play still bounds playedMs within ~30 s.
 */
function playingCheckpoint(p: Ports, coordinator: PlaybackCoordinator) {
  const meta = p.stores.meta.checkpoint;
  return {
    ...meta,
    set: (ms: number, durable?: boolean) => meta.set(ms, durable === true || coordinator.playing() !== null),
  };
}
