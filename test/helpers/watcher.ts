// The centre's side in tests: a plain mqtt.js subscriber that records what arrives.
import type { IClientOptions, MqttClient } from 'mqtt';
import { mqtt } from '../../cli-kit/mqtt-lib.js';

// The tests build topics as the centre does: with the contract's one module.
export { DEFAULT_ROOT, deviceFilter, deviceTopic, fleetFilter, groupTopic, topicsFor } from '../../contract/index.js';

export interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
  at: number;
  json<T = Record<string, unknown>>(): T;
}

const SYNC_PREFIX = 'loa-test/sync/';

export class Watcher {
  readonly messages: Received[] = [];
  private waiters: (() => void)[] = [];
  private wake: NodeJS.Timeout | undefined;
  private syncs = 0;
  private readonly synced = new Set<string>();

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      if (topic.startsWith(SYNC_PREFIX)) return void this.synced.add(topic); // not one of the messages seen
      let parsed: unknown;
      this.messages.push({
        topic,
        payload,
        retain: packet.retain,
        at: Date.now(),
        json: () => (parsed ??= JSON.parse(payload.toString())) as never,
      });
      // Checks may scan every message: run them at most every 20 ms, not per message.
      this.wake ??= setTimeout(() => {
        this.wake = undefined;
        for (const w of this.waiters) w();
      }, 20);
    });
  }

  static async connect(url: string, filters: string[], opts: IClientOptions = {}): Promise<Watcher> {
    const client = mqtt.connect(url, { reconnectPeriod: 200, connectTimeout: 5000, ...opts });
    const w = new Watcher(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(filters, { qos: 1 });
    return w;
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  /** Resolve with the first message (already received or future) matching `pred`. */
  waitFor(pred: (m: Received) => boolean, timeoutMs: number, what: string): Promise<Received> {
    return this.waitUntil(() => this.messages.find(pred), timeoutMs, what);
  }

  /** Resolve when `check` returns something other than undefined. */
  waitUntil<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const tryNow = () => {
        const v = check();
        if (v !== undefined) {
          cleanup();
          resolve(v);
        }
      };
      // Conditions may also change without a message (a counter in the test): poll too.
      const poll = setInterval(tryNow, 50);
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.messages.length} messages seen)`),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters = this.waiters.filter((w) => w !== tryNow);
      };
      this.waiters.push(tryNow);
      tryNow();
    });
  }

  /**
   * Resolves once everything the broker had queued for this watcher when called has
   * arrived: a marker published on a topic of its own comes back behind it. What a
   * client published with QoS 1 and saw acknowledged before this call is then here, or
   * never will be.
   */
  async sync(timeoutMs = 10_000): Promise<void> {
    const topic = `${SYNC_PREFIX}${this.client.options.clientId ?? 'watcher'}/${++this.syncs}`;
    await this.client.subscribeAsync(topic, { qos: 1 });
    await this.client.publishAsync(topic, 'sync', { qos: 1 });
    await this.waitUntil(() => (this.synced.has(topic) ? true : undefined), timeoutMs, `the sync marker ${topic}`);
    await this.client.unsubscribeAsync(topic);
  }

  async close(): Promise<void> {
    clearTimeout(this.wake);
    await this.client.endAsync(true);
  }
}
