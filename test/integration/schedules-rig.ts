// The rig of the signed-schedule tests (schedules.test.ts: intake; schedules-play.test.ts:
// occurrences on time): the file's broker and centre key, in-process agents of one box
// with the stand-in player, watchers, and publish helpers. Agents and watchers a test
// leaves are stopped after it. Registers the file's hooks.
import { before, after, afterEach } from 'node:test';
import { join } from 'node:path';
import { mqtt } from '../../cli-kit/mqtt-lib.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { DEFAULT_ROOT, deviceTopic, groupTopic, Watcher } from '../helpers/watcher.js';
import { makeKey, scheduleDoc, type TestKey } from '../helpers/signer.js';
import { parseConfig } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import { Agent } from '../../agent/compose/agent.js';
import { ManualClock } from '../fakes/manual-clock.js';

export let broker: TestBroker;
export let key: TestKey;
export const rogue = makeKey('centre-2026'); // same kid, different key: an intruder
before(async () => {
  broker = await startBroker();
  key = makeKey('centre-2026');
});
after(async () => {
  await broker.close();
});

export const DEVICE = 'vn-79-26734-01';
export const SCHED = deviceTopic(DEFAULT_ROOT, DEVICE, 'schedule');
export const GROUP_SCHED = groupTopic(DEFAULT_ROOT, 'c26734', 'schedule');
export const EVENTS = deviceTopic(DEFAULT_ROOT, DEVICE, 'events');

export function makeAgent(stateDir: string, over: Record<string, unknown> = {}, clock?: ManualClock): Agent {
  const config = parseConfig({
    deviceId: DEVICE,
    groups: ['all', 'c26734'],
    mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1', reconnect: { minS: 1, maxS: 2 } },
    trustedKeys: [{ kid: key.kid, publicKey: key.publicKey }],
    stateDir,
    cacheDir: join(stateDir, '..', 'cache'),
    hardware: { ampWarmUpMs: 1000 },
    // These tests are about scheduling; test/integration/playback.test.ts plays real audio.
    audio: { player: 'stand-in' },
    ...over,
  });
  const agent = new Agent({
    config,
    log: createLogger({ level: 'silent', pretty: false }),
    ...(clock ? { clock } : {}),
  });
  live.push(agent);
  return agent;
}

// A failed assertion must not leave an agent or a watcher running: their timers and
// sockets would keep this file's process alive and the run would hang, not report.
export const live: Agent[] = [];
export const watchers: Watcher[] = [];
export async function watch(topics: string[]): Promise<Watcher> {
  const w = await Watcher.connect(broker.url, topics);
  watchers.push(w);
  return w;
}
afterEach(async () => {
  for (const a of live.splice(0)) await a.stop();
  for (const w of watchers.splice(0)) await w.close();
});

export async function publish(topic: string, payload: string | Buffer, retain = true): Promise<void> {
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  await c.publishAsync(topic, payload, { qos: 1, retain });
  await c.endAsync();
}

export async function clearRetained(): Promise<void> {
  await publish(SCHED, '');
  await publish(GROUP_SCHED, '');
}

export function eventsOf(w: Watcher, type: string): Record<string, unknown>[] {
  return w
    .on(EVENTS)
    .map((m) => m.json())
    .filter((e) => e.type === type);
}

export async function started(agent: Agent, w: Watcher): Promise<void> {
  await agent.start();
  await w.waitUntil(() => (agent.link.connected ? true : undefined), 10_000, 'agent connected');
}

/** A document for this box's own topic: contract v1.1 binds it to the device it names. */
export const boxDoc = (over: Record<string, unknown> = {}) => scheduleDoc({ target: { devices: [DEVICE] }, ...over });

export const soon = (ms: number) => new Date(Date.now() + ms).toISOString();
