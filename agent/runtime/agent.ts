// The agent's services wired together. main.ts builds the real adapters and calls
// this; tests build it with their own clock, link or stats through the same deps.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { systemClock, type Clock, type TimerHandle } from '../adapters/clock.js';
import { openStore, type Db, type StoreReset } from '../adapters/sqlite-db.js';
import { MetaStore } from '../adapters/meta-store.js';
import { existsSync } from 'node:fs';
import { ReplayState } from '../adapters/replay-state.js';
import { Rejections } from './rejections.js';
import { restoreReplayState } from './replay-restore.js';
import { ScheduleStore } from '../adapters/schedule-store.js';
import { LedgerStore } from '../adapters/ledger-store.js';
import { KeyRing } from '../domain/verify.js';
import { ScheduleIntake } from './schedule-intake.js';
import { Scheduler, closeInterruptedByRestart, type Playback } from './scheduler.js';
import { PlaybackCoordinator } from './playback.js';
import { createBoard, createPlayer } from './hardware.js';
import type { Board } from '../adapters/board.js';
import { MediaCache } from './media-cache.js';
import { createHttpFetcher } from '../adapters/media-fetch.js';
import { firstOccurrences, type DocInForce } from '../domain/occurrences.js';
import type { MediaNeed } from '../domain/cache-plan.js';
import { Outbox } from '../adapters/outbox-store.js';
import { MqttLink, type Link } from '../adapters/mqtt-link.js';
import { createSystemStats, type SystemStats } from '../adapters/system-stats.js';
import { bindingsFor, topicsFor, type TopicMap } from '../domain/topics.js';
import { buildWill, type DocRef } from '../domain/telemetry.js';
import { AGENT_VERSION } from '../version.js';
import { OutboxSender } from './outbox-sender.js';
import { Presence } from './presence.js';
import { HeartbeatService, type HeartbeatPart } from './heartbeat.js';
import type { EventSink } from '../domain/events.js';
import { redactingSink } from '../domain/redact.js';
import { FaultTracker } from '../domain/fault-tracker.js';
import { CommandStore } from '../adapters/command-store.js';
import { CommandService } from './commands.js';
import { createExecutor } from './command-actions.js';

export interface AgentDeps {
  config: Config;
  log: Logger;
  clock?: Clock;
  stats?: SystemStats;
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
  private coordinator: PlaybackCoordinator | undefined;
  private faults: FaultTracker | undefined;
  private boardImpl: Board | undefined;
  private commandSvc: CommandService | undefined;
  private cache: MediaCache | undefined;
  private rejections: Rejections | undefined;
  private clockPoll: TimerHandle | undefined;

  private readonly keyRing: KeyRing;
  private readonly statsImpl: SystemStats;

  constructor(private readonly d: AgentDeps) {
    this.topics = topicsFor(d.config.topicRoot, d.config.deviceId, d.config.groups);
    this.keyRing = new KeyRing(d.config.trustedKeys);
    this.statsImpl = d.stats ?? createSystemStats({ diskPath: d.config.stateDir });
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

  /** Safe state on the hardware first, then everything else. Resolves once started. */
  async start(): Promise<void> {
    const { config: c, log } = this.d;
    const clock = this.d.clock ?? systemClock;
    const startedMono = clock.monoMs();
    // After a crash the relays may be in any state: amplifier off before anything else.
    const board = this.d.board ?? createBoard(c, log.child({ mod: 'board' }), clock);
    this.boardImpl = board;
    await board.init();
    // A broken SD card degrades the box, it does not stop it: a corrupt database is
    // moved aside and rebuilt, a full disk gives a database in memory (openStore). The
    // replay state beside it (replay.json) is what keeps old documents refused after that.
    const replay = new ReplayState(join(c.stateDir, 'replay.json'), log.child({ mod: 'store' }));
    const replayFile = replay.load();
    const opened = openStore(join(c.stateDir, 'loa.db'), { synchronous: c.outbox.synchronous, hadState: existsSync(replay.path), now: () => clock.now() });
    this.db = opened.db;
    const reset: StoreReset | undefined = opened.reset;
    if (reset) log.error({ code: 'STORE_RESET', ...reset }, `database rebuilt: ${reset.reason}`);
    const outbox = new Outbox(this.db, {
      maxEvents: c.outbox.maxEvents,
      clock,
      onDisk: (state, detail) =>
        state === 'refused'
          ? log.error({ code: 'STORE_WRITE', detail }, 'the disk refuses writes: events held in memory, playback goes on')
          : log.warn({ detail }, 'the disk takes writes again'),
      onDrop: (info) => log.error({ code: 'OUTBOX_FULL', ...info }, 'outbox full: oldest events dropped'),
    });
    this.outboxStore = outbox;
    if (reset) outbox.emit('store.reset', reset);
    const rejections = new Rejections({ clock, events: outbox, log: log.child({ mod: 'intake' }) });
    this.rejections = rejections;
    const will = { topic: this.topics.status, payload: JSON.stringify(buildWill(this.bootId)) };
    const link = this.d.makeLink?.(will) ?? this.mqttLink(will);
    this.linkImpl = link;
    this.presence = new Presence({
      link,
      clock,
      log,
      topic: this.topics.status,
      bootId: this.bootId,
      epoch: outbox.epoch,
      agentVersion: AGENT_VERSION,
      deviceId: c.deviceId,
      groups: c.groups,
      site: c.site,
      heartbeatS: c.heartbeatS,
      schedule: () => this.docRefs(),
      ...(this.d.onBirth ? { onBirth: this.d.onBirth } : {}),
    });
    this.sender = new OutboxSender({ outbox, link, topic: this.topics.events, window: c.outbox.window, log });
    this.heartbeatSvc = new HeartbeatService({
      link,
      clock,
      stats: this.statsImpl,
      log,
      topic: this.topics.heartbeat,
      bootId: this.bootId,
      periodS: c.heartbeatS,
      startedMono,
      outboxSize: () => outbox.size,
      parts: this.parts,
    });
    const heartbeat = this.heartbeatSvc;
    const presence = this.presence;

    // Schedules: intake (verify, persist) -> scheduler (occurrences on time) -> playback.
    const db = this.db;
    const scheduleStore = new ScheduleStore(db, log.child({ mod: 'store' }));
    this.scheduleStore = scheduleStore;
    const commandStore = new CommandStore(db);
    restoreReplayState({ replay, replayFile, schedules: scheduleStore, commands: commandStore, keys: this.keyRing, log: log.child({ mod: 'store' }) });
    let clockSynced: boolean | null = await this.statsImpl.clockSynced().catch(() => null);
    this.clockPoll = clock.setInterval(
      () => {
        void this.statsImpl.clockSynced().then(
          (v) => (clockSynced = v),
          () => undefined,
        );
      },
      60_000,
      { unref: true },
    );
    const signed = {
      link,
      keys: this.keyRing,
      // Rejection messages may quote a field of an unverified payload: no credential leaves in one.
      events: redactingSink(outbox),
      clock,
      deviceId: c.deviceId,
      groups: c.groups,
      maxBytes: c.schedule.maxBytes,
      clockSynced: () => (clockSynced === false ? false : undefined),
      replay,
      rejections,
    };
    const ledger = new LedgerStore(db);
    const mediaDurations = () => new Map(scheduleStore.inForce().flatMap(({ doc }) => doc.media.map((m) => [m.sha256, m.durationMs] as const)));
    const player = this.d.player ?? createPlayer(c, log.child({ mod: 'player' }), (paths) => {
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
    const meta = new MetaStore(db);
    const masterVolume = () => meta.volume();
    const coordinator = new PlaybackCoordinator({
      clock,
      board,
      player,
      ledger,
      events: redactingSink(outbox),
      log: log.child({ mod: 'playback' }),
      warmUpMs: c.hardware.ampWarmUpMs,
      holdMs: c.hardware.ampHoldMs,
      maxVolume: c.audio.maxVolume,
      masterVolume,
      mediaPath: (sha) => this.cache?.pathFor(sha) ?? null,
      onChange: () => heartbeat.kick(),
      reportHw: (cond) => this.faults?.set(cond),
    });
    this.coordinator = coordinator;
    // Board conditions -> debounced hw.fault / hw.recovered; a fault raised while
    // something plays names the occurrence it affected.
    const faults = new FaultTracker({
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
    board.onHw((cond) => {
      faults.set(cond);
      coordinator.hwChanged(cond);
      heartbeat.kick();
    });
    const playback: Playback = {
      prepare: (occ) => coordinator.prepare(occ),
      fire: (occ, lateMs) => {
        for (const m of occ.media) this.cache?.markUsed(m.sha256); // LRU: what plays is what is used
        coordinator.fire(occ, lateMs);
      },
    };
    const cache = new MediaCache({
      db,
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
    const checkpoint = meta.checkpoint;
    closeInterruptedByRestart({ ledger, events: outbox, log }, checkpoint.get(), clock.now());
    const scheduler = new Scheduler({
      clock,
      log: log.child({ mod: 'scheduler' }),
      docs: () => scheduleStore.inForce(),
      ledger,
      events: outbox,
      playback,
      // A file item plays only verified bytes; other sources (and their fallbacks) need no cache.
      mediaReady: (occ) => occ.source.kind !== 'file' || occ.media.every((m) => cache.pathFor(m.sha256) !== null),
      onReplan: (docs) => cache.setNeeds(...mediaNeeds(docs, clock.now() - c.schedule.graceS * 1000, c.cache.horizonH * 3_600_000)),
      checkpoint,
      warmUpMs: c.hardware.ampWarmUpMs,
      graceMs: c.schedule.graceS * 1000,
      horizonMs: c.schedule.horizonH * 3_600_000,
      onChange: () => heartbeat.kick(),
    });
    this.schedulerSvc = scheduler;
    this.intakeSvc = new ScheduleIntake({
      ...signed,
      store: scheduleStore,
      log: log.child({ mod: 'intake' }),
      bindings: bindingsFor(c.topicRoot, c.deviceId, c.groups, 'schedule'),
      maxLifetimeMs: c.schedule.maxLifetimeDays * 86_400_000,
      onAccepted: () => {
        scheduler.replan();
        presence.publishBirth();
        heartbeat.kick();
      },
    });
    const stats = this.statsImpl;
    const executor = createExecutor({
      clock,
      log: log.child({ mod: 'cmd' }),
      coordinator,
      board,
      faults,
      stats,
      cacheDir: c.cacheDir,
      mpg123Path: c.audio.player === 'stand-in' ? null : c.audio.mpg123Path,
      snapshot: async () => ({ birth: presence.birth(), heartbeat: await heartbeat.snapshot() }),
      setVolume: (level) => {
        meta.setVolume(level);
        heartbeat.kick();
      },
      sync: () => {
        cache.sync();
        scheduler.replan();
        return { cache: cache.figures(), schedule: this.docRefs() };
      },
      fetchMedia: (media, until) => cache.fetchNow(media, until),
      underSystemd: this.d.onLifecycle !== undefined && (this.d.underSystemd ?? process.env.INVOCATION_ID !== undefined),
    });
    this.commandSvc = new CommandService({
      ...signed,
      store: commandStore,
      log: log.child({ mod: 'cmd' }),
      bindings: bindingsFor(c.topicRoot, c.deviceId, c.groups, 'cmd'),
      maxLifetimeMs: c.commands.maxLifetimeH * 3_600_000,
      resultTopic: this.topics.cmdResult,
      execute: executor,
      lifecycle: (action) => this.d.onLifecycle?.(action),
    });

    this.parts.push(() => {
      const next = scheduler.next();
      return {
        playing: coordinator.playing(),
        amp: { on: board.state().amp, fault: board.state().ampFault || faults.isActive('amp') },
        faults: faults.activeCount(),
        ...(board.tuner ? { fm: board.tuner.state() } : {}),
        volume: masterVolume(),
        cache: cache.figures(),
        schedule: this.docRefs(),
        next: next ? { itemId: next.itemId, at: new Date(next.start).toISOString() } : null,
      };
    });

    this.presence.start();
    this.heartbeatSvc.start();
    this.sender.start();
    this.intakeSvc.start();
    this.commandSvc.start();
    void cache.start();
    scheduler.start();
    log.info({ deviceId: c.deviceId, bootId: this.bootId, epoch: outbox.epoch, version: AGENT_VERSION, pending: outbox.size }, 'agent starting');
    link.start();
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

  async stop(): Promise<void> {
    (this.d.clock ?? systemClock).clearInterval(this.clockPoll);
    this.clockPoll = undefined;
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

  private mqttLink(will: { topic: string; payload: string }): Link {
    const { mqtt: m } = this.d.config;
    return new MqttLink({
      url: m.url,
      clientId: m.clientId ?? this.d.config.deviceId,
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
      log: this.d.log.child({ mod: 'mqtt' }),
      clock: this.d.clock ?? systemClock,
      // The largest accepted document, plus room for the topic and the packet's headers.
      maxPacketBytes: this.d.config.schedule.maxBytes + 4096,
    });
  }
}

/** Media that occurrences in the next `horizonMs` need (earliest use), and every media a document in force names. */
export function mediaNeeds(docs: readonly DocInForce[], now: number, horizonMs: number): [MediaNeed[], Set<string>] {
  const needs = new Map<string, MediaNeed>();
  for (const occ of firstOccurrences(docs, { from: now, to: now + horizonMs })) {
    for (const m of occ.media) if (!needs.has(m.sha256)) needs.set(m.sha256, { media: m, firstUseAt: occ.start });
  }
  const inForce = new Set(docs.flatMap(({ doc }) => doc.media.map((m) => m.sha256)));
  return [[...needs.values()], inForce];
}

/** The services exist only between start() and stop(); asking earlier is a programming error. */
function started<T>(service: T | undefined): T {
  if (service === undefined) throw new Error('agent not started');
  return service;
}
