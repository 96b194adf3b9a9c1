// `noc watch` through a real Mosquitto, with statuses published by hand: online and
// offline by the bootId rule of contract §5 (a late will of an old boot changes
// nothing), a retained clean shutdown, a stale box, what plays and the faults.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { spawnNoc } from './noc-cli.js';
import type { BoxRow } from '../../noc/watch-model.js';
import { DEFAULT_ROOT as ROOT, deviceTopic, publishTo, type Outbound } from '../../agent/domain/contract.js';

let broker: TestBroker;
let pub: MqttClient;
before(async () => {
  broker = await startBroker();
  pub = await mqtt.connectAsync(broker.url, { clientId: 'hand-boxes' });
});
after(async () => {
  await pub.endAsync();
  await broker.close();
});

const status = (id: string, body: Record<string, unknown>) => publishTo(pub, 'status', deviceTopic(ROOT, id, 'status'), body as unknown as Outbound['status']['payload']);
const birth = (bootId: string, ts = new Date()) => ({ online: true, ts: ts.toISOString(), bootId, epoch: 'e', agentVersion: '0.1.0', groups: ['all'], site: {}, schedule: [] });

test('--once: online/offline by the bootId rule, shutdown, stale, playing and faults', async () => {
  const old = new Date(Date.now() - 10 * 60_000);
  // Before watch starts: retained only.
  await status('box-c', { online: false, ts: old.toISOString(), bootId: 'c1', reason: 'shutdown' });
  await status('box-s', birth('s1', old));
  await pub.publishAsync(deviceTopic(ROOT, 'box-s', 'heartbeat'), JSON.stringify({ ts: old.toISOString(), bootId: 's1', state: 'idle', playing: null, outbox: 0, schedule: [] }), { qos: 0, retain: true });

  const json = spawnNoc(['watch', '--broker', broker.url, '--once', '--settle', '4', '--json']);
  const text = spawnNoc(['watch', '--broker', broker.url, '--once', '--settle', '4']);
  await Promise.all([json, text].map((w) => w.waitFor(/subscribed to loa\/v1\/d\/\+\/status/, 20_000)));
  // Live, while they settle: box-a is born as a2 and then gets the late will of a1.
  await status('box-a', birth('a2'));
  await status('box-a', { online: false, bootId: 'a1', reason: 'lost' });
  // box-b is born and loses its connection: the will of the same boot.
  await status('box-b', birth('b1'));
  await status('box-b', { online: false, bootId: 'b1', reason: 'lost' });
  // box-d plays, and its amplifier reports a fault.
  await status('box-d', birth('d1'));
  await pub.publishAsync(deviceTopic(ROOT, 'box-d', 'heartbeat'), JSON.stringify({ ts: new Date().toISOString(), bootId: 'd1', state: 'playing', playing: { itemId: 'news', docId: 'daily', source: 'file', startedAt: new Date().toISOString(), priority: 50 }, outbox: 3, schedule: [{ id: 'daily', version: 42 }] }), { qos: 0, retain: true });
  await pub.publishAsync(deviceTopic(ROOT, 'box-d', 'events'), JSON.stringify({ epoch: 'e', seq: 1, ts: new Date().toISOString(), type: 'hw.fault', component: 'amp', code: 'overload', message: 'x' }), { qos: 1 });

  assert.equal(await json.exited, 0, json.stderr());
  assert.equal(await text.exited, 0, text.stderr());
  const rows = new Map(
    json
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as BoxRow)
      .map((r) => [r.deviceId, r]),
  );
  assert.deepEqual([...rows.keys()].sort(), ['box-a', 'box-b', 'box-c', 'box-d', 'box-s']);
  assert.deepEqual([rows.get('box-a')!.status, rows.get('box-a')!.bootId], ['online', 'a2']);
  assert.deepEqual([rows.get('box-b')!.status, rows.get('box-b')!.reason], ['offline', 'lost']);
  assert.deepEqual([rows.get('box-c')!.status, rows.get('box-c')!.reason], ['offline', 'shutdown']);
  assert.equal(rows.get('box-s')!.status, 'stale');
  assert.ok(rows.get('box-s')!.heartbeatAgeS! >= 590, 'the retained heartbeat counts as 10 minutes old');
  const d = rows.get('box-d')!;
  assert.deepEqual([d.status, d.state, d.playing, d.faults, d.outbox, d.schedule], ['online', 'playing', 'news (file, p50)', ['amp/overload'], 3, ['daily@42']]);

  const lines = text.stdout().trim().split('\n');
  assert.equal(lines[0], '5 boxes: 2 online, 2 offline, 1 stale, 0 unknown | 1 playing | 1 with faults | outbox backlog 3');
  assert.match(lines.find((l) => l.startsWith('box-a'))!, /^box-a\s+ONLINE\s/);
  assert.match(lines.find((l) => l.startsWith('box-b'))!, /^box-b\s+OFFLINE \(lost\)\s/);
});

test('following: one line per change, and a stale line when a box falls silent', async () => {
  const w = spawnNoc(['watch', '--broker', broker.url, '--period', '0.5', '--duration', '20']);
  await w.waitFor(/subscribed/, 20_000);
  await status('box-f', birth('f1'));
  await w.waitFor(/ box-f online/, 10_000, 'stdout');
  // Nothing more from box-f: after 3 x 0.5 s it is flagged stale (checked every second).
  await w.waitFor(/ box-f stale \(silent \d+ s, period 0.5 s\)/, 10_000, 'stdout');
  await status('box-f', { online: false, ts: new Date().toISOString(), bootId: 'f1', reason: 'shutdown' });
  await w.waitFor(/ box-f offline \(shutdown\)/, 10_000, 'stdout');
  assert.equal(await w.stop(), 0);
});
