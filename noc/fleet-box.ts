// One simulated box for `noc simulate`: its own MQTT connection and the box's side of
// the contract, cheap enough to run thousands in one process. Not the agent: no
// scheduler, no audio; it says what a healthy box says (§5 birth and will, §6 heartbeat,
// §7 events with epoch/seq, §4 command results) so the centre's tools and the broker
// can be exercised at fleet scale. Command verification IS the agent's
// (contract/command-doc.ts verifyCommand), so refusals carry the real error codes.
// Its options, counters, birth and heartbeat are in fleet-box-report.ts.
import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { mqtt } from '../cli-kit/mqtt-lib.js';
import { claimedId, verifyCommand, type CommandDoc } from '../contract/command-doc.js';
import {
  DEFAULT_MAX_DOC_BYTES,
  PUBLISH_OPTS,
  bindingsFor,
  publishTo,
  topicsFor,
  type TopicMap,
} from '../contract/index.js';
import type { SoundOutput } from '../contract/events.js';
import { buildShutdown, buildWill, type Birth, type Heartbeat } from '../contract/telemetry.js';
import {
  simBirth,
  simHeartbeat,
  type Play,
  type ReportedState,
  type SimBoxOptions,
  type UpdateState,
} from './fleet-box-report.js';
import { acceptUpdate, type UpdateDoc } from './sim-update.js';

export class SimBox {
  private client: MqttClient | undefined;
  private bootId = randomUUID();
  private bootedAt = Date.now();
  /** In memory: a simulated box's "database" lives as long as the process. */
  private readonly epoch = randomUUID();
  private seq = 0;
  private readonly outbox: { seq: number; body: string }[] = [];
  private readonly seen = new Set<string>();
  private readonly topics: TopicMap;
  private readonly rnd: () => number;
  private hbTimer: NodeJS.Timeout | undefined;
  private playTimer: NodeJS.Timeout | undefined;
  private play: Play | undefined;
  private volume = 80;
  private stopping = false;
  private up = false;
  private version: string;
  private updateState: UpdateState = null;
  private updateTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: SimBoxOptions) {
    this.topics = topicsFor(o.root, o.deviceId, o.groups);
    this.rnd = o.random ?? Math.random;
    this.version = o.agentVersion;
  }

  get connected(): boolean {
    return this.up;
  }

  /** Connects; resolves at the first CONNACK (or rejects on the first error). */
  start(): Promise<void> {
    this.stopping = false;
    const o = this.o;
    const client = mqtt.connect(o.url, {
      ...o.mqtt,
      clientId: o.deviceId,
      clean: false,
      ...(o.mqtt.protocolVersion === 5 ? { properties: { sessionExpiryInterval: o.sessionExpiryS } } : {}),
      // Jittered, so a broker restart is not met by the whole fleet in the same second.
      reconnectPeriod: 1000 + Math.floor(this.rnd() * 4000),
      resubscribe: false,
      queueQoSZero: false,
      will: {
        topic: this.topics.status,
        payload: Buffer.from(JSON.stringify(buildWill(this.bootId))),
        ...PUBLISH_OPTS.status,
      },
    });
    this.client = client;
    client.on('connect', (ack) => this.onConnect(ack.sessionPresent === true));
    client.on('close', () => {
      if (this.up) this.o.counters.connected--;
      this.up = false;
    });
    client.on('error', () => {}); // 'close' follows; mqtt.js reconnects
    client.on('message', (topic, payload) => void this.onCommand(topic, payload));
    return new Promise((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
  }

  private onConnect(sessionPresent: boolean): void {
    this.up = true;
    this.o.counters.connected++;
    const c = this.client!;
    c.publish(this.topics.status, JSON.stringify(this.birth()), PUBLISH_OPTS.status);
    this.o.counters.births++;
    if (!sessionPresent) c.subscribe([this.topics.deviceCmd, ...this.topics.groupCmds], { qos: 1 });
    this.heartbeat();
    // Jittered start, then every period: a fleet started together does not beat together.
    clearTimeout(this.hbTimer);
    this.hbTimer = setTimeout(
      () => {
        this.heartbeat();
        this.hbTimer = setInterval(() => this.heartbeat(), this.o.heartbeatMs);
      },
      Math.floor(this.rnd() * this.o.heartbeatMs),
    );
    this.flushOutbox();
    this.armPlay();
  }

  birth(): Birth & { arch: string; update: UpdateState } {
    return simBirth(this.o, this.reported(), this.rnd);
  }

  heartbeatState(): Heartbeat & { update: UpdateState } {
    return simHeartbeat(this.reported(), this.rnd);
  }

  private reported(): ReportedState {
    return {
      bootId: this.bootId,
      bootedAt: this.bootedAt,
      epoch: this.epoch,
      version: this.version,
      updateState: this.updateState,
      play: this.play,
      volume: this.volume,
      outbox: this.outbox.length,
    };
  }

  private heartbeat(): void {
    // Skipped while offline, as the agent does: a late heartbeat would mislead the NOC.
    if (!this.up || !this.client) return;
    this.client.publish(this.topics.heartbeat, JSON.stringify(this.heartbeatState()), PUBLISH_OPTS.heartbeat);
    this.o.counters.heartbeats++;
  }

  /** Appends to the in-memory outbox and sends (QoS 1); kept until the broker acknowledges. */
  emit(type: string, fields: Record<string, unknown>): void {
    const seq = ++this.seq;
    const body = JSON.stringify({ epoch: this.epoch, seq, ts: new Date().toISOString(), type, ...fields });
    this.outbox.push({ seq, body });
    this.send(seq, body);
  }

  private send(seq: number, body: string): void {
    if (!this.up || !this.client) return;
    this.client.publish(this.topics.events, body, PUBLISH_OPTS.events, (err) => {
      if (err) return; // resent from the outbox on the next connection
      const i = this.outbox.findIndex((e) => e.seq === seq);
      if (i !== -1) this.outbox.splice(i, 1);
      this.o.counters.events++;
    });
  }

  private flushOutbox(): void {
    for (const e of [...this.outbox]) this.send(e.seq, e.body);
  }

  private armPlay(): void {
    clearTimeout(this.playTimer);
    if (!this.o.playEveryMs || this.stopping) return;
    const wait = -Math.log(1 - this.rnd()) * this.o.playEveryMs;
    this.playTimer = setTimeout(() => {
      if (!this.play) {
        const occ = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
        this.startPlay(
          {
            itemId: 'sim-news',
            docId: 'sim-daily',
            docVersion: 1,
            occurrence: occ,
            lateMs: Math.floor(this.rnd() * 40),
            source: 'file',
            priority: 50,
          },
          2000 + this.rnd() * 8000,
        );
      }
      this.armPlay();
    }, wait);
  }

  private startPlay(fields: Play['fields'], durationMs: number): void {
    if (this.play) this.endPlay('play.interrupted', 'preempted');
    this.emit('play.started', fields);
    const timer = setTimeout(() => this.endPlay('play.finished'), durationMs);
    this.play = { fields, startedAt: Date.now(), timer };
    this.heartbeat(); // on state change
  }

  private endPlay(type: 'play.finished' | 'play.interrupted', reason?: string): string | null {
    const p = this.play;
    if (!p) return null;
    clearTimeout(p.timer);
    this.play = undefined;
    // A healthy IO board of protocol 1.2 (contract v1.2 §9): the output sounded throughout.
    const output: SoundOutput = { measured: true, levelDb: Math.round(-90 + this.rnd() * 60) / 10, silentMs: 0 };
    this.emit(type, { ...p.fields, playedMs: Date.now() - p.startedAt, output, ...(reason ? { reason } : {}) });
    this.heartbeat();
    return p.fields.itemId;
  }

  private async onCommand(topic: string, payload: Buffer): Promise<void> {
    this.o.counters.commands++;
    // Contract v1.1 §2.1: the command must list the device or group of the topic it came on.
    const binding = bindingsFor(this.o.root, this.o.deviceId, this.o.groups, 'cmd').get(topic);
    const v = verifyCommand(payload, this.o.keys, {
      deviceId: this.o.deviceId,
      groups: this.o.groups,
      now: Date.now(),
      maxBytes: DEFAULT_MAX_DOC_BYTES,
      ...(binding ? { binding } : {}),
      seen: (id) => this.seen.has(id),
    });
    if (!v.ok) {
      // Contract §4: a payload with no readable id cannot get a result; it becomes an event.
      // The agent leaves reading an unverified payload's claimed id to its caller.
      const cmdId = v.cmdId ?? (v.unverified ? claimedId(payload) : null);
      if (cmdId === null) this.emit('cmd.rejected', { topic, reason: v.code, message: v.message });
      else this.result(cmdId, false, { error: { code: v.code, message: v.message } });
      return;
    }
    this.seen.add(v.doc.id); // at most once per id (in memory: a simulated box)
    if (v.doc.action === 'update') return this.onUpdate(v.doc);
    this.result(v.doc.id, true, { result: this.execute(v.doc) });
  }

  private execute(cmd: CommandDoc): unknown {
    switch (cmd.action) {
      case 'ping':
        return { birth: this.birth(), heartbeat: this.heartbeatState() };
      case 'play': {
        const a = cmd.args;
        const durationMs = Math.min((a.durationS ?? 10) * 1000, 600_000);
        this.startPlay(
          {
            itemId: cmd.id,
            docId: null,
            docVersion: null,
            occurrence: new Date().toISOString(),
            lateMs: 0,
            source: a.source.kind,
            priority: a.priority,
            cmdId: cmd.id,
          },
          durationMs,
        );
        return { itemId: cmd.id };
      }
      case 'stop':
        return {
          stopped:
            cmd.args.itemId && this.play?.fields.itemId !== cmd.args.itemId
              ? null
              : this.endPlay('play.interrupted', 'stopped'),
        };
      case 'volume':
        this.volume = cmd.args.level;
        this.heartbeat();
        return { level: this.volume };
      case 'volume-profile':
        return {
          source: cmd.args.profile ? 'command' : 'config',
          windows: cmd.args.profile?.windows.length ?? 0,
          simulated: true,
        };
      case 'sync':
        return { replanned: true };
      case 'clock':
        return { lowerBound: { before: null, after: null }, simulated: true };
      case 'selftest':
        return { amp: 'ok', line: 'ok', mcu: 'ok', fm: 'ok', simulated: true };
      case 'restart':
      case 'reboot':
        setTimeout(() => void this.restart(), cmd.action === 'reboot' ? 2000 : 200);
        return { [cmd.action === 'reboot' ? 'rebooting' : 'restarting']: true };
    }
  }

  private onUpdate(doc: UpdateDoc): void {
    const a = acceptUpdate(doc, this.o.arch ?? 'arm64', this.version, this.updateState !== null);
    if (!a.ok) return this.result(doc.id, false, { error: { code: a.code, message: a.message } });
    this.result(doc.id, true, { result: a.result });
    if (a.result.state === 'queued') this.runUpdate(doc);
  }

  /** Download, install, restart on trial, then commit or roll back: the events of docs/ota.md. */
  private runUpdate(doc: UpdateDoc): void {
    const cmdId = doc.id;
    const { version } = doc.args;
    const previous = this.version;
    const step = this.o.updateStepMs ?? 1000;
    this.updateState = { pending: { version, state: 'downloading' } };
    this.emit('update.started', {
      cmdId,
      version,
      from: previous,
      bytes: doc.args.delta?.bytes ?? doc.args.bytes,
      delta: doc.args.delta !== undefined && doc.args.delta.from === previous,
    });
    this.updateTimer = setTimeout(() => {
      this.emit('update.installed', { cmdId, version, previous });
      const since = Date.now();
      this.version = version;
      this.updateState = { trial: { version, previous, since: new Date(since).toISOString() } };
      void this.restart(true).then(() => {
        this.updateTimer = setTimeout(() => {
          if (this.o.updateOutcome?.(this.o.deviceId) === 'rollback') {
            // The launcher switched back and started the old version, which reports it.
            this.version = previous;
            this.updateState = null;
            void this.restart(true).then(() =>
              this.emit('update.rolledback', {
                cmdId,
                version,
                previous,
                reason: 'exited',
                detail: 'exited before commit (start 2)',
                logTail: ['simulated: the new version exited at start'],
              }),
            );
          } else {
            this.updateState = null;
            this.emit('update.committed', { cmdId, version, previous, trialMs: Date.now() - since });
            this.heartbeat();
          }
        }, step);
      });
    }, step);
  }

  private result(cmdId: string, ok: boolean, body: { result?: unknown; error?: unknown }): void {
    this.client?.publish(
      this.topics.cmdResult,
      JSON.stringify({ cmdId, ok, ts: new Date().toISOString(), ...body }),
      PUBLISH_OPTS.cmdResult,
      (err) => {
        if (!err) this.o.counters.results++;
      },
    );
  }

  /** A new process on the box: clean death, new bootId (and will), new birth. */
  private async restart(keepUpdate = false): Promise<void> {
    await this.stop(3000, keepUpdate);
    this.bootId = randomUUID();
    this.bootedAt = Date.now();
    await this.start().catch(() => {});
  }

  /** Clean shutdown: the retained death with this boot's id, acknowledged, then disconnect. */
  async stop(timeoutMs = 3000, keepUpdate = false): Promise<void> {
    this.stopping = true;
    if (!keepUpdate) clearTimeout(this.updateTimer);
    clearTimeout(this.hbTimer);
    clearInterval(this.hbTimer);
    clearTimeout(this.playTimer);
    // As the agent does on SIGTERM: what plays is interrupted (agent-restart) before the death.
    this.endPlay('play.interrupted', 'agent-restart');
    const c = this.client;
    if (!c) return;
    const deadline = Date.now() + timeoutMs;
    while (c.connected && this.outbox.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.client = undefined;
    const timeout = new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref());
    if (c.connected) {
      await Promise.race([
        publishTo(c, 'status', this.topics.status, buildShutdown(new Date(), this.bootId)),
        timeout,
      ]).catch(() => {});
    }
    await Promise.race([c.endAsync(false), timeout]).catch(() => {});
    if (!c.disconnected) c.end(true);
    c.removeAllListeners();
    c.on('error', () => {});
    if (this.up) this.o.counters.connected--;
    this.up = false;
  }
}
