// What every Link must do, whatever carries the messages: the services (presence,
// heartbeat, outbox sender, schedule intake, commands) rely on exactly this (STYLE habit
// 9). Run against MqttLink with a real Mosquitto (test/integration/mqtt-link.test.ts) and
// against test/fakes/fake-link.ts (test/unit/fake-link.test.ts), so the fake that the
// services' unit tests use cannot drift from the real thing.
//
// Timings are generous: CI is a shared, noisy 2-core machine.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Link } from '../../agent/adapters/mqtt-link.js';

export interface CentreMessage {
  topic: string;
  payload: string;
  retain: boolean;
}

/** One link under test, the centre on the other side of the broker, and the network between. */
export interface LinkRig {
  /** Not started yet. */
  link: Link;
  /** The centre publishes (QoS 1). */
  publish(topic: string, payload: string, opts?: { retain?: boolean }): Promise<void>;
  /** What the centre has received on `filter` since the rig was made (it subscribed first). */
  received(filter: string): CentreMessage[];
  /** The broker becomes unreachable: the link must say 'down'. */
  outage(): Promise<void>;
  /** The broker is back: the link must reconnect by itself. */
  restore(): Promise<void>;
  close(): Promise<void>;
  /**
   * How long a message takes to cross the broker, for the checks that something did NOT
   * arrive and for a subscription to be in place (default 300 ms; an in-memory fake needs ~0).
   */
  settleMs?: number;
}

/** `prefix` is unique to the rig: retained messages of one test never reach another. */
export type MakeLinkRig = (prefix: string) => Promise<LinkRig>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(check: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

const settle = (r: LinkRig) => sleep(r.settleMs ?? 300);

const UP_MS = 10_000;
const MSG_MS = 5000;
let n = 0;

export function linkContract(name: string, make: MakeLinkRig): void {
  describe(`Link contract: ${name}`, () => {
    const withRig = (title: string, body: (r: LinkRig, p: string) => Promise<void>): void => {
      test(title, async () => {
        const prefix = `contract/${name.replace(/\W+/g, '-')}/${process.pid}-${++n}`;
        const r = await make(prefix);
        try {
          await body(r, prefix);
        } finally {
          await r.close();
        }
      });
    };

    withRig(
      'before start it is not connected and publish rejects with MQTT_OFFLINE; start brings one up',
      async (r, p) => {
        const ups: boolean[] = [];
        r.link.on('up', ({ sessionPresent }) => ups.push(sessionPresent));
        assert.equal(r.link.connected, false);
        await assert.rejects(
          r.link.publish(`${p}/x`, 'y', { qos: 1, retain: false }),
          (e: Error & { code?: string }) => e.code === 'MQTT_OFFLINE',
        );
        r.link.start();
        await until(() => ups.length === 1, UP_MS, "'up'");
        assert.equal(r.link.connected, true);
        assert.equal(typeof ups[0], 'boolean');
      },
    );

    withRig(
      'publish resolves once the broker has it; the centre receives topic, payload and retain flag',
      async (r, p) => {
        r.link.start();
        await until(() => r.link.connected, UP_MS, 'connection');
        await r.link.publish(`${p}/events`, '{"seq":1}', { qos: 1, retain: false });
        await r.link.publish(`${p}/hb`, 'beat', { qos: 0, retain: false });
        await r.link.publish(`${p}/status`, 'online', { qos: 1, retain: true });
        const got = await until(
          () => (r.received(`${p}/#`).length >= 3 ? r.received(`${p}/#`) : undefined),
          MSG_MS,
          'three messages at the centre',
        );
        assert.deepEqual(
          got.map((m) => [m.topic, m.payload]),
          [
            [`${p}/events`, '{"seq":1}'],
            [`${p}/hb`, 'beat'],
            [`${p}/status`, 'online'],
          ],
        );
      },
    );

    withRig(
      'subscriptions follow MQTT filters (+ and #): matching messages arrive as Buffers, others never',
      async (r, p) => {
        const got: [string, string, boolean][] = [];
        r.link.subscribe([`${p}/d/box/cmd`, `${p}/g/+/cmd`, `${p}/all/#`], (topic, payload, meta) => {
          assert.ok(Buffer.isBuffer(payload));
          got.push([topic, payload.toString('utf8'), meta.retain]);
        });
        r.link.start();
        await until(() => r.link.connected, UP_MS, 'connection');
        await settle(r); // the subscription reaches the broker
        await r.publish(`${p}/d/box/cmd`, 'one');
        await r.publish(`${p}/d/other/cmd`, 'not mine');
        await r.publish(`${p}/g/c26734/cmd`, 'two');
        await r.publish(`${p}/g/c26734/cmd/extra`, 'too deep for +');
        await r.publish(`${p}/all/x/y`, 'three');
        await until(() => got.length >= 3, MSG_MS, 'three deliveries');
        await settle(r); // nothing else trickles in
        assert.deepEqual(got, [
          [`${p}/d/box/cmd`, 'one', false],
          [`${p}/g/c26734/cmd`, 'two', false],
          [`${p}/all/x/y`, 'three', false],
        ]);
      },
    );

    withRig(
      'a retained message is delivered on subscription with retain set; an empty retained payload clears it',
      async (r, p) => {
        await r.publish(`${p}/schedule`, 'doc v1', { retain: true });
        await r.publish(`${p}/gone`, 'old', { retain: true });
        await r.publish(`${p}/gone`, '', { retain: true });
        await settle(r);
        const got: [string, string, boolean][] = [];
        r.link.subscribe([`${p}/schedule`, `${p}/gone`], (topic, payload, meta) =>
          got.push([topic, payload.toString(), meta.retain]),
        );
        r.link.start();
        await until(() => got.length >= 1, MSG_MS, 'the retained document');
        await settle(r);
        assert.deepEqual(got, [[`${p}/schedule`, 'doc v1', true]]);
      },
    );

    withRig('the link hears its own messages on topics it subscribed to', async (r, p) => {
      const got: string[] = [];
      r.link.subscribe([`${p}/loop`], (_t, payload) => got.push(payload.toString()));
      r.link.start();
      await until(() => r.link.connected, UP_MS, 'connection');
      await settle(r);
      await r.link.publish(`${p}/loop`, 'echo', { qos: 1, retain: false });
      await until(() => got.length === 1, MSG_MS, 'its own message');
      assert.deepEqual(got, ['echo']);
    });

    withRig(
      'a message a handler did not take (it returned false: its service is stopping) is delivered again after a restart, once taken',
      async (r, p) => {
        let taking = false;
        const offered: string[] = [];
        const got: string[] = [];
        r.link.subscribe([`${p}/cmd`], (_t, payload) => {
          offered.push(payload.toString());
          if (!taking) return false;
          got.push(payload.toString());
          return true;
        });
        r.link.start();
        await until(() => r.link.connected, UP_MS, 'connection');
        await settle(r);
        await r.publish(`${p}/cmd`, 'emergency');
        await until(() => offered.length === 1, MSG_MS, 'the first offer');
        await r.link.stop();
        // The next process of the same box: the same session.
        taking = true;
        r.link.start();
        await until(() => got.length === 1, MSG_MS, 'the message again after the restart');
        await settle(r);
        assert.deepEqual(got, ['emergency']);
        assert.deepEqual(offered, ['emergency', 'emergency']);
      },
    );

    withRig(
      'an outage: down, publish rejects with MQTT_OFFLINE; back: up again by itself, subscriptions work',
      async (r, p) => {
        let ups = 0;
        let downs = 0;
        r.link.on('up', () => ups++);
        r.link.on('down', () => downs++);
        const got: string[] = [];
        r.link.subscribe([`${p}/cmd`], (_t, payload) => got.push(payload.toString()));
        r.link.start();
        await until(() => ups === 1, UP_MS, 'first connection');
        await r.outage();
        await until(() => downs >= 1, MSG_MS, "'down'");
        assert.equal(r.link.connected, false);
        await assert.rejects(
          r.link.publish(`${p}/x`, 'y', { qos: 1, retain: false }),
          (e: Error & { code?: string }) => e.code === 'MQTT_OFFLINE',
        );
        await r.restore();
        await until(() => ups === 2 && r.link.connected, UP_MS, 'reconnection');
        await settle(r);
        await r.publish(`${p}/cmd`, 'after');
        await until(() => got.includes('after'), MSG_MS, 'a message after the outage');
      },
    );

    withRig(
      'stop(last) publishes the last message, disconnects without announcing down; later publishes reject',
      async (r, p) => {
        let downs = 0;
        r.link.on('down', () => downs++);
        r.link.start();
        await until(() => r.link.connected, UP_MS, 'connection');
        await r.link.stop({ topic: `${p}/status`, payload: 'shutdown', opts: { qos: 1, retain: true } });
        assert.equal(r.link.connected, false);
        await until(() => r.received(`${p}/status`).length === 1, MSG_MS, 'the shutdown status');
        assert.equal(r.received(`${p}/status`)[0]!.payload, 'shutdown');
        await assert.rejects(
          r.link.publish(`${p}/x`, 'y', { qos: 1, retain: false }),
          (e: Error & { code?: string }) => e.code === 'MQTT_OFFLINE',
        );
        await settle(r);
        assert.equal(downs, 0);
        await r.link.stop(); // idempotent
      },
    );
  });
}
