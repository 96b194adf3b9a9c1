// The heartbeat of the wire contract (docs/protocol.md §6): every periodS and on every state change
// (at most one a second), retained, QoS 0. Skipped while offline: the broker keeps
// the last one, and a stale heartbeat queued for later would only mislead the NOC.
import type { Link } from '../adapters/mqtt-link.js';
import type { Clock, TimerHandle } from '../adapters/clock.js';
import type { SystemStats } from '../adapters/system-stats.js';
import type { Logger } from '../log.js';
import { PUBLISH_OPTS } from '../../contract/topics.js';
import type { ClockReport } from '../domain/clock-trust.js';
import { buildHeartbeat, type Heartbeat, type HeartbeatInputs } from '../../contract/telemetry.js';

/** Parts of the heartbeat owned by other services (playback, cache, board, ...). */
export type HeartbeatPart = () => Partial<HeartbeatInputs>;

export interface HeartbeatDeps {
  link: Link;
  clock: Clock;
  stats: SystemStats;
  log: Logger;
  topic: string;
  bootId: string;
  periodS: number;
  startedMono: number;
  outboxSize: () => number;
  parts: readonly HeartbeatPart[];
  /** The clock's trust as the agent judges it (runtime/clock-watch.ts); without it, `synced` from stats. */
  clockReport?: () => ClockReport | undefined;
}

const MIN_GAP_MS = 1000;

export class HeartbeatService {
  private timer: TimerHandle | undefined;
  private kickTimer: TimerHandle | undefined;
  private lastSentMono = -Infinity;
  private running = false;
  private sending: Promise<void> | undefined;
  private readonly onUp = () => this.schedule(0);

  constructor(private readonly d: HeartbeatDeps) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.d.link.on('up', this.onUp);
    this.schedule(this.d.periodS * 1000);
  }

  stop(): void {
    this.running = false;
    this.d.link.off('up', this.onUp);
    this.d.clock.clearTimeout(this.timer);
    this.d.clock.clearTimeout(this.kickTimer);
    this.timer = undefined;
    this.kickTimer = undefined;
  }

  /** Something the heartbeat reports changed: send soon (rate-limited to 1/s). */
  kick(): void {
    if (!this.running || this.kickTimer) return;
    const wait = Math.max(0, this.lastSentMono + MIN_GAP_MS - this.d.clock.monoMs());
    this.kickTimer = this.d.clock.setTimeout(() => {
      this.kickTimer = undefined;
      void this.send();
    }, wait);
  }

  /** Build the current heartbeat (also used by the `ping` command). */
  async snapshot(): Promise<Heartbeat> {
    const d = this.d;
    const clock = d.clockReport?.();
    const [sys, clockSynced] = await Promise.all([d.stats.sys(), clock ? clock.synced : d.stats.clockSynced()]);
    const inputs: HeartbeatInputs = {
      now: new Date(d.clock.now()),
      bootId: d.bootId,
      uptimeS: (d.clock.monoMs() - d.startedMono) / 1000,
      sys,
      clockSynced,
      ...(clock ? { clock } : {}),
      outbox: d.outboxSize(),
    };
    for (const part of d.parts) Object.assign(inputs, part());
    return buildHeartbeat(inputs);
  }

  private schedule(ms: number): void {
    this.d.clock.clearTimeout(this.timer);
    this.timer = this.d.clock.setTimeout(() => {
      void this.send().finally(() => {
        if (this.running) this.schedule(this.d.periodS * 1000);
      });
    }, ms);
  }

  private async send(): Promise<void> {
    if (!this.running || !this.d.link.connected) return;
    if (this.sending) return this.sending;
    this.sending = (async () => {
      try {
        const hb = await this.snapshot();
        this.lastSentMono = this.d.clock.monoMs();
        await this.d.link.publish(this.d.topic, JSON.stringify(hb), PUBLISH_OPTS.heartbeat);
      } catch (err) {
        this.d.log.debug({ code: 'MQTT_PUBLISH', err }, 'heartbeat not sent');
      } finally {
        this.sending = undefined;
      }
    })();
    return this.sending;
  }
}
