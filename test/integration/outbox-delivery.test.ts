// Shared contract §7: every event reaches the broker at least once, in seq order,
// across broker outages and kill -9 of the agent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { DEFAULT_ROOT, deviceTopic, Watcher } from '../helpers/watcher.js';
import { spawnAgent, writeConfig } from '../helpers/agent-process.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import { parseConfig } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import { Agent } from '../../agent/compose/agent.js';
import { openDb } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { systemClock } from '../../agent/adapters/clock.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker({ persistent: true });
});
after(async () => {
  await broker.close();
});

/** A centre-side subscriber with a persistent session, so it too misses nothing. */
function centre(clientId: string, topic: string): Promise<Watcher> {
  return Watcher.connect(broker.url, [topic], { clientId, clean: false, protocolVersion: 4 });
}

interface Ev {
  epoch: string;
  seq: number;
  type: string;
}

/** All seqs 1..n present; the first arrival of each is in increasing order. */
function assertCompleteInOrder(events: Ev[], n: number): void {
  const firstSeen: number[] = [];
  const seen = new Set<number>();
  for (const e of events) {
    if (!seen.has(e.seq)) {
      seen.add(e.seq);
      firstSeen.push(e.seq);
    }
  }
  const missing: number[] = [];
  for (let s = 1; s <= n; s++) if (!seen.has(s)) missing.push(s);
  assert.deepEqual(missing.slice(0, 20), [], `${missing.length} events missing`);
  for (let i = 1; i < firstSeen.length; i++) {
    assert.ok(firstSeen[i]! > firstSeen[i - 1]!, `seq ${firstSeen[i]} first arrived after ${firstSeen[i - 1]}`);
  }
}

test('1,000 events emitted while the broker is down are all delivered in order when it returns', async () => {
  const dir = tempDir('outage');
  const config = parseConfig({
    deviceId: 'outage-box',
    mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1', reconnect: { minS: 1, maxS: 2 } },
    stateDir: join(dir, 'state'),
    cacheDir: join(dir, 'cache'),
  });
  const topic = deviceTopic(DEFAULT_ROOT, 'outage-box', 'events');
  const w = await centre('centre-outage', topic);
  let births = 0;
  const agent = new Agent({ config, log: createLogger({ level: 'silent', pretty: false }), onBirth: () => births++ });
  await agent.start();
  try {
    await w.waitUntil(() => (births >= 1 ? true : undefined), 10_000, 'first birth');
    await broker.stop();
    await w.waitUntil(() => (agent.link.connected ? undefined : true), 10_000, 'agent to notice the outage');
    for (let i = 0; i < 1000; i++) {
      agent.events.emit('hw.fault', { component: 'door', code: 'open', message: `test ${i}` });
    }
    assert.equal(agent.outbox.size, 1000, 'all 1,000 are held in the outbox');
    // Down "for a while": two of the agent's retries fail meanwhile.
    let downs = 0;
    agent.link.on('down', () => downs++);
    await until(() => downs >= 2, 15_000, 'two failed retries during the outage');
    await broker.start();
    const events = await w.waitUntil(
      () => {
        const evs = w.on(topic).map((m) => m.json<Ev>());
        return new Set(evs.map((e) => e.seq)).size >= 1000 ? evs : undefined;
      },
      30_000,
      '1,000 events',
    );
    assertCompleteInOrder(events, 1000);
    assert.ok(events.every((e) => e.epoch === agent.outbox.epoch && e.type === 'hw.fault'));
    await w.waitUntil(() => (agent.outbox.size === 0 ? true : undefined), 10_000, 'outbox to empty after PUBACKs');
    assert.ok(births >= 2, 'a new birth after the outage');
  } finally {
    await agent.stop();
    await w.close();
  }
});

test('kill -9 during delivery, then restart: none lost, in order, outbox empty', async () => {
  const dir = tempDir('kill9');
  const stateDir = join(dir, 'state');
  const N = 20_000;
  // Queue N events in the box's database, as a previous run with no network would have.
  const db = openDb(join(stateDir, 'loa.db'));
  const ob = new Outbox(db, { maxEvents: 200_000, clock: systemClock });
  db.transaction(() => {
    for (let i = 0; i < N; i++) ob.emit('media.failed', { mediaId: `m${i}`, sha256: 'ab'.repeat(32), reason: 'test' });
  })();
  const epoch = ob.epoch;
  db.close();

  const topic = deviceTopic(DEFAULT_ROOT, 'kill-box', 'events');
  const w = await centre('centre-kill9', topic);
  const cfg = writeConfig(dir, {
    deviceId: 'kill-box',
    mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1' },
    stateDir,
    cacheDir: join(dir, 'cache'),
  });
  const first = spawnAgent(['--config', cfg]);
  const countSeqs = () => new Set(w.on(topic).map((m) => m.json<Ev>().seq)).size;
  await w.waitUntil(() => (countSeqs() >= 2000 ? true : undefined), 30_000, '2,000 events before the kill');
  await first.kill9();
  const atKill = countSeqs();
  assert.ok(atKill < N, `killed mid-delivery (${atKill} of ${N} seen)`);

  const second = spawnAgent(['--config', cfg]);
  try {
    const events = await w.waitUntil(
      () => {
        const evs = w.on(topic).map((m) => m.json<Ev>());
        return new Set(evs.map((e) => e.seq)).size >= N ? evs : undefined;
      },
      60_000,
      `${N} events`,
    );
    assertCompleteInOrder(events, N);
    assert.ok(events.every((e) => e.epoch === epoch));
    assert.equal(await second.term(), 0);
    const after = openDb(join(stateDir, 'loa.db'));
    const left = (after.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
    after.close();
    assert.equal(left, 0, 'every acknowledged event was deleted');
  } finally {
    await second.kill9();
    await w.close();
  }
});
