// What the box says of itself (contract §5-§7): the MQTT link with its will, the birth and
// death (presence), the outbox sender for events, and the heartbeat with the parts the
// other services add. agent.ts builds them first, before the stores' users.
import type { Clock } from '../adapters/clock.js';
import type { Link } from '../adapters/mqtt-link.js';
import type { Outbox } from '../adapters/outbox-store.js';
import type { SystemStats } from '../adapters/system-stats.js';
import type { Config } from '../config.js';
import { buildWill, type DocRef, type UpdateState } from '../../contract/telemetry.js';
import type { TopicMap } from '../../contract/topics.js';
import type { Logger } from '../log.js';
import { AGENT_VERSION } from '../../contract/version.js';
import { createLink } from '../wiring.js';
import type { ClockReport } from '../domain/clock-trust.js';
import { HeartbeatService, type HeartbeatPart } from './heartbeat.js';
import { OutboxSender } from './outbox-sender.js';
import { Presence } from './presence.js';
import { debianArch } from './updater.js';

export interface TelemetryWiring {
  config: Config;
  log: Logger;
  clock: Clock;
  bootId: string;
  topics: TopicMap;
  outbox: Outbox;
  stats: SystemStats;
  startedMono: number;
  parts: HeartbeatPart[];
  makeLink: ((will: { topic: string; payload: string }) => Link) | undefined;
  docRefs: () => readonly DocRef[];
  updateState: () => UpdateState;
  onBirth: () => void;
  clockReport: () => ClockReport | undefined;
}

export function createTelemetry(w: TelemetryWiring): {
  link: Link;
  presence: Presence;
  sender: OutboxSender;
  heartbeat: HeartbeatService;
} {
  const { config: c, log, clock, topics, outbox } = w;
  const will = { topic: topics.status, payload: JSON.stringify(buildWill(w.bootId)) };
  const link = w.makeLink?.(will) ?? createLink(c, log, clock, will);
  const presence = new Presence({
    link,
    clock,
    log,
    topic: topics.status,
    bootId: w.bootId,
    epoch: outbox.epoch,
    agentVersion: AGENT_VERSION,
    deviceId: c.deviceId,
    groups: c.groups,
    site: c.site,
    heartbeatS: c.heartbeatS,
    schedule: w.docRefs,
    arch: debianArch(),
    updateState: w.updateState,
    onBirth: w.onBirth,
  });
  const sender = new OutboxSender({ outbox, link, topic: topics.events, window: c.outbox.window, log });
  const heartbeat = new HeartbeatService({
    link,
    clock,
    stats: w.stats,
    log,
    topic: topics.heartbeat,
    bootId: w.bootId,
    periodS: c.heartbeatS,
    startedMono: w.startedMono,
    outboxSize: () => outbox.size,
    parts: w.parts,
    clockReport: w.clockReport,
  });
  return { link, presence, sender, heartbeat };
}
