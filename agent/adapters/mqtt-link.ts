// The MQTT link (mqtt.js), docs/protocol.md §1 and §5.
//
// - Persistent session: clean=false, and on MQTT 5 a session expiry, so QoS 1 commands
//   sent while the box was offline reach it when it returns.
// - The last will is the retained death of this boot; birth is published by whoever
//   listens to 'up' (it runs before anything else is published on that connection).
// - We own reconnection: mqtt.js retries at a fixed period, which after a broker
//   restart makes a whole fleet knock in the same second. reconnectPeriod is 0 and
//   a capped, fully jittered backoff (domain/backoff.ts) schedules client.reconnect().
// - mqtt.js's reconnect() starts each connection with an empty outgoing store, so it
//   never re-sends anything by itself: what must arrive (events) is re-sent by its
//   owner from durable storage, in order (runtime/outbox-sender.ts).
// - Subscriptions are (re)made on every connection where the broker kept no session.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { IClientOptions, MqttClient, IConnackPacket } from 'mqtt';
import { mqtt } from '../../cli-kit/mqtt-lib.js';
import { Backoff, type BackoffPolicy } from '../domain/backoff.js';
import { LoaError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { redact } from '../domain/redact.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { within } from '../domain/waitress.js';

/**
 * Where the MQTT link's connection loop is (the systemd watchdog's view, runtime/health.ts). `up`: connected. `retrying`: a reconnect is
 * scheduled or a connection attempt runs; `sinceMono` is when the loop last moved (a
 * retry was scheduled, an attempt began). `idle`: not started, or stopping.
 */
export interface LinkLoopState {
  state: 'up' | 'retrying' | 'idle';
  sinceMono: number;
}

export interface PublishOptions {
  qos: 0 | 1;
  retain: boolean;
}

/**
 * Returns `false` (exactly; anything else is taken) when the message was not taken (its service has stopped: the agent is
 * shutting down, for an update or a restart). A QoS 1 message not taken is never
 * acknowledged, so the broker keeps it in the session and delivers it again to the next
 * connection: an emergency sent while the agent restarts plays after the restart instead
 * of being acknowledged by a process that was leaving and lost.
 */
export type MessageHandler = (topic: string, payload: Buffer, meta: { retain: boolean }) => unknown;

export interface LinkEvents {
  up: [info: { sessionPresent: boolean }];
  down: [info: { error?: LoaError }];
}

/** The port the rest of the agent uses; test/fakes has a fake with the same contract. */
export interface Link extends EventEmitter<LinkEvents> {
  readonly connected: boolean;
  start(): void;
  /** Where the connection loop is, for the systemd watchdog (runtime/health.ts); optional for fakes. */
  readonly loop?: LinkLoopState;
  /** Publish `last` (the clean-shutdown death) if connected, then disconnect. */
  stop(last?: { topic: string; payload: string; opts: PublishOptions }, timeoutMs?: number): Promise<void>;
  /** Resolves when the broker acknowledged (QoS 1) or the packet was written (QoS 0). Rejects when offline. */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void>;
  /** Subscribe now and on every connection that did not resume a session. */
  subscribe(topics: readonly string[], handler: MessageHandler): void;
  /**
   * A subscription for a while (a live session's chunks, contract v1.2 §8): QoS 0, made now
   * and on every connection until the returned function unsubscribes it.
   */
  listen(topic: string, handler: MessageHandler): () => void;
}

export interface MqttLinkOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecureSkipVerify: boolean;
  version: 5 | '3.1.1';
  keepaliveS: number;
  sessionExpiryS: number;
  connectTimeoutS: number;
  backoff: BackoffPolicy;
  will: { topic: string; payload: string };
  log: Logger;
  /**
   * MQTT 5: announced as the client's Maximum Packet Size, so the broker drops anything
   * bigger before it reaches the box (contract v1.1 §7). On 3.1.1 there is no such
   * property; an oversize payload is refused after it arrived.
   */
  maxPacketBytes?: number;
  /** A connection that stays up this long resets the backoff. */
  stableMs?: number;
  random?: () => number;
  /** Timers (reconnect backoff, stable connection, shutdown waits) and the loop's monotonic time; default systemClock. */
  clock?: Clock;
}

export class MqttLink extends EventEmitter<LinkEvents> implements Link {
  private client: MqttClient | undefined;
  private readonly backoff: Backoff;
  private readonly clock: Clock;
  private reconnectTimer: TimerHandle | undefined;
  private stableTimer: TimerHandle | undefined;
  private stopping = false;
  /** Monotonic time of the loop's last step (start, connect, close, retry). */
  private loopStepMono: number;
  private lastErrorKey = '';
  private lastError: LoaError | undefined;
  private readonly subs: { topics: readonly string[]; handler: MessageHandler; qos?: 0 }[] = [];

  constructor(private readonly o: MqttLinkOptions) {
    super();
    this.clock = o.clock ?? systemClock;
    this.loopStepMono = this.clock.monoMs();
    this.backoff = new Backoff(o.backoff, o.random);
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  get loop(): LinkLoopState {
    if (!this.client || this.stopping) return { state: 'idle', sinceMono: this.loopStepMono };
    return { state: this.client.connected ? 'up' : 'retrying', sinceMono: this.loopStepMono };
  }

  start(): void {
    if (this.client) return;
    this.stopping = false;
    this.loopStepMono = this.clock.monoMs();
    const o = this.o;
    const tls = o.url.startsWith('mqtts:');
    const opts: IClientOptions = {
      clientId: o.clientId,
      clean: false,
      protocolVersion: o.version === 5 ? 5 : 4,
      keepalive: o.keepaliveS,
      connectTimeout: o.connectTimeoutS * 1000,
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      // mqtt-packet otherwise pre-builds a 2-byte Buffer for each of the 65,536 packet ids
      // at the first write: 6.2 MB of heap (65,674 Buffers in a heap snapshot of an idle
      // agent) for a box that sends a few packets a minute; ids are then built per packet.
      writeCache: false,
      will: { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: 1, retain: true },
      ...(o.version === 5
        ? {
            properties: {
              sessionExpiryInterval: o.sessionExpiryS,
              ...(o.maxPacketBytes !== undefined ? { maximumPacketSize: o.maxPacketBytes } : {}),
            },
          }
        : {}),
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(tls
        ? {
            rejectUnauthorized: !o.insecureSkipVerify,
            ...(o.ca ? { ca: readFileSync(o.ca) } : {}),
            ...(o.cert ? { cert: readFileSync(o.cert) } : {}),
            ...(o.key ? { key: readFileSync(o.key) } : {}),
          }
        : {}),
    };
    const client = mqtt.connect(o.url, opts);
    this.client = client;
    client.on('connect', (connack: IConnackPacket) => this.onConnect(connack));
    client.on('close', () => this.onClose());
    client.on('error', (err) => this.onError(err));
    // mqtt.js acknowledges a QoS 1 message once handleMessage calls back: a message that a
    // stopping service did not take is left unacknowledged (MessageHandler). The incoming
    // packets of this connection then wait; the connection is about to end, and the next
    // one (a new stream) starts afresh with the broker's redelivery.
    client.handleMessage = (packet, done) => {
      if (packet.cmd !== 'publish' || this.dispatch(packet.topic, packet.payload, packet.retain) || packet.qos === 0)
        return done();
      this.o.log.info(
        { topic: packet.topic },
        'message not taken (stopping): left unacknowledged for the next connection',
      );
    };
  }

  /** Hands a message to every matching subscription; false if one of them did not take it. */
  private dispatch(topic: string, payload: string | Buffer, retain: boolean): boolean {
    const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    let taken = true;
    for (const s of this.subs)
      if (s.topics.some((t) => topicMatches(t, topic)) && s.handler(topic, body, { retain }) === false) taken = false;
    return taken;
  }

  async stop(last?: { topic: string; payload: string; opts: PublishOptions }, timeoutMs = 3000): Promise<void> {
    this.stopping = true;
    this.clock.clearTimeout(this.reconnectTimer);
    this.clock.clearTimeout(this.stableTimer);
    const client = this.client;
    if (!client) return;
    if (last && client.connected) {
      await within(
        this.clock,
        this.publish(last.topic, last.payload, last.opts),
        timeoutMs,
        `the broker's acknowledgement of ${last.topic}`,
      ).catch((err: unknown) => {
        this.o.log.warn({ code: 'MQTT_PUBLISH', err }, 'shutdown status not acknowledged');
      });
    }
    await within(this.clock, client.endAsync(!client.connected), timeoutMs, 'the MQTT disconnection').catch(() =>
      client.end(true),
    );
    client.removeAllListeners();
    // mqtt.js may still emit a late error while tearing down; swallow it rather than crash.
    client.on('error', () => {});
    this.client = undefined;
  }

  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    const client = this.client;
    if (!client?.connected) {
      return Promise.reject(new LoaError('MQTT_OFFLINE', `not connected; ${topic} not published`, { retryable: true }));
    }
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, { qos: opts.qos, retain: opts.retain }, (err) => {
        if (err)
          reject(
            new LoaError('MQTT_PUBLISH', `publish to ${topic} failed: ${err.message}`, { retryable: true, cause: err }),
          );
        else resolve();
      });
    });
  }

  subscribe(topics: readonly string[], handler: MessageHandler): void {
    this.subs.push({ topics, handler });
    if (this.client?.connected) this.subscribeNow(topics);
  }

  listen(topic: string, handler: MessageHandler): () => void {
    const sub = { topics: [topic], handler, qos: 0 as const };
    this.subs.push(sub);
    if (this.client?.connected) this.subscribeNow(sub.topics, 0);
    return () => {
      const i = this.subs.indexOf(sub);
      if (i < 0) return;
      this.subs.splice(i, 1);
      if (this.client?.connected) this.client.unsubscribe(topic);
    };
  }

  private subscribeNow(topics: readonly string[], qos: 0 | 1 = 1): void {
    if (topics.length === 0 || !this.client) return;
    this.client.subscribe([...topics], { qos }, (err) => {
      if (err) this.o.log.error({ code: 'MQTT_CONNECT', err, topics }, 'subscribe failed');
    });
  }

  private onConnect(connack: IConnackPacket): void {
    this.clock.clearTimeout(this.reconnectTimer);
    this.loopStepMono = this.clock.monoMs();
    this.lastErrorKey = '';
    this.lastError = undefined;
    const sessionPresent = connack.sessionPresent === true;
    this.o.log.info({ url: redact(this.o.url), sessionPresent, attempts: this.backoff.attempts }, 'mqtt connected');
    this.clock.clearTimeout(this.stableTimer);
    this.stableTimer = this.clock.setTimeout(() => this.backoff.reset(), this.o.stableMs ?? 60_000, { unref: true });
    // A transient (QoS 0) subscription is made again on every connection: a broker that
    // kept the session has it, and subscribing twice to the same filter is harmless.
    for (const s of this.subs) if (!sessionPresent || s.qos === 0) this.subscribeNow(s.topics, s.qos ?? 1);
    this.emit('up', { sessionPresent });
  }

  private onClose(): void {
    this.clock.clearTimeout(this.stableTimer);
    if (this.stopping) return;
    const delay = this.backoff.next();
    this.o.log.warn(
      {
        code: this.lastError?.code ?? 'MQTT_CONNECT',
        attempt: this.backoff.attempts,
        retryInMs: delay,
        reason: this.lastError?.message,
      },
      'mqtt disconnected; will retry',
    );
    this.emit('down', this.lastError ? { error: this.lastError } : {});
    this.clock.clearTimeout(this.reconnectTimer);
    this.loopStepMono = this.clock.monoMs();
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.loopStepMono = this.clock.monoMs();
      if (!this.stopping) this.client?.reconnect();
    }, delay);
  }

  private onError(err: Error & { code?: string | number }): void {
    const e = classify(err);
    this.lastError = e;
    // One log line per distinct failure, not one per retry.
    const key = `${e.code}:${e.message}`;
    if (key !== this.lastErrorKey) {
      this.lastErrorKey = key;
      this.o.log.error({ code: e.code, err: e.message, retryable: e.retryable }, 'mqtt connection error');
    }
  }
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|TLS|SSL|HOSTNAME|ALTNAME|ERR_OSSL/i;

function classify(err: Error & { code?: string | number }): LoaError {
  const code = String(err.code ?? '');
  let kind: ErrorCode = 'MQTT_CONNECT';
  let retryable = true;
  if (TLS_CODES.test(code) || /certificate|handshake|ssl|tls/i.test(err.message)) {
    kind = 'MQTT_TLS';
    retryable = false;
  } else if (
    code === '4' ||
    code === '5' ||
    code === '134' ||
    code === '135' ||
    /not authori[sz]ed|bad user ?name or password/i.test(err.message)
  ) {
    kind = 'MQTT_AUTH';
    retryable = false;
  }
  // "Not retryable" means nobody should expect it to fix itself; we still retry (slowly,
  // with backoff): a certificate can be renewed or a password reset at the centre.
  return new LoaError(kind, `${err.message}${code ? ` (${code})` : ''}`, { retryable, cause: err });
}

/** MQTT topic filter matching with + and #. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
