// The agent: one box's lifecycle over the composition graph (agent/compose/: deps.ts what
// it is built from, ports.ts and services.ts its two stages, kit.ts Step, late and once,
// the other files one group of services each). start() builds the graph
// (ports.ts: every port from the configuration; services.ts: every service from the ports,
// and the steps that start them, in order) and runs the steps in order; stop() stops the
// steps that started, in reverse, once. main.ts runs it under systemd; tests pass their own
// clock, link, board, player or stats through AgentDeps (deps.ts) and reach the services
// through the getters below, which throw before start().
import { randomUUID } from 'node:crypto';
import type { Board } from '../adapters/board.js';
import type { Link } from '../adapters/mqtt-link.js';
import type { Outbox } from '../adapters/outbox-store.js';
import type { EventSink } from '../../contract/events.js';
import type { DocRef } from '../../contract/telemetry.js';
import { topicsFor, type TopicMap } from '../../contract/topics.js';
import type { CommandService } from '../runtime/commands.js';
import type { HeartbeatService } from '../runtime/heartbeat.js';
import type { PlaybackCoordinator } from '../runtime/playback.js';
import type { ScheduleIntake } from '../runtime/schedule-intake.js';
import type { Scheduler } from '../runtime/scheduler.js';
import type { AgentDeps, Identity } from './deps.js';
import { late, once, type Step } from './kit.js';
import { buildPorts } from './ports.js';
import { buildServices, type Graph } from './services.js';

export type { AgentDeps } from './deps.js';

export class Agent {
  readonly bootId = randomUUID();
  readonly topics: TopicMap;
  private readonly graph = late<Graph>('agent not started');
  /** The steps started so far, in start order: what stop() undoes. */
  private readonly started: Step[] = [];
  private readonly stopOnce = once(() => this.stopStarted());
  /** Set by stop(): a start still under way (waiting for the clock watch) starts nothing more. */
  private stopRequested = false;

  constructor(private readonly d: AgentDeps) {
    this.topics = topicsFor(d.config.topicRoot, d.config.deviceId, d.config.groups);
  }

  /** Build the graph and start its steps in order (the link connects last). Resolves once started. */
  async start(): Promise<void> {
    const graph = await compose(this.d, { bootId: this.bootId, topics: this.topics });
    this.graph.set(graph);
    for (const step of graph.steps) {
      if (this.stopRequested) return;
      this.started.push(step);
      // Only a step that returns a promise is waited for: the others run back to back, in
      // one turn of the event loop, as nothing can arrive between them.
      const started = step.start();
      if (started instanceof Promise) await started;
    }
  }

  /** Stop everything once; a second call waits for the first (a closed database must not be written). */
  stop(): Promise<void> {
    this.stopRequested = true;
    return this.stopOnce();
  }

  private async stopStarted(): Promise<void> {
    for (const step of this.started.splice(0).reverse()) {
      const stopped = step.stop();
      if (stopped instanceof Promise) await stopped;
    }
    this.d.log.info({ bootId: this.bootId }, 'agent stopped');
  }

  /** One line for systemd's STATUS=: what plays, what is next, the link, the backlog. */
  summaryLine(): string {
    const g = this.graph.get();
    const playing = g.playback.playing();
    const next = g.scheduler.next();
    const faults = g.faults.activeCount();
    return [
      playing ? `playing ${playing.itemId} (${playing.source})` : 'idle',
      `${g.docRefs().length} schedules`,
      next ? `next ${next.itemId} ${new Date(next.start).toISOString().slice(0, 16)}Z` : 'nothing planned',
      `mqtt ${g.link.connected ? 'up' : 'down'}`,
      `outbox ${g.outbox.size}`,
      ...(faults > 0 ? [`${faults} hw faults`] : []),
    ].join(', ');
  }

  /** The schedule documents in force, as birth and heartbeat report them. */
  docRefs(): DocRef[] {
    return this.graph.get().docRefs();
  }

  get events(): EventSink {
    return this.graph.get().outbox;
  }

  get outbox(): Outbox {
    return this.graph.get().outbox;
  }

  get link(): Link {
    return this.graph.get().link;
  }

  get heartbeat(): HeartbeatService {
    return this.graph.get().heartbeat;
  }

  get scheduler(): Scheduler {
    return this.graph.get().scheduler;
  }

  get playback(): PlaybackCoordinator {
    return this.graph.get().playback;
  }

  get board(): Board {
    return this.graph.get().board;
  }

  get commands(): CommandService {
    return this.graph.get().commands;
  }

  get intake(): ScheduleIntake {
    return this.graph.get().intake;
  }
}

/** Both stages; when the second throws, the ports the first opened are closed again. */
async function compose(d: AgentDeps, id: Identity): Promise<Graph> {
  const ports = await buildPorts(d, id);
  try {
    return buildServices(ports, d, id);
  } catch (err) {
    ports.stores.db.close();
    await ports.board.close().catch(() => undefined);
    throw err;
  }
}
