// The agent's services wired together. main.ts builds the real adapters and calls
// this; tests build it with their own clock, link or stats through the same deps.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { systemClock, type Clock } from '../adapters/clock.js';
import { openDb, type Db } from '../adapters/sqlite-db.js';
import { Outbox } from '../adapters/outbox-store.js';
import { MqttLink, type Link } from '../adapters/mqtt-link.js';
import { createSystemStats, type SystemStats } from '../adapters/system-stats.js';
import { topicsFor, type TopicMap } from '../domain/topics.js';
import { buildWill, type DocRef } from '../domain/telemetry.js';
import { AGENT_VERSION } from '../version.js';
import { OutboxSender } from './outbox-sender.js';
import { Presence } from './presence.js';
import { HeartbeatService, type HeartbeatPart } from './heartbeat.js';
import type { EventSink } from '../domain/events.js';

export interface AgentDeps {
  config: Config;
  log: Logger;
  clock?: Clock;
  stats?: SystemStats;
  /** Build the link (tests pass a fake); defaults to mqtt.js. */
  makeLink?: (will: { topic: string; payload: string }) => Link;
  onBirth?: () => void;
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
  private readonly schedule: DocRef[] = [];

  constructor(private readonly d: AgentDeps) {
    this.topics = topicsFor(d.config.topicRoot, d.config.deviceId, d.config.groups);
  }

  get events(): EventSink {
    if (!this.outboxStore) throw new Error('agent not started');
    return this.outboxStore;
  }

  get outbox(): Outbox {
    if (!this.outboxStore) throw new Error('agent not started');
    return this.outboxStore;
  }

  get link(): Link {
    if (!this.linkImpl) throw new Error('agent not started');
    return this.linkImpl;
  }

  get heartbeat(): HeartbeatService {
    if (!this.heartbeatSvc) throw new Error('agent not started');
    return this.heartbeatSvc;
  }

  start(): void {
    const { config: c, log } = this.d;
    const clock = this.d.clock ?? systemClock;
    const startedMono = clock.monoMs();
    this.db = openDb(join(c.stateDir, 'loa.db'), { synchronous: c.outbox.synchronous });
    const outbox = new Outbox(this.db, {
      maxEvents: c.outbox.maxEvents,
      clock,
      onDrop: (info) => log.error({ code: 'OUTBOX_FULL', ...info }, 'outbox full: oldest events dropped'),
    });
    this.outboxStore = outbox;
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
      schedule: () => this.schedule,
      ...(this.d.onBirth ? { onBirth: this.d.onBirth } : {}),
    });
    this.sender = new OutboxSender({ outbox, link, topic: this.topics.events, window: c.outbox.window, log });
    this.heartbeatSvc = new HeartbeatService({
      link,
      clock,
      stats: this.d.stats ?? createSystemStats({ diskPath: c.stateDir }),
      log,
      topic: this.topics.heartbeat,
      bootId: this.bootId,
      periodS: c.heartbeatS,
      startedMono,
      outboxSize: () => outbox.size,
      parts: this.parts,
    });
    this.presence.start();
    this.heartbeatSvc.start();
    this.sender.start();
    log.info({ deviceId: c.deviceId, bootId: this.bootId, epoch: outbox.epoch, version: AGENT_VERSION, pending: outbox.size }, 'agent starting');
    link.start();
  }

  /** Register a provider of heartbeat fields (playback, cache, board...). */
  addHeartbeatPart(part: HeartbeatPart): void {
    this.parts.push(part);
  }

  async stop(): Promise<void> {
    this.sender?.stop();
    this.heartbeatSvc?.stop();
    this.presence?.stop();
    if (this.linkImpl) await this.linkImpl.stop(this.presence?.shutdownMessage());
    this.db?.close();
    this.db = undefined;
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
    });
  }
}
