// The centre's side in tests: a plain mqtt.js subscriber that records what arrives.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

// The tests build topics as the centre does: with the contract's one module.
export { DEFAULT_ROOT, deviceFilter, deviceTopic, fleetFilter, groupTopic, topicsFor } from '../../contract/index.js';

export interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
  at: number;
  json<T = Record<string, unknown>>(): T;
}

export class Watcher {
  readonly messages: Received[] = [];
  private waiters: (() => void)[] = [];
  private wake: NodeJS.Timeout | undefined;

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
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

  async close(): Promise<void> {
    clearTimeout(this.wake);
    await this.client.endAsync(true);
  }
}
