// `noc watch` through a real Mosquitto, with statuses published by hand: online and
// offline by the bootId rule of contract §5 (a late will of an old boot changes
// nothing), a retained clean shutdown, a stale box, what plays and the faults; what
// plays by its human name on a terminal (script(1)) and piped; the broker killed and
// started again under a running watch (the BROKER LOST banner, then gone).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { mqtt } from '../../cli-kit/mqtt-lib.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { spawnNoc } from './noc-cli.js';
import type { BoxRow } from '../../noc/watch-row.js';
import { DEFAULT_ROOT as ROOT, deviceTopic, publishTo, type Outbound } from '../../contract/index.js';

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

const status = (id: string, body: Record<string, unknown>) =>
  publishTo(pub, 'status', deviceTopic(ROOT, id, 'status'), body as unknown as Outbound['status']['payload']);
const birth = (bootId: string, ts = new Date()) => ({
  online: true,
  ts: ts.toISOString(),
  bootId,
  epoch: 'e',
  agentVersion: '0.1.0',
  groups: ['all'],
  site: {},
  schedule: [],
});

test('--once: online/offline by the bootId rule, shutdown, stale, playing and faults', async () => {
  const old = new Date(Date.now() - 10 * 60_000);
  // Before watch starts: retained only.
  await status('box-c', { online: false, ts: old.toISOString(), bootId: 'c1', reason: 'shutdown' });
  await status('box-s', birth('s1', old));
  await pub.publishAsync(
    deviceTopic(ROOT, 'box-s', 'heartbeat'),
    JSON.stringify({ ts: old.toISOString(), bootId: 's1', state: 'idle', playing: null, outbox: 0, schedule: [] }),
    { qos: 0, retain: true },
  );

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
  await pub.publishAsync(
    deviceTopic(ROOT, 'box-d', 'heartbeat'),
    JSON.stringify({
      ts: new Date().toISOString(),
      bootId: 'd1',
      state: 'playing',
      playing: { itemId: 'news', docId: 'daily', source: 'file', startedAt: new Date().toISOString(), priority: 50 },
      outbox: 3,
      schedule: [{ id: 'daily', version: 42 }],
    }),
    { qos: 0, retain: true },
  );
  await pub.publishAsync(
    deviceTopic(ROOT, 'box-d', 'events'),
    JSON.stringify({
      epoch: 'e',
      seq: 1,
      ts: new Date().toISOString(),
      type: 'hw.fault',
      component: 'amp',
      code: 'overload',
      message: 'x',
    }),
    { qos: 1 },
  );

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
  assert.deepEqual(
    [d.status, d.state, d.playing, d.faults, d.outbox, d.schedule],
    ['online', 'playing', 'news (file, p50)', ['amp/overload'], 3, ['daily@42']],
  );

  const lines = text.stdout().trim().split('\n');
  assert.equal(
    lines[0],
    '5 boxes: 2 online, 2 offline, 1 stale, 0 unknown | 1 playing | 1 with faults | outbox backlog 3',
  );
  assert.match(
    lines.find((l) => l.startsWith('box-a'))!,
    /^box-a\s+ONLINE\s/,
  );
  assert.match(
    lines.find((l) => l.startsWith('box-b'))!,
    /^box-b\s+OFFLINE \(lost\)\s/,
  );
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

const plays = async (
  c: MqttClient,
  id: string,
  itemId: string,
  docId: string | null,
  source: string,
  priority: number,
) => {
  const now = new Date().toISOString();
  await publishTo(
    c,
    'status',
    deviceTopic(ROOT, id, 'status'),
    birth(`${id}-1`) as unknown as Outbound['status']['payload'],
  );
  await c.publishAsync(
    deviceTopic(ROOT, id, 'heartbeat'),
    JSON.stringify({
      ts: now,
      bootId: `${id}-1`,
      state: 'playing',
      playing: { itemId, docId, source, startedAt: now, priority },
      outbox: 0,
      schedule: [],
    }),
    { qos: 1, retain: true },
  );
};
/** The whole frames (between two clears) of a terminal watcher's output. */
const frameWith = (re: string) => new RegExp(`\\x1b\\[2J\\x1b\\[H([^\\x1b]*${re}[^\\x1b]*)\\x1b\\[2J`);

test('what plays by its human name, on a terminal and piped: the schedule item, "cmd 5b0c1d9e…", "CAP <identifier>" from play.started; source and priority never cut', async () => {
  const piped = spawnNoc(['watch', '--broker', broker.url, '--duration', '60']);
  const tty = spawnNoc(['watch', '--broker', broker.url, '--duration', '60'], {}, { tty: true });
  try {
    const longItem = 'weekly-agricultural-bulletin-for-the-river-delta-rerun';
    await plays(pub, 'box-ps', longItem, 'daily', 'file', 50);
    await plays(pub, 'box-pc', '5b0c1d9e-7d0e-4d43-9a53-1d2f0c7b8e11', null, 'stream', 100);
    await plays(pub, 'box-pk', 'cap-3bc8d1e2f3a4b5c6', null, 'file', 100);
    await piped.waitFor(/ box-pk (.*, )?playing cmd cap-3bc8… \(file, p100\)/, 20_000, 'stdout');
    // The terminal one prints no "subscribed": a row of box-pk (its retained heartbeat) says it is.
    await tty.waitFor(/box-pk\s+ONLINE\s.*cmd cap-3bc8… \(file, p100\)/, 20_000, 'stdout');
    // The CAP play's play.started names the alert (contract §7 capId): from then on it is shown by it.
    const now = new Date().toISOString();
    await pub.publishAsync(
      deviceTopic(ROOT, 'box-pk', 'events'),
      JSON.stringify({
        epoch: 'e',
        seq: 1,
        ts: now,
        type: 'play.started',
        itemId: 'cap-3bc8d1e2f3a4b5c6',
        docId: null,
        docVersion: null,
        occurrence: now,
        lateMs: 2,
        source: 'file',
        priority: 100,
        cmdId: 'cap-3bc8d1e2f3a4b5c6',
        repeat: 1,
        capId: 'VN-KTTV-2026-0042',
      }),
      { qos: 1 },
    );
    await piped.waitFor(/ box-pk playing CAP VN-KTTV-2026-0042 \(file, p100\)/, 10_000, 'stdout');
    const rows = (await tty.waitFor(frameWith('CAP VN-KTTV-2026-0042 \\(file, p100\\)'), 20_000, 'stdout'))[1]!.split(
      /\r?\n/,
    );
    assert.match(
      rows.find((l) => l.startsWith('box-pc'))!,
      /\scmd 5b0c1d9e… \(stream, p100\)\s/,
    );
    assert.match(
      rows.find((l) => l.startsWith('box-ps'))!,
      new RegExp(`\\s${longItem.slice(0, 27)}… \\(file, p50\\)\\s`),
    );
  } finally {
    await Promise.all([piped.stop(), tty.stop()]);
  }
});

test('the broker stopped under a running watch: BROKER LOST on the terminal table and in the piped lines while blind, gone once it is back', async () => {
  // A broker of its own: this test kills it (SIGKILL, an outage) and starts it again.
  const b = await startBroker();
  const hand = await mqtt.connectAsync(b.url, { clientId: 'hand-boxes-outage', reconnectPeriod: 0 });
  const piped = spawnNoc(['watch', '--broker', b.url, '--duration', '90']);
  const tty = spawnNoc(['watch', '--broker', b.url, '--duration', '90'], {}, { tty: true });
  try {
    await plays(hand, 'box-o1', 'news', 'daily', 'file', 50);
    await publishTo(hand, 'status', deviceTopic(ROOT, 'box-o2', 'status'), {
      online: false,
      bootId: 'o2',
      reason: 'lost',
    } as unknown as Outbound['status']['payload']);
    await piped.waitFor(/ box-o2 offline \(lost\)/, 20_000, 'stdout');
    await tty.waitFor(frameWith('box-o2 '), 20_000, 'stdout');

    await b.stop();
    await piped.waitFor(
      /Z BROKER LOST, reconnecting every 2 s — nothing is heard until it is back; states are as last seen\n/,
      10_000,
      'stdout',
    );
    const blind = await tty.waitFor(frameWith('BROKER LOST since '), 10_000, 'stdout');
    const [banner, counts] = blind[1]!.split(/\r?\n/);
    assert.match(
      banner!,
      /^\S+Z {2}BROKER LOST since \d\d:\d\d:\d\d UTC \(\d+ s\), reconnecting — ages below are stale, states as last seen$/,
    );
    assert.match(counts!, /^last seen before \d\d:\d\d:\d\d UTC: 2 boxes: 1 online, 1 offline, 0 stale/);

    await b.start();
    await piped.waitFor(/Z broker back after \d+ s blind; following again\n/, 20_000, 'stdout');
    // On the terminal: the first whole frame after "reconnected" (standard error, same pty) has no banner.
    // eslint-disable-next-line no-control-regex -- the terminal's escapes are what it reads
    const back = await tty.waitFor(/noc watch: reconnected[\s\S]*?\x1b\[2J\x1b\[H([^\x1b]*)\x1b\[2J/, 20_000, 'stdout');
    assert.doesNotMatch(back[1]!, /BROKER LOST|last seen/);
    assert.match(back[1]!, /^\S+Z {2}2 boxes: 1 online, 1 offline/);
  } finally {
    await Promise.all([piped.stop(), tty.stop()]);
    hand.end(true);
    await b.close();
  }
});
