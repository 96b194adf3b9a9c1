// The agent: its services (telemetry, playback, schedules, commands) wired to the ports
// that wiring.ts builds from the configuration. main.ts runs it under systemd; tests
// pass their own clock, link, board, player or stats through AgentDeps.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { systemClock, type Clock } from '../adapters/clock.js';
import type { Db } from '../adapters/sqlite-db.js';
import type { Outbox } from '../adapters/outbox-store.js';
import type { ScheduleStore } from '../adapters/schedule-store.js';
import type { Link } from '../adapters/mqtt-link.js';
import { createBoard, createPlayer, openStores, type Stores } from '../wiring.js';
import { mediaNeeds } from '../domain/cache-plan.js';
import { Rejections } from './rejections.js';
import { restoreReplayState } from './replay-restore.js';
import { KeyRing } from '../../contract/verify.js';
import { ScheduleIntake, type SignedTopicDeps } from './schedule-intake.js';
import { Scheduler, closeInterruptedByRestart, type Playback } from './scheduler.js';
import { PlaybackCoordinator } from './playback.js';
import type { Board } from '../adapters/board.js';
import { MediaCache } from './media-cache.js';
import { createHttpFetcher } from '../adapters/media-fetch.js';
import { createSystemStats, type SystemStats } from '../adapters/system-stats.js';
import { createClockSources, type ClockSources } from '../adapters/clock-sources.js';
import { ClockCheckpoint } from '../adapters/clock-checkpoint.js';
import { ClockWatch } from './clock-watch.js';
import { bindingsFor, topicsFor, type TopicMap } from '../../contract/topics.js';
import type { DocRef } from '../../contract/telemetry.js';
import { AGENT_VERSION } from '../../contract/version.js';
import type { OutboxSender } from './outbox-sender.js';
import type { Presence } from './presence.js';
import type { HeartbeatService, HeartbeatPart } from './heartbeat.js';
import { createTelemetry } from './telemetry-wiring.js';
import type { EventSink } from '../../contract/events.js';
import { redactingSink } from '../domain/redact.js';
import { FaultTracker } from '../domain/fault-tracker.js';
import type { CommandService } from './commands.js';
import { createCommandService } from './command-wiring.js';
import { Repeats } from './repeats.js';
import { createUpdater } from './update-wiring.js';
import type { Updater } from './updater.js';
import { VolumeControl } from './volume.js';

export interface AgentDeps {
  config: Config;
  log: Logger;
  clock?: Clock;
  stats?: SystemStats;
  /** Whether the clock is synchronised (tests); default from config.clock, or from `stats` when that is given. */
  clockSources?: ClockSources;
  /** Build the link (tests pass a fake); defaults to mqtt.js. */
  makeLink?: (will: { topic: string; payload: string }) => Link;
  onBirth?: () => void;
  /** Hardware for tests; default from config (hardware.board, audio.player). */
  board?: Board;
  player?: import('../adapters/player.js').Player;
  /**
   * A `restart` or `reboot` command was answered: the caller stops the agent and does
   * it (main.ts). Without this, both commands are refused as unsupported.
   */
  onLifecycle?: (action: 'restart' | 'reboot') => void;
  /** Whether a service manager restarts the agent (systemd); default: INVOCATION_ID is set. */
  underSystemd?: boolean;
  /** The configuration file, for a new release's `--check-config` before an update switches to it. */
  configPath?: string;
}

export class Agent {
  readonly bootId = randomUUID();
  readonly topics: TopicMap;
  private db: Db | undefined;
  private outboxStore: Outbox | undefined;
  private linkImpl: Link | undefined;
  private sender: OutboxSender | undefined;
  private presence: Presence | undefined;
  private heartbeatSvc: HeartbeatService | undefined;
  private readonly parts: HeartbeatPart[] = [];
  private scheduleStore: ScheduleStore | undefined;
  private intakeSvc: ScheduleIntake | undefined;
  private schedulerSvc: Scheduler | undefined;
  private repeats: Repeats | undefined;
  private coordinator: PlaybackCoordinator | undefined;
  private faults: FaultTracker | undefined;
  /** Unsubscribes from the board's conditions: first thing at stop (a condition then would write to a closed database). */
  private offHw: (() => void) | undefined;
  private boardImpl: Board | undefined;
  private commandSvc: CommandService | undefined;
  private cache: MediaCache | undefined;
  private rejections: Rejections | undefined;
  private clockWatch: ClockWatch | undefined;
  private updater: Updater | undefined;
  private volumeCtl: VolumeControl | undefined;
  private stopping: Promise<void> | undefined;

  private readonly keyRing: KeyRing;
  private readonly statsImpl: SystemStats;
  private readonly clockSources: ClockSources;

  constructor(private readonly d: AgentDeps) {
    this.topics = topicsFor(d.config.topicRoot, d.config.deviceId, d.config.groups);
    this.keyRing = new KeyRing(d.config.trustedKeys);
    const fromStats = d.stats;
    this.clockSources =
      d.clockSources ??
      (fromStats
        ? {
            read: async () =>
              ((synced) => ({ synced, source: synced === null ? 'none' : 'timesyncd' }) as const)(
                await fromStats.clockSynced(),
              ),
          }
        : createClockSources(d.config.clock));
    this.statsImpl = d.stats ?? createSystemStats({ diskPath: d.config.stateDir, clock: this.clockSources });
  }

  get events(): EventSink {
    return started(this.outboxStore);
  }

  get outbox(): Outbox {
    return started(this.outboxStore);
  }

  get link(): Link {
    return started(this.linkImpl);
  }

  get heartbeat(): HeartbeatService {
    return started(this.heartbeatSvc);
  }

  /**
   * Safe state on the hardware first, then the stores, then the services wired to them;
   * the link connects last. Resolves once started.
   */
  async start(): Promise<void> {
    const { config: c, log } = this.d;
    const clock = this.d.clock ?? systemClock;
    const startedMono = clock.monoMs();
    // After a crash the relays may be in any state: amplifier off before anything else.
    const board = this.d.board ?? (await createBoard(c, log.child({ mod: 'board' }), clock));
    this.boardImpl = board;
    await board.init();
    // A broken SD card degrades the box, it does not stop it (wiring.ts openStores).
    const stores = openStores(c, log, clock, [this.topics.deviceSchedule, ...this.topics.groupSchedules]);
    this.db = stores.db;
    this.outboxStore = stores.outbox;
    this.scheduleStore = stores.schedules;
    const t = createTelemetry({
      config: c,
      log,
      clock,
      bootId: this.bootId,
      topics: this.topics,
      outbox: stores.outbox,
      stats: this.statsImpl,
      startedMono,
      parts: this.parts,
      makeLink: this.d.makeLink,
      docRefs: () => this.docRefs(),
      updateState: () => this.updater?.state() ?? null,
      onBirth: () => {
        this.d.onBirth?.();
        this.updater?.noteBirth();
      },
      clockReport: () => this.clockWatch?.report(),
    });
    const link = (this.linkImpl = t.link);
    this.presence = t.presence;
    this.sender = t.sender;
    this.heartbeatSvc = t.heartbeat;
    this.restoreState(stores);
    const signed: SharedSigned = {
      link,
      keys: this.keyRing,
      // Rejection messages may quote a field of an unverified payload: no credential leaves in one.
      events: redactingSink(stores.outbox),
      clock,
      deviceId: c.deviceId,
      groups: c.groups,
      maxBytes: c.schedule.maxBytes,
      minRepeatS: c.schedule.minRepeatS,
      ...(await this.watchClock(clock, stores)),
      replay: stores.replay,
      rejections: (this.rejections = new Rejections({
        clock,
        events: stores.outbox,
        log: log.child({ mod: 'intake' }),
      })),
    };
    const volume = (this.volumeCtl = new VolumeControl({
      clock,
      log: log.child({ mod: 'volume' }),
      store: stores.meta,
      maxVolume: c.audio.maxVolume,
      safeLevel: c.volume.safeLevel,
      emergencyLevel: c.volume.emergencyLevel,
      configured: { timezone: c.volume.profile.timezone, windows: c.volume.profile.windows.map((w) => ({ ...w })) },
      onChange: () => {
        this.coordinator?.levelChanged();
        this.heartbeatSvc?.kick();
      },
    }));
    const { coordinator, faults } = this.wirePlayback(clock, board, stores, volume);
    const { cache, scheduler } = this.wireSchedules(clock, stores, coordinator, signed);
    const updater = (this.updater = createUpdater({
      config: c,
      configPath: this.d.configPath ?? null,
      log,
      clock,
      stores,
      cache,
      coordinator,
      scheduler,
      link: () => this.linkImpl,
      restart: this.d.onLifecycle ? () => this.d.onLifecycle?.('restart') : null,
      onChange: () => {
        this.presence?.publishBirth();
        this.heartbeatSvc?.kick();
      },
    }));
    updater.start();
    this.commandSvc = createCommandService({
      config: c,
      log,
      clock,
      board,
      stores,
      stats: this.statsImpl,
      resultTopic: this.topics.cmdResult,
      signed,
      presence: started(this.presence),
      heartbeat: started(this.heartbeatSvc),
      services: { coordinator, faults, cache, scheduler, updater, volume, repeats: started(this.repeats) },
      docRefs: () => this.docRefs(),
      onLifecycle: this.d.onLifecycle,
      underSystemd:
        this.d.onLifecycle !== undefined && (this.d.underSystemd ?? process.env.INVOCATION_ID !== undefined),
      resetClockBound: () => started(this.clockWatch).resetBound(),
    });
    this.parts.push(() => {
      const next = scheduler.next();
      return {
        playing: coordinator.playing(),
        amp: { on: board.state().amp, fault: board.state().ampFault || faults.isActive('amp') },
        faults: faults.activeCount(),
        ...(board.tuner ? { fm: board.tuner.state() } : {}),
        ...(board.link ? { mcu: board.link() } : {}),
        volume: volume.masterLevel(),
        // The level in force for what plays (its class), or for normal content when idle, and why.
        volumeWhy: volume.decide(coordinator.playing()?.priority ?? 50),
        cache: cache.figures(),
        schedule: this.docRefs(),
        next: next ? { itemId: next.itemId, at: new Date(next.start).toISOString() } : null,
        version: AGENT_VERSION,
        update: updater.state(),
      };
    });

    this.presence?.start();
    this.heartbeatSvc?.start();
    this.sender?.start();
    this.intakeSvc?.start();
    this.commandSvc?.start();
    void cache.start();
    // The media of repeat series kept from before a restart stay wanted (never evicted, fetched if gone) until the series' command expires.
    for (const sr of stores.replay.allSeries())
      if (sr.media.length > 0) void cache.fetchNow(sr.media, Date.parse(sr.expiresAt)).catch(() => undefined);
    scheduler.start();
    volume.start();
    log.info(
      {
        deviceId: c.deviceId,
        bootId: this.bootId,
        epoch: stores.outbox.epoch,
        version: AGENT_VERSION,
        pending: stores.outbox.size,
      },
      'agent starting',
    );
    link.start();
  }

  /**
   * Merge the replay state of replay.json and the database, restore documents the
   * database lost, and say in `store.reset` what was kept and lost (contract v1.1 §7).
   */
  private restoreState(stores: Stores): void {
    const { replay, replayFile, reset, outbox } = stores;
    const { restored } = restoreReplayState({
      replay,
      replayFile,
      schedules: stores.schedules,
      commands: stores.commands,
      keys: this.keyRing,
      log: this.d.log.child({ mod: 'store' }),
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

  /**
   * The clock's trust (runtime/clock-watch.ts): its sources, the checkpoint beside the
   * database, and the newest issuedAt of the documents restored. The signed intakes feed
   * it evidence and refuse an issuedAt ahead only of a clock a source vouches for.
   */
  private async watchClock(
    clock: Clock,
    stores: Stores,
  ): Promise<Pick<SharedSigned, 'clockSynced' | 'clockEvidence' | 'provableNow' | 'vouchedNow'>> {
    const issued = stores.schedules
      .inForce()
      .map(({ doc }) => ({ id: `schedule:${doc.id}:${doc.version}`, at: Date.parse(doc.issuedAt) }));
    const watch = new ClockWatch({
      clock,
      sources: this.clockSources,
      store: new ClockCheckpoint(join(this.d.config.stateDir, 'clock.json'), this.d.log.child({ mod: 'clock' }), () =>
        clock.now(),
      ),
      log: this.d.log.child({ mod: 'clock' }),
      evidence: issued,
      emit: (type, fields) => stores.outbox.emit(type, fields),
      onChange: () => {
        this.schedulerSvc?.clockChanged();
        this.heartbeatSvc?.kick();
      },
    });
    this.clockWatch = watch;
    await watch.start();
    return {
      clockSynced: () => watch.syncedForIntake(),
      clockEvidence: (id, ms) => watch.note(id, ms),
      provableNow: () => watch.provableNow(),
      vouchedNow: () => watch.vouchedNow(),
    };
  }

  /** The player, the playback coordinator on the board, and the board's faults. */
  private wirePlayback(
    clock: Clock,
    board: Board,
    stores: Stores,
    volume: VolumeControl,
  ): { coordinator: PlaybackCoordinator; faults: FaultTracker } {
    const { config: c, log } = this.d;
    const { outbox, schedules } = stores;
    const heartbeat = started(this.heartbeatSvc);
    const mediaDurations = () =>
      new Map(
        [
          ...schedules.inForce().flatMap(({ doc }) => doc.media),
          ...stores.replay.allSeries().flatMap((sr) => sr.media),
        ].map((m) => [m.sha256, m.durationMs] as const),
      );
    const player =
      this.d.player ??
      createPlayer(c, log.child({ mod: 'player' }), (paths) => {
        // The stand-in plays a file for the length the document gives its media.
        const known = mediaDurations();
        let total = 0;
        for (const p of paths) {
          const ms = known.get(p.slice(-64));
          if (ms === undefined) return null;
          total += ms;
        }
        return total;
      });
    const coordinator = new PlaybackCoordinator({
      clock,
      board,
      player,
      ledger: stores.ledger,
      events: redactingSink(outbox),
      log: log.child({ mod: 'playback' }),
      warmUpMs: c.hardware.ampWarmUpMs,
      holdMs: c.hardware.ampHoldMs,
      volumeFor: (occ) => volume.playerVolume(occ),
      mediaPath: (sha) => this.cache?.pathFor(sha) ?? null,
      onChange: () => heartbeat.kick(),
      reportHw: (cond) => this.faults?.set(cond),
    });
    this.coordinator = coordinator;
    // Board conditions -> debounced hw.fault / hw.recovered; a fault raised while
    // something plays names the occurrence it affected.
    const faults = new FaultTracker({
      timers: clock,
      recoverMs: c.hardware.faultRecoverS * 1000,
      report: (type, f) => {
        const during = type === 'hw.fault' ? coordinator.playingOccurrence() : null;
        outbox.emit(type, during ? { ...f, ...during } : f);
        if (type === 'hw.fault') log.warn({ code: 'HW_FAULT', hw: f, during }, `hardware fault: ${f.message}`);
        else log.info({ hw: f }, `hardware recovered: ${f.message}`);
        heartbeat.kick();
      },
    });
    this.faults = faults;
    this.offHw = board.onHw((cond) => {
      faults.set(cond);
      coordinator.hwChanged(cond);
      heartbeat.kick();
    });
    return { coordinator, faults };
  }

  /** Schedules: intake (verify, persist) -> scheduler (occurrences on time) -> playback; the media cache beside. */
  private wireSchedules(
    clock: Clock,
    stores: Stores,
    coordinator: PlaybackCoordinator,
    signed: SharedSigned,
  ): { cache: MediaCache; scheduler: Scheduler } {
    const { config: c, log } = this.d;
    const { outbox, ledger, schedules } = stores;
    const heartbeat = started(this.heartbeatSvc);
    const presence = started(this.presence);
    const playback: Playback = {
      prepare: (occ) => coordinator.prepare(occ),
      fire: (occ, lateMs) => {
        for (const m of occ.media) this.cache?.markUsed(m.sha256); // LRU: what plays is what is used
        coordinator.fire(occ, lateMs);
      },
    };
    const cache = new MediaCache({
      store: stores.media,
      cacheDir: c.cacheDir,
      quotaBytes: c.cache.quotaMB * 1024 * 1024,
      concurrency: c.cache.concurrency,
      events: outbox,
      clock,
      log: log.child({ mod: 'cache' }),
      fetcher: createHttpFetcher({ minRateBps: c.cache.minRateBps }),
      onChange: () => heartbeat.kick(),
    });
    this.cache = cache;
    const meta = stores.meta.checkpoint;
    // Idle, the checkpoint stays in memory (adapters/meta-store.ts); while something plays it
    // is written at each wake, so a kill mid-play still bounds playedMs within ~30 s.
    const checkpoint = {
      ...meta,
      set: (ms: number, durable?: boolean) => meta.set(ms, durable === true || coordinator.playing() !== null),
    };
    closeInterruptedByRestart({ ledger, events: outbox, log }, checkpoint.get(), clock.now());
    const scheduler: Scheduler = new Scheduler({
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
      checkpoint,
      clockHold: () => started(this.clockWatch).verdict(),
      onJump: () => void this.clockWatch?.refresh(),
      warmUpMs: c.hardware.ampWarmUpMs,
      graceMs: c.schedule.graceS * 1000,
      horizonMs: c.schedule.horizonH * 3_600_000,
      onChange: () => heartbeat.kick(),
      series: (w) => repeats.series(w),
      cancelled: (occ) => repeats.cancelled(occ),
    });
    const repeats: Repeats = new Repeats({
      clock,
      log: log.child({ mod: 'repeat' }),
      replay: stores.replay,
      stopMatching: (match) => coordinator.cancel(match),
      upcoming: () => scheduler.upcoming(),
      replan: () => scheduler.replan(),
      docExpiry: (docId) => {
        const e = schedules.inForce().find((f) => f.doc.id === docId)?.doc.expiresAt;
        return e === undefined ? undefined : Date.parse(e);
      },
    });
    this.repeats = repeats;
    this.schedulerSvc = scheduler;
    this.intakeSvc = new ScheduleIntake({
      ...signed,
      store: schedules,
      log: log.child({ mod: 'intake' }),
      bindings: bindingsFor(c.topicRoot, c.deviceId, c.groups, 'schedule'),
      maxLifetimeMs: c.schedule.maxLifetimeDays * 86_400_000,
      onAccepted: () => {
        scheduler.replan();
        presence.publishBirth();
        heartbeat.kick();
      },
    });
    return { cache, scheduler };
  }

  /** Register a provider of heartbeat fields (playback, cache, board...). */
  addHeartbeatPart(part: HeartbeatPart): void {
    this.parts.push(part);
  }

  /** One line for systemd's STATUS=: what plays, what is next, the link, the backlog. */
  summaryLine(): string {
    const playing = this.coordinator?.playing();
    const next = this.schedulerSvc?.next();
    const faults = this.faults?.activeCount() ?? 0;
    return [
      playing ? `playing ${playing.itemId} (${playing.source})` : 'idle',
      `${this.docRefs().length} schedules`,
      next ? `next ${next.itemId} ${new Date(next.start).toISOString().slice(0, 16)}Z` : 'nothing planned',
      `mqtt ${this.linkImpl?.connected ? 'up' : 'down'}`,
      `outbox ${this.outboxStore?.size ?? 0}`,
      ...(faults > 0 ? [`${faults} hw faults`] : []),
    ].join(', ');
  }

  /** The schedule documents in force, as birth and heartbeat report them. */
  docRefs(): DocRef[] {
    const now = (this.d.clock ?? systemClock).now();
    return (this.scheduleStore?.inForce() ?? [])
      .filter(({ doc }) => !doc.expiresAt || Date.parse(doc.expiresAt) > now)
      .map(({ doc }) => ({ id: doc.id, version: doc.version }));
  }

  get scheduler(): Scheduler {
    return started(this.schedulerSvc);
  }

  get playback(): PlaybackCoordinator {
    return started(this.coordinator);
  }

  get board(): Board {
    return started(this.boardImpl);
  }

  get commands(): CommandService {
    return started(this.commandSvc);
  }

  get intake(): ScheduleIntake {
    return started(this.intakeSvc);
  }

  /** Stop everything once; a second call waits for the first (a closed database must not be written). */
  stop(): Promise<void> {
    this.stopping ??= this.stopOnce();
    return this.stopping;
  }

  private async stopOnce(): Promise<void> {
    this.offHw?.();
    this.offHw = undefined;
    this.updater?.stop();
    this.volumeCtl?.stop();
    this.clockWatch?.stop();
    this.rejections?.stop();
    this.faults?.stop();
    this.schedulerSvc?.stop();
    this.intakeSvc?.stop();
    this.commandSvc?.stop();
    await this.coordinator?.stopAll('agent-restart');
    await this.cache?.stop();
    this.sender?.stop();
    this.outboxStore?.close();
    this.heartbeatSvc?.stop();
    this.presence?.stop();
    if (this.linkImpl) await this.linkImpl.stop(this.presence?.shutdownMessage());
    this.db?.close();
    this.db = undefined;
    await this.boardImpl?.close();
    this.d.log.info({ bootId: this.bootId }, 'agent stopped');
  }
}

/** What the schedule intake and the command service share; each adds its topics, lifetime and logger. */
export type SharedSigned = Omit<SignedTopicDeps, 'bindings' | 'maxLifetimeMs' | 'log'>;

/** The services exist only between start() and stop(); asking earlier is a programming error. */
function started<T>(service: T | undefined): T {
  if (service === undefined) throw new Error('agent not started');
  return service;
}
