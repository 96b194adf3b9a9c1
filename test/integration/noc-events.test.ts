// `noc events` through a real Mosquitto: every event stored once (a duplicate published
// by hand is dropped), nothing lost while the collector is down (persistent session),
// the proof-of-play CSV checked line by line, and two `--share` instances splitting
// the traffic with no loss and no duplicate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { mqtt } from '../../cli-kit/mqtt-lib.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { tempDir } from '../helpers/tmp.js';
import { EventStore } from '../../noc/events-store.js';
import { runNoc, spawnNoc, type NocProcess } from './noc-cli.js';
import { DEFAULT_ROOT as ROOT, deviceTopic } from '../../contract/index.js';
import { untilDefined } from '../helpers/wait.js';

let broker: TestBroker;
let box: MqttClient;
before(async () => {
  broker = await startBroker();
  box = await mqtt.connectAsync(broker.url, { clientId: 'hand-box' });
});
after(async () => {
  await box.endAsync();
  await broker.close();
});

const until = <T>(what: string, ms: number, f: () => T | undefined): Promise<T> => untilDefined(f, ms, what, 100);

function stored(db: string): number {
  try {
    const s = new EventStore(db, { readonly: true });
    try {
      return s.count();
    } finally {
      s.close();
    }
  } catch {
    return -1; // not created yet
  }
}

function collector(db: string, clientId: string, extra: string[] = []): NocProcess {
  return spawnNoc(['events', '--broker', broker.url, '--db', db, '--client-id', clientId, ...extra]);
}

const event = (device: string, body: Record<string, unknown>) =>
  box.publishAsync(deviceTopic(ROOT, device, 'events'), JSON.stringify(body), { qos: 1 });

test('each event stored once; duplicates dropped; events sent while down arrive; CSV line by line', async () => {
  const dir = tempDir('noc-events');
  const db = join(dir, 'events.sqlite');
  let c = collector(db, 'noc-events-test');
  await c.waitFor(/collecting loa\/v1\/d\/\+\/events, loa\/v1\/d\/\+\/status/, 20_000);
  await box.publishAsync(
    deviceTopic(ROOT, 'vn-01', 'status'),
    JSON.stringify({
      online: true,
      ts: '2026-11-26T00:00:00.000Z',
      bootId: 'b1',
      epoch: 'E1',
      groups: ['all', 'c26734'],
    }),
    { qos: 1, retain: true },
  );
  await box.publishAsync(
    deviceTopic(ROOT, 'vn-02', 'status'),
    JSON.stringify({ online: true, ts: '2026-11-26T00:00:00.000Z', bootId: 'b2', epoch: 'E2', groups: ['all'] }),
    { qos: 1, retain: true },
  );

  const news = {
    itemId: 'morning-news',
    docId: 'c26734-daily',
    docVersion: 42,
    occurrence: '2026-11-26T06:30:00+07:00',
    lateMs: 8,
    source: 'file',
    priority: 50,
  };
  const finished = {
    epoch: 'E1',
    seq: 2,
    ts: '2026-11-25T23:31:55.200Z',
    type: 'play.finished',
    ...news,
    playedMs: 115_200,
    // Contract v1.2 §9: what the IO board measured; the last two columns of the CSV.
    output: { measured: true, levelDb: -8, silentMs: 1200 },
  };
  await event('vn-01', { epoch: 'E1', seq: 1, ts: '2026-11-25T23:30:00.008Z', type: 'play.started', ...news });
  await event('vn-01', finished);
  await event('vn-01', finished); // re-sent after a lost PUBACK: the same (device, epoch, seq)
  await event('vn-01', {
    epoch: 'E1',
    seq: 3,
    ts: '2026-11-26T10:00:00.000Z',
    type: 'play.skipped',
    itemId: 'noon, "special"',
    docId: 'c26734-daily',
    occurrence: '2026-11-26T17:00:00+07:00',
    reason: 'busy',
  });
  await event('vn-02', {
    epoch: 'E2',
    seq: 1,
    ts: '2026-11-25T23:30:01.000Z',
    type: 'play.started',
    ...news,
    lateMs: 1000,
  });
  await event('vn-02', {
    epoch: 'E2',
    seq: 2,
    ts: '2026-11-25T23:30:31.000Z',
    type: 'play.failed',
    ...news,
    lateMs: 1000,
    reason: 'decode',
    message: 'bad frame, at 30 s',
  });
  // Same epoch and seq, another device: another event (the device comes from the topic).
  await event('vn-03', {
    epoch: 'E1',
    seq: 1,
    ts: '2026-11-26T00:00:00.000Z',
    type: 'hw.fault',
    component: 'amp',
    code: 'overload',
    message: 'x',
  });
  await until('6 stored events', 15_000, () => (stored(db) === 6 ? true : undefined));

  // The collector down: events published meanwhile wait in its persistent session.
  assert.equal(await c.stop(), 0);
  assert.match(c.stderr(), /stopped; 6 stored, 1 duplicates dropped, 0 quarantined, 2 births/);
  await event('vn-02', {
    epoch: 'E2',
    seq: 3,
    ts: '2026-11-25T23:45:00.000Z',
    type: 'play.started',
    ...news,
    occurrence: '2026-11-26T06:45:00+07:00',
    lateMs: 0,
  });
  c = collector(db, 'noc-events-test');
  await c.waitFor(/collecting/, 20_000);
  await until('the event sent while the collector was down', 20_000, () => (stored(db) === 7 ? true : undefined));
  assert.equal(await c.stop(), 0);

  const csvFile = join(dir, 'pop.csv');
  const x = await runNoc([
    'events',
    'export',
    '--db',
    db,
    '--from',
    '2026-11-26',
    '--to',
    '2026-11-26',
    '--out',
    csvFile,
  ]);
  assert.equal(x.code, 0, x.stderr);
  assert.match(x.stderr, /4 occurrences from 2026-11-26 to 2026-11-26 \(Asia\/Ho_Chi_Minh\)/);
  const text = readFileSync(csvFile, 'utf8');
  assert.ok(text.endsWith('\r\n'));
  assert.deepEqual(text.split('\r\n'), [
    'device,groups,itemId,docId,docVersion,occurrence,outcome,started,ended,playedMs,lateMs,source,priority,reason,cmdId,repeat,capId,segments,message,outputLevelDb,silentMs',
    'vn-01,all c26734,morning-news,c26734-daily,42,2026-11-26T06:30:00+07:00,finished,2026-11-26T06:30:00+07:00,2026-11-26T06:31:55+07:00,115200,8,file,50,,,,,1,,-8,1200',
    'vn-01,all c26734,"noon, ""special""",c26734-daily,,2026-11-26T17:00:00+07:00,skipped,,,,,,,busy,,,,1,,,',
    'vn-02,all,morning-news,c26734-daily,42,2026-11-26T06:30:00+07:00,failed,2026-11-26T06:30:01+07:00,2026-11-26T06:30:31+07:00,30000,1000,file,50,decode,,,,1,"bad frame, at 30 s",,',
    'vn-02,all,morning-news,c26734-daily,42,2026-11-26T06:45:00+07:00,started-without-end,2026-11-26T06:45:00+07:00,,,0,file,50,,,,,1,,,',
    '',
  ]);
  // The group filter and an empty range.
  const g = await runNoc([
    'events',
    'export',
    '--db',
    db,
    '--from',
    '2026-11-26',
    '--to',
    '2026-11-26',
    '--group',
    'c26734',
  ]);
  assert.equal(g.code, 0, g.stderr);
  assert.deepEqual(
    g.stdout
      .split('\r\n')
      .slice(1, -1)
      .map((l) => l.split(',')[0]),
    ['vn-01', 'vn-01'],
  );
  const none = await runNoc(['events', 'export', '--db', db, '--from', '2026-11-27', '--to', '2026-11-30']);
  assert.equal(none.stdout.split('\r\n').length, 2);
  const bad = await runNoc(['events', 'export', '--db', db, '--from', '2026-11-31', '--to', '2026-11-30']);
  assert.equal(bad.code, 64);
  assert.match(bad.stderr, /--from "2026-11-31" is not a calendar date/);
});

test('--share: two instances split the events, none lost, none stored twice', async () => {
  const dir = tempDir('noc-share');
  const dbs = [join(dir, 'a.sqlite'), join(dir, 'b.sqlite')];
  const cs = [
    collector(dbs[0]!, 'noc-share-a', ['--share', 'noc']),
    collector(dbs[1]!, 'noc-share-b', ['--share', 'noc']),
  ];
  await Promise.all(cs.map((c) => c.waitFor(/collecting \$share\/noc\/loa\/v1\/d\/\+\/events/, 20_000)));
  const n = 200;
  // Each a distinct occurrence (one minute apart on 2026-11-26), so the export counts them.
  const occ = (i: number) => new Date(Date.parse('2026-11-26T00:00:00+07:00') + i * 60_000).toISOString();
  for (let i = 0; i < n; i++)
    void event(`sh-${i % 4}`, {
      epoch: `E${i % 4}`,
      seq: Math.floor(i / 4) + 1,
      ts: new Date().toISOString(),
      type: 'play.skipped',
      itemId: 'news',
      docId: 'daily',
      occurrence: occ(i),
      reason: 'busy',
    });
  await until(`${n} events across both databases`, 20_000, () =>
    stored(dbs[0]!) + stored(dbs[1]!) === n ? true : undefined,
  );
  await new Promise((r) => setTimeout(r, 500)); // an absence window: nothing more trickles in
  for (const c of cs) assert.equal(await c.stop(), 0);
  const keys = dbs.map((db) => {
    const s = new EventStore(db, { readonly: true });
    const k = (
      s.db.prepare("SELECT device_id || '/' || epoch || '/' || seq AS k FROM events").all() as { k: string }[]
    ).map((r) => r.k);
    s.close();
    return new Set(k);
  });
  const [a, b] = keys as [Set<string>, Set<string>];
  assert.ok(a.size > 0 && b.size > 0, `both instances got a share (${a.size} / ${b.size})`);
  assert.equal(a.size + b.size, n);
  assert.equal([...a].filter((k) => b.has(k)).length, 0, 'no event in both');
  assert.equal(new Set([...a, ...b]).size, n, 'no event missing');
  // The proof of play of the whole fleet: both files given to one export.
  const x = await runNoc([
    'events',
    'export',
    '--db',
    dbs[0]!,
    '--db',
    dbs[1]!,
    '--from',
    '2026-11-26',
    '--to',
    '2026-11-26',
  ]);
  assert.equal(x.code, 0, x.stderr);
  assert.equal(x.stdout.split('\r\n').length, n + 2, 'header, one row per event, final CRLF');
});
