// Stage two of the composition graph: every service, built in dependency order from the
// ports (ports.ts), and the steps that start them, in start order; the agent (agent.ts)
// stops them in reverse. Nothing here starts anything: building has no effect but the log
// lines of a constructor.
//
// The real cycles between services are explicit: a `late` holder (kit.ts) stands for the
// side built second, and reading it before it is set throws.
// - heartbeat: every service kicks it when something it reports changes; it reports on
//   every service. Built last; the others kick it through the holder.
// - scheduler: the clock watch (the clock changed) and the repeats (replan) drive it; it
//   asks them (may the clock be trusted? which repeats are due?). schedules.ts sets it.
// - updater: presence reports its state and tells it of each birth (a trial commits once
//   the link has held); it has presence publish a new birth when its state changes.
// - playback: volume and faults (inside audio.ts).
import type { Board } from '../adapters/board.js';
import type { Link } from '../adapters/mqtt-link.js';
import type { Outbox } from '../adapters/outbox-store.js';
import type { DocRef } from '../../contract/telemetry.js';
import type { FaultTracker } from '../domain/fault-tracker.js';
import type { CommandService } from '../runtime/commands.js';
import type { HeartbeatService } from '../runtime/heartbeat.js';
import { OutboxSender } from '../runtime/outbox-sender.js';
import type { PlaybackCoordinator } from '../runtime/playback.js';
import { Rejections } from '../runtime/rejections.js';
import type { ScheduleIntake } from '../runtime/schedule-intake.js';
import { closeInterruptedByRestart, type Scheduler } from '../runtime/scheduler.js';
import type { Updater } from '../runtime/updater.js';
import { AGENT_VERSION } from '../../contract/version.js';
import { buildAudio, hardwareStep } from './audio.js';
import { createCommandService } from './commands.js';
import type { AgentDeps, Identity } from './deps.js';
import { late, none, type Step } from './kit.js';
import type { Ports } from './ports.js';
import { buildCache, buildScheduling } from './schedules.js';
import { buildClockWatch, sharedSigned } from './signed.js';
import { boxPart, buildHeartbeat, buildPresence, inForceRefs } from './telemetry.js';
import { createUpdater } from './updates.js';
import { pageStep } from './page.js';

/** The built agent: its steps in start order, and the services its callers reach (agent.ts). */
export interface Graph {
  steps: readonly Step[];
  board: Board;
  link: Link;
  outbox: Outbox;
  heartbeat: HeartbeatService;
  scheduler: Scheduler;
  playback: PlaybackCoordinator;
  faults: FaultTracker;
  commands: CommandService;
  intake: ScheduleIntake;
  /** The schedule documents in force, as birth and heartbeat report them. */
  docRefs(): DocRef[];
}

export function buildServices(p: Ports, d: AgentDeps, id: Identity): Graph {
  const { config: c, log } = d;
  const { clock, stores, board, link } = p;
  const heartbeat = late<HeartbeatService>('the heartbeat is not built yet');
  const schedulerLate = late<Scheduler>('the scheduler is not built yet');
  const updaterLate = late<Updater>('the updater is not built yet');
  const kick = () => heartbeat.get().kick();
  const docRefs = () => inForceRefs(stores.schedules, clock);
  const onLifecycle = d.onLifecycle;

  const presence = buildPresence({
    config: c,
    log,
    id,
    ports: p,
    docRefs,
    updateState: () => updaterLate.get().state(),
    onBirth: () => {
      d.onBirth?.();
      updaterLate.get().noteBirth();
    },
  });
  const sender = new OutboxSender({
    outbox: stores.outbox,
    link,
    topic: id.topics.events,
    window: c.outbox.window,
    log,
  });
  const clockWatch = buildClockWatch(p, log, () => {
    schedulerLate.get().clockChanged();
    kick();
  });
  const rejections = new Rejections({ clock, events: stores.outbox, log: log.child({ mod: 'intake' }) });
  const signed = sharedSigned(p, c, clockWatch, rejections);
  const cache = buildCache(c, log, p, kick);
  const audio = buildAudio({
    config: c,
    log,
    ports: p,
    cache,
    kick,
    synced: () => clockWatch.syncedForIntake() === undefined,
  });
  const { volume, faults, coordinator } = audio;
  const { scheduler, repeats, intake } = buildScheduling({
    config: c,
    log,
    ports: p,
    cache,
    coordinator,
    clockWatch,
    signed,
    presence,
    scheduler: schedulerLate,
    kick,
  });
  const updater = createUpdater({
    config: c,
    configPath: d.configPath ?? null,
    log,
    clock,
    stores,
    cache,
    coordinator,
    scheduler,
    link,
    files: p.releaseFiles,
    restart: onLifecycle ? () => onLifecycle('restart') : null,
    onChange: () => {
      presence.publishBirth();
      kick();
    },
  });
  updaterLate.set(updater);
  const hb = buildHeartbeat({
    config: c,
    log,
    id,
    ports: p,
    parts: [boxPart({ board, coordinator, faults, volume, cache, scheduler, updater, docRefs })],
    clockReport: () => clockWatch.report(),
  });
  heartbeat.set(hb);
  const { service: commands, selftest } = createCommandService({
    config: c,
    log,
    clock,
    board,
    stores,
    stats: p.stats,
    resultTopic: id.topics.cmdResult,
    signed,
    presence,
    heartbeat: hb,
    services: { coordinator, faults, cache, scheduler, updater, volume, repeats, live: audio.live },
    docRefs,
    onLifecycle,
    underSystemd: onLifecycle !== undefined && (d.underSystemd ?? process.env.INVOCATION_ID !== undefined),
    resetClockBound: () => clockWatch.resetBound(),
  });

  // Start in this order; stop in reverse. A service starts after what it writes to and what
  // it asks (the updater after the cache, playback and scheduler of its quiet window), and
  // stops before them. The link takes two steps: its session ends (with the death message)
  // after every service that writes to it has stopped, and it connects only once every
  // service that reads from it listens. The board's conditions are heard last and first
  // let go (a condition at stop would write to a closed database).
  const steps: Step[] = [
    { name: 'board', start: none, stop: () => board.close() }, // in its safe state since ports.ts built it
    { name: 'database', start: none, stop: () => void stores.db.close() },
    { name: 'link', start: none, stop: () => link.stop(presence.shutdownMessage()) },
    { name: 'presence', start: () => presence.start(), stop: () => presence.stop() },
    { name: 'heartbeat', start: () => hb.start(), stop: () => hb.stop() },
    { name: 'outbox', start: none, stop: () => stores.outbox.close() },
    { name: 'outbox sender', start: () => sender.start(), stop: () => sender.stop() },
    { name: 'clock watch', start: () => clockWatch.start(), stop: () => clockWatch.stop() },
    {
      name: 'media cache',
      start: () => {
        void cache.start();
        // The media of repeat series kept from before a restart stay wanted (never evicted, fetched if gone) until the series' command expires.
        for (const sr of stores.replay.allSeries())
          if (sr.media.length > 0) void cache.fetchNow(sr.media, Date.parse(sr.expiresAt)).catch(() => undefined);
      },
      stop: () => cache.stop(),
    },
    {
      // The plays the last run left open are closed (interrupted by the restart); this run's, at stop.
      name: 'playback',
      start: () => {
        const { ledger, outbox, meta } = stores;
        closeInterruptedByRestart({ ledger, events: outbox, log }, meta.checkpoint.get(), clock.now());
      },
      stop: () => coordinator.stopAll('agent-restart'),
    },
    { name: 'schedule intake', start: () => intake.start(), stop: () => intake.stop() },
    { name: 'commands', start: () => commands.start(), stop: () => commands.stop() },
    { name: 'scheduler', start: () => scheduler.start(), stop: () => scheduler.stop() },
    { name: 'rejections', start: none, stop: () => rejections.stop() }, // counted rejections are reported at stop
    { name: 'volume', start: () => volume.start(), stop: () => volume.stop() },
    { name: 'updater', start: () => updater.start(), stop: () => updater.stop() },
    hardwareStep(board, audio, kick),
    pageStep({ config: c, log, ports: p, presence, heartbeat: hb, faults, coordinator, sound: audio.sound, selftest }),
    {
      name: 'connect',
      start: () => {
        log.info(
          {
            deviceId: c.deviceId,
            bootId: id.bootId,
            epoch: stores.outbox.epoch,
            version: AGENT_VERSION,
            pending: stores.outbox.size,
          },
          'agent starting',
        );
        link.start();
      },
      stop: none,
    },
  ];
  return {
    steps,
    board,
    link,
    outbox: stores.outbox,
    heartbeat: hb,
    scheduler,
    playback: coordinator,
    faults,
    commands,
    intake,
    docRefs,
  };
}
