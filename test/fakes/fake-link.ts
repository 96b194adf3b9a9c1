// An in-memory Link (the port of agent/adapters/mqtt-link.ts) with a broker of one
// client behind it: publish/subscribe with MQTT topic filters, retained messages,
// connected/up/down, and the test in the centre's seat (inject() what the centre
// publishes, read `published` for what reached the broker, goOffline()/goOnline() for an
// outage). It passes the same contract as MqttLink against Mosquitto
// (test/contract/link.contract.ts).
//
// Like the real link, nothing is synchronous: 'up', deliveries and acknowledgements come
// a microtask later, so code that only works because the fake answered at once fails
// here too. Messages the centre sends while the box is offline wait in its persistent
// session and arrive after the next 'up' (sessionPresent: true), as with clean=false; so
// does one a handler did not take (it returned false), as an unacknowledged QoS 1 message.
import { EventEmitter } from 'node:events';
import { LoaError } from '../../agent/errors.js';
import {
  topicMatches,
  type Link,
  type LinkEvents,
  type MessageHandler,
  type PublishOptions,
} from '../../agent/adapters/mqtt-link.js';

export interface Published {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
}

export interface FakeLinkOptions {
  /** Whether start() connects (default true); false: the broker is unreachable until goOnline(). */
  online?: boolean;
}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
  topic: string;
}

export class FakeLink extends EventEmitter<LinkEvents> implements Link {
  /** Everything the broker accepted from the box, in order (the shutdown message included). */
  readonly published: Published[] = [];
  /** The broker's retained messages. */
  readonly retained = new Map<string, Buffer>();
  private readonly subs: { topics: readonly string[]; handler: MessageHandler }[] = [];
  private readonly session: { topic: string; payload: Buffer }[] = [];
  private readonly held: Pending[] = [];
  private isConnected = false;
  private started = false;
  private reachable: boolean;
  private holding = false;
  /** Connections made so far. */
  connections = 0;

  constructor(o: FakeLinkOptions = {}) {
    super();
    this.reachable = o.online ?? true;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.reachable) this.connectSoon(false);
  }

  async stop(last?: { topic: string; payload: string; opts: PublishOptions }): Promise<void> {
    if (last && this.isConnected) await this.publish(last.topic, last.payload, last.opts).catch(() => undefined);
    this.started = false;
    // A clean stop: no 'down' (the real link does not announce its own disconnection).
    this.drop(new LoaError('MQTT_OFFLINE', 'link stopped', { retryable: true }));
  }

  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    if (!this.isConnected)
      return Promise.reject(new LoaError('MQTT_OFFLINE', `not connected; ${topic} not published`, { retryable: true }));
    const body = Buffer.from(payload);
    return new Promise<void>((resolve, reject) => {
      const ack = () => {
        this.published.push({ topic, payload: body, qos: opts.qos, retain: opts.retain });
        this.toBroker(topic, body, opts.retain);
        resolve();
      };
      if (this.holding && opts.qos === 1) this.held.push({ resolve: ack, reject, topic });
      else queueMicrotask(ack);
    });
  }

  subscribe(topics: readonly string[], handler: MessageHandler): void {
    this.subs.push({ topics, handler });
    if (!this.isConnected) return;
    // A new subscription gets the retained messages it matches, flagged retained.
    for (const [topic, payload] of this.retained) {
      if (topics.some((f) => topicMatches(f, topic))) queueMicrotask(() => handler(topic, payload, { retain: true }));
    }
  }

  listen(topic: string, handler: MessageHandler): () => void {
    const sub = { topics: [topic], handler };
    this.subs.push(sub);
    return () => {
      const i = this.subs.indexOf(sub);
      if (i >= 0) this.subs.splice(i, 1);
    };
  }

  // --- the test's side: the centre, the broker, the network ---

  /** The centre publishes: delivered to the box's matching subscriptions (queued in its session while offline). */
  inject(topic: string, payload: string | Buffer, opts: { retain?: boolean } = {}): void {
    const body = Buffer.from(payload);
    if (opts.retain) this.retain(topic, body);
    if (!this.isConnected) {
      if (this.subs.some((s) => s.topics.some((f) => topicMatches(f, topic))))
        this.session.push({ topic, payload: body });
      return;
    }
    this.deliver(topic, body, false);
  }

  /** The connection drops ('down'); publishes awaiting their acknowledgement fail. */
  goOffline(error?: LoaError): void {
    this.reachable = false;
    if (!this.isConnected) return;
    this.drop(new LoaError('MQTT_PUBLISH', 'connection lost before the acknowledgement', { retryable: true }));
    this.emit('down', error ? { error } : {});
  }

  /** The broker is reachable again: the link reconnects ('up', session present). */
  goOnline(): void {
    this.reachable = true;
    if (this.started && !this.isConnected) this.connectSoon(true);
  }

  /** Hold the broker's QoS 1 acknowledgements (a slow or lossy broker) until releaseAcks(). */
  holdAcks(): void {
    this.holding = true;
  }

  /** Acknowledge what was held, in order, and stop holding. */
  releaseAcks(): void {
    this.holding = false;
    for (const p of this.held.splice(0)) p.resolve();
  }

  /** Payloads (parsed JSON) the box published on topics matching `filter`. */
  json<T = Record<string, unknown>>(filter: string): T[] {
    return this.published
      .filter((p) => topicMatches(filter, p.topic))
      .map((p) => JSON.parse(p.payload.toString('utf8')) as T);
  }

  private connectSoon(sessionPresent: boolean): void {
    queueMicrotask(() => {
      if (!this.started || !this.reachable || this.isConnected) return;
      this.isConnected = true;
      this.connections++;
      const present = sessionPresent && this.connections > 1;
      this.emit('up', { sessionPresent: present });
      if (!present) {
        // Subscribed afresh: the broker sends the retained messages they match.
        for (const s of this.subs)
          for (const [topic, payload] of this.retained)
            if (s.topics.some((f) => topicMatches(f, topic)))
              queueMicrotask(() => s.handler(topic, payload, { retain: true }));
      }
      for (const m of this.session.splice(0)) this.deliver(m.topic, m.payload, false);
    });
  }

  private drop(err: Error): void {
    this.isConnected = false;
    for (const p of this.held.splice(0)) p.reject(err);
  }

  private toBroker(topic: string, payload: Buffer, retain: boolean): void {
    if (retain) this.retain(topic, payload);
    // No "no local" option: the box hears its own messages on topics it subscribed to.
    this.deliver(topic, payload, false);
  }

  private retain(topic: string, payload: Buffer): void {
    if (payload.length === 0) this.retained.delete(topic);
    else this.retained.set(topic, payload);
  }

  /** A QoS 1 message a handler did not take (it returned false) stays in the session for the next connection. */
  private deliver(topic: string, payload: Buffer, retain: boolean): void {
    for (const s of this.subs) {
      if (s.topics.some((f) => topicMatches(f, topic)))
        queueMicrotask(() => {
          if (this.isConnected && s.handler(topic, payload, { retain }) === false && !retain)
            this.session.push({ topic, payload });
        });
    }
  }
}
