// Birth, will, death and heartbeat against a real broker (docs/protocol.md §1, §5, §6).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { DEFAULT_ROOT, deviceTopic, Watcher } from '../helpers/watcher.js';
import { spawnAgent, writeConfig } from '../helpers/agent-process.js';
import { tempDir } from '../helpers/tmp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.close();
});

for (const version of [5, '3.1.1'] as const) {
  describe(`MQTT ${version}`, () => {
    test('birth is retained, heartbeat has the contract fields, kill -9 leaves a will with the same bootId', async (t) => {
      if (version === 5 && !broker.supportsV5)
        return t.skip(
          'mosquitto not installed: the aedes fallback speaks MQTT 3.1.1 only (apt-get install mosquitto; under CI=true this is a failure, not a skip)',
        );
      const dir = tempDir('presence');
      const deviceId = `box-${String(version).replace(/\./g, '')}`;
      const cfg = writeConfig(dir, {
        deviceId,
        groups: ['all', 'c26734'],
        site: { communeName: 'Xã Thử', communeCode: '26734', lat: 10.5, lon: 106.4, installer: 'test' },
        mqtt: { url: broker.url, version, reconnect: { minS: 1, maxS: 2 } },
        stateDir: `${dir}/state`,
        cacheDir: `${dir}/cache`,
        heartbeatS: 5,
      });
      const status = deviceTopic(DEFAULT_ROOT, deviceId, 'status');
      const hbTopic = deviceTopic(DEFAULT_ROOT, deviceId, 'heartbeat');
      const agent = spawnAgent(['--config', cfg]);
      try {
        await agent.waitForLog(/birth published/, 15_000);
        // A watcher that connects after the birth still gets it: it is retained.
        const w = await Watcher.connect(broker.url, [status, hbTopic]);
        const birthMsg = await w.waitFor((m) => m.topic === status, 5000, 'retained birth');
        assert.equal(birthMsg.retain, true);
        const birth = birthMsg.json();
        assert.equal(birth.online, true);
        assert.match(String(birth.bootId), /^[0-9a-f-]{36}$/);
        assert.match(String(birth.epoch), /^[0-9a-f-]{36}$/);
        assert.deepEqual(birth.groups, ['all', 'c26734']);
        assert.deepEqual(birth.site, {
          communeName: 'Xã Thử',
          communeCode: '26734',
          lat: 10.5,
          lon: 106.4,
          installer: 'test',
        });
        assert.deepEqual(birth.schedule, []);
        assert.equal(birth.heartbeatS, 5, 'contract v1.1 §5: the configured heartbeat period');
        assert.equal(typeof birth.agentVersion, 'string');
        assert.ok(!Number.isNaN(Date.parse(String(birth.ts))));

        await w.waitFor((m) => m.topic === hbTopic, 8000, 'heartbeat');
        // Retained: a second watcher connecting now is handed the latest heartbeat at once.
        const w2 = await Watcher.connect(broker.url, [hbTopic]);
        const hbMsg = await w2.waitFor((m) => m.topic === hbTopic, 3000, 'retained heartbeat');
        assert.equal(hbMsg.retain, true);
        await w2.close();
        const hb = hbMsg.json<Record<string, unknown> & { sys: Record<string, unknown> }>();
        for (const k of [
          'ts',
          'bootId',
          'uptimeS',
          'state',
          'playing',
          'volume',
          'amp',
          'fm',
          'cache',
          'sys',
          'clock',
          'net',
          'schedule',
          'outbox',
          'next',
        ]) {
          assert.ok(k in hb, `heartbeat has ${k}`);
        }
        assert.equal(hb.bootId, birth.bootId);
        assert.equal(hb.state, 'idle');
        assert.equal(hb.playing, null);
        assert.equal(hb.outbox, 0);
        assert.ok(hbMsg.payload.length < 1024, `heartbeat ${hbMsg.payload.length} bytes < 1 KiB`);
        assert.equal(typeof hb.sys.memFreeMB, 'number');
        assert.equal(typeof hb.sys.diskFreeMB, 'number');
        assert.equal(typeof hb.sys.load1, 'number');
        assert.ok(hb.sys.cpuTempC === null || typeof hb.sys.cpuTempC === 'number');
        // A periodic one follows (heartbeatS = 5).
        await w.waitUntil(() => (w.on(hbTopic).length >= 2 ? true : undefined), 12_000, 'second heartbeat');

        await agent.kill9();
        const will = await w.waitFor((m) => m.topic === status && m.json().online === false, 10_000, 'last will');
        assert.deepEqual(will.json(), { online: false, bootId: birth.bootId, reason: 'lost' });
        await w.close();

        // The will is retained too: a NOC that connects later sees the box offline.
        const late = await Watcher.connect(broker.url, [status]);
        const retained = await late.waitFor((m) => m.topic === status, 5000, 'retained will');
        assert.equal(retained.json().online, false);
        await late.close();
      } finally {
        await agent.kill9();
      }
    });

    test('clean shutdown publishes a retained death with reason "shutdown", then a restart a new birth', async (t) => {
      if (version === 5 && !broker.supportsV5)
        return t.skip(
          'mosquitto not installed: the aedes fallback speaks MQTT 3.1.1 only (apt-get install mosquitto; under CI=true this is a failure, not a skip)',
        );
      const dir = tempDir('shutdown');
      const deviceId = `stop-${String(version).replace(/\./g, '')}`;
      const cfg = writeConfig(dir, {
        deviceId,
        mqtt: { url: broker.url, version },
        stateDir: `${dir}/state`,
        cacheDir: `${dir}/cache`,
      });
      const status = deviceTopic(DEFAULT_ROOT, deviceId, 'status');
      const w = await Watcher.connect(broker.url, [status]);
      const a = spawnAgent(['--config', cfg]);
      await a.waitForLog(/birth published/, 15_000);
      const first = (await w.waitFor((m) => m.json().online === true, 5000, 'birth')).json();
      assert.equal(await a.term(), 0);
      const death = (await w.waitFor((m) => m.json().online === false, 5000, 'death')).json();
      assert.equal(death.reason, 'shutdown');
      assert.equal(death.bootId, first.bootId);
      assert.ok(!Number.isNaN(Date.parse(String(death.ts))));

      const b = spawnAgent(['--config', cfg]);
      try {
        await b.waitForLog(/birth published/, 15_000);
        const births = await w.waitUntil(
          () => {
            const bs = w
              .on(status)
              .map((m) => m.json())
              .filter((j) => j.online === true);
            return bs.length >= 2 ? bs : undefined;
          },
          5000,
          'second birth',
        );
        assert.notEqual(births[1]!.bootId, first.bootId, 'a new process has a new bootId');
        assert.equal(births[1]!.epoch, first.epoch, 'the same database keeps its epoch');
      } finally {
        await b.kill9();
        await w.close();
      }
    });
  });
}
