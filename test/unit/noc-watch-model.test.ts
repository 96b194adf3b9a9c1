// The fleet table of `noc watch` with exact times: the bootId rule of contract §5,
// stale flagging from the heartbeat period the birth announces, fault counting from events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FleetModel } from '../../noc/watch-model.js';
import { blindBanner, frame, playingCell, problemsFirst, summary, table } from '../../noc/watch-format.js';
import { DEFAULT_ROOT, deviceTopic } from '../../contract/index.js';

const ROOT = DEFAULT_ROOT;
const T0 = Date.parse('2026-11-26T06:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const status = (id: string) => deviceTopic(ROOT, id, 'status');
const hb = (id: string) => deviceTopic(ROOT, id, 'heartbeat');
const ev = (id: string) => deviceTopic(ROOT, id, 'events');
const birth = (bootId: string, ts = T0, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    online: true,
    ts: iso(ts),
    bootId,
    epoch: 'e1',
    agentVersion: '0.1.0',
    deviceId: 'x',
    groups: ['all', 'c26734'],
    site: {},
    schedule: [{ id: 'daily', version: 3 }],
    ...extra,
  });
const death = (bootId: string, reason = 'lost') => JSON.stringify({ online: false, bootId, reason });
const beat = (bootId: string, ts: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    ts: iso(ts),
    bootId,
    uptimeS: 1,
    state: 'idle',
    playing: null,
    outbox: 0,
    schedule: [{ id: 'daily', version: 3 }],
    ...extra,
  });

test('a death counts only when its bootId is the latest birth’s', () => {
  const m = new FleetModel({ root: ROOT });
  assert.deepEqual(m.apply(status('b1'), birth('boot-2'), T0), ['online', 'schedule daily@3']);
  // The late will of the previous connection: ignored, the box stays online.
  assert.deepEqual(m.apply(status('b1'), death('boot-1'), T0 + 100), []);
  assert.equal(m.row('b1', T0 + 200)!.status, 'online');
  // The will of the current boot: offline, with its reason.
  assert.deepEqual(m.apply(status('b1'), death('boot-2', 'lost'), T0 + 300), ['offline (lost)']);
  const r = m.row('b1', T0 + 400)!;
  assert.equal(r.status, 'offline');
  assert.equal(r.reason, 'lost');
  // A new boot brings it back.
  m.apply(status('b1'), birth('boot-3'), T0 + 500);
  assert.equal(m.row('b1', T0 + 600)!.status, 'online');
  assert.equal(m.row('b1', T0 + 600)!.bootId, 'boot-3');
});

test('a retained death with no birth known marks the box offline; a clean shutdown says so', () => {
  const m = new FleetModel({ root: ROOT });
  m.apply(status('b2'), death('boot-9', 'shutdown'), T0, { retain: true });
  assert.deepEqual([m.row('b2', T0)!.status, m.row('b2', T0)!.reason], ['offline', 'shutdown']);
});

test('a live heartbeat proves its boot: a late will that overwrote the retained birth is undone; a retained one is not proof', () => {
  const m = new FleetModel({ root: ROOT });
  // A NOC starting after the late will of boot-1 replaced boot-2's retained birth.
  m.apply(status('b1'), death('boot-1'), T0, { retain: true });
  m.apply(hb('b1'), beat('boot-2', T0 - 5000), T0, { retain: true });
  assert.equal(m.row('b1', T0)!.status, 'offline', 'a retained heartbeat may predate the death');
  assert.deepEqual(m.apply(hb('b1'), beat('boot-2', T0 + 30_000), T0 + 30_000), ['online']);
  assert.equal(m.row('b1', T0 + 30_000)!.bootId, 'boot-2');
  // Now boot-2 is the known boot: boot-1's will again changes nothing; boot-2's does.
  assert.deepEqual(m.apply(status('b1'), death('boot-1'), T0 + 31_000), []);
  assert.deepEqual(m.apply(status('b1'), death('boot-2', 'lost'), T0 + 32_000), ['offline (lost)']);
  // A box first seen by a live heartbeat (no status yet) is online.
  const m2 = new FleetModel({ root: ROOT });
  m2.apply(hb('b2'), beat('x', T0), T0);
  assert.equal(m2.row('b2', T0)!.status, 'online');
});

test('stale after three of the heartbeat periods the birth announces, not before; online again on the next message', () => {
  const m = new FleetModel({ root: ROOT, defaultPeriodMs: 30_000 });
  m.apply(status('b1'), birth('a', T0, { heartbeatS: 10 }), T0);
  // Heartbeats every 10 s, plus a state-change heartbeat 300 ms after one.
  for (let i = 0; i <= 4; i++) m.apply(hb('b1'), beat('a', T0 + i * 10_000), T0 + i * 10_000);
  m.apply(hb('b1'), beat('a', T0 + 40_300, { state: 'playing' }), T0 + 40_300);
  assert.equal(m.periodMs('b1'), 10_000);
  const last = T0 + 40_300;
  assert.equal(m.row('b1', last + 30_000)!.status, 'online', 'exactly 3 periods is not yet stale');
  const r = m.row('b1', last + 30_001)!;
  assert.equal(r.status, 'stale');
  assert.equal(r.silentS, 30);
  assert.equal(r.periodS, 10);
  assert.equal(r.periodFrom, 'birth');
  m.apply(hb('b1'), beat('a', last + 31_000), last + 31_000);
  assert.equal(m.row('b1', last + 31_000)!.status, 'online');
});

test('change-triggered heartbeats never shorten the period: a playing box is not stale (the demo of issue 9)', () => {
  const m = new FleetModel({ root: ROOT, defaultPeriodMs: 30_000 });
  m.apply(status('demo'), birth('a', T0, { heartbeatS: 10 }), T0);
  // The periodic beat, then a burst of state changes (warm-up, amp on, playing, ...)
  // 1 to 2.4 s apart, as the demo box sends when an item starts.
  let t = T0;
  for (const gap of [10_000, 1_000, 1_200, 2_400, 1_000, 2_400, 1_100]) {
    t += gap;
    m.apply(hb('demo'), beat('a', t, { state: 'playing' }), t);
  }
  assert.equal(m.periodMs('demo'), 10_000, 'the birth’s heartbeatS, not the gaps');
  // 7 s after the last beat (what issue 9 saw flagged STALE against a learned 2.4 s).
  const r = m.row('demo', t + 7_000)!;
  assert.deepEqual([r.status, r.heartbeatAgeS, r.periodS], ['online', 7, 10]);
  assert.equal(m.row('demo', t + 30_000)!.status, 'online');
  assert.equal(m.row('demo', t + 30_001)!.status, 'stale');

  // An older agent (no heartbeatS in its birth) beating on changes: the default, never the gaps.
  const old = new FleetModel({ root: ROOT, defaultPeriodMs: 30_000 });
  old.apply(status('old'), birth('o'), T0);
  for (let i = 1; i <= 6; i++) old.apply(hb('old'), beat('o', T0 + i * 1500), T0 + i * 1500);
  assert.equal(old.periodMs('old'), 30_000);
  const o = old.row('old', T0 + 9000 + 20_000)!;
  assert.deepEqual([o.status, o.periodS, o.periodFrom], ['online', 30, 'default']);
  assert.equal(old.row('old', T0 + 9000 + 90_001)!.status, 'stale');

  // A new birth that announces no period (downgrade) drops the old one; a bad value is ignored.
  m.apply(status('demo'), birth('b', t + 40_000), t + 40_000);
  assert.equal(m.periodMs('demo'), 30_000);
  m.apply(status('demo'), birth('c', t + 41_000, { heartbeatS: -5 }), t + 41_000);
  assert.equal(m.periodMs('demo'), 30_000);
  // A retained birth still tells the period (it describes the boot, whatever its age).
  const late = new FleetModel({ root: ROOT });
  late.apply(status('r'), birth('r1', T0 - 3_600_000, { heartbeatS: 60 }), T0, { retain: true });
  assert.equal(late.periodMs('r'), 60_000);
});

test('without a heartbeatS in the birth the default period applies; offline boxes are never stale', () => {
  const m = new FleetModel({ root: ROOT, defaultPeriodMs: 30_000 });
  m.apply(status('b1'), birth('a'), T0);
  assert.equal(m.row('b1', T0 + 90_000)!.status, 'online');
  assert.equal(m.row('b1', T0 + 90_001)!.status, 'stale');
  m.apply(status('b1'), death('a'), T0 + 90_002);
  assert.equal(m.row('b1', T0 + 10 * 90_000)!.status, 'offline');
});

test('a retained message counts as seen at its own ts when older than its arrival', () => {
  const m = new FleetModel({ root: ROOT, defaultPeriodMs: 30_000 });
  // Connecting at T0 + 10 min: the retained birth and heartbeat are 5 minutes old.
  const now = T0 + 600_000;
  m.apply(status('b1'), birth('a', T0 + 300_000), now, { retain: true });
  m.apply(hb('b1'), beat('a', T0 + 300_000), now, { retain: true });
  const r = m.row('b1', now)!;
  assert.equal(r.heartbeatAgeS, 300);
  assert.equal(r.status, 'stale');
  // A retained ts in the future (box clock ahead) does not make it younger than its arrival.
  const m2 = new FleetModel({ root: ROOT });
  m2.apply(hb('b2'), beat('a', now + 3_600_000), now, { retain: true });
  assert.equal(m2.row('b2', now + 5000)!.heartbeatAgeS, 5);
  assert.equal(m.periodMs('b1'), 30_000);
});

test('faults: hw.fault minus hw.recovered per component/code, re-sent events counted once', () => {
  const m = new FleetModel({ root: ROOT });
  m.apply(status('b1'), birth('a'), T0);
  let seq = 0;
  const event = (type: string, component: string, code: string, s = ++seq, epoch = 'e1') =>
    JSON.stringify({ epoch, seq: s, ts: iso(T0), type, component, code, message: '' });
  assert.deepEqual(m.apply(ev('b1'), event('hw.fault', 'amp', 'overload'), T0), ['fault amp/overload']);
  assert.deepEqual(m.apply(ev('b1'), event('hw.fault', 'door', 'open'), T0), ['fault door/open']);
  assert.deepEqual(m.apply(ev('b1'), event('hw.fault', 'amp', 'overload'), T0), []); // twice active
  // The same event again (at-least-once delivery): ignored.
  assert.deepEqual(m.apply(ev('b1'), event('hw.recovered', 'door', 'open', 2), T0), []);
  assert.deepEqual(m.row('b1', T0)!.faults, ['amp/overload', 'door/open']);
  assert.deepEqual(m.apply(ev('b1'), event('hw.recovered', 'amp', 'overload'), T0), []);
  assert.deepEqual(m.row('b1', T0)!.faults, ['amp/overload', 'door/open'], 'one of two overloads recovered');
  assert.deepEqual(m.apply(ev('b1'), event('hw.recovered', 'amp', 'overload'), T0), ['recovered amp/overload']);
  // More recoveries than faults never go below zero.
  m.apply(ev('b1'), event('hw.recovered', 'amp', 'overload'), T0);
  m.apply(ev('b1'), event('hw.fault', 'amp', 'overload'), T0);
  assert.deepEqual(m.row('b1', T0)!.faults, ['amp/overload', 'door/open']);
  // A new epoch (replaced disk) starts its own seq: seq 1 there is not a duplicate.
  assert.deepEqual(m.apply(ev('b1'), event('hw.recovered', 'door', 'open', 1, 'e2'), T0), ['recovered door/open']);
});

test('heartbeat state, playing, outbox and schedule reach the row; the table renders it', () => {
  const m = new FleetModel({ root: ROOT });
  m.apply(status('b1'), birth('a'), T0);
  const changes = m.apply(
    hb('b1'),
    beat('a', T0, {
      state: 'playing',
      playing: { itemId: 'news', docId: 'daily', source: 'file', startedAt: iso(T0), priority: 50 },
      outbox: 12,
      schedule: [{ id: 'daily', version: 4 }],
    }),
    T0,
  );
  assert.deepEqual(changes, ['state playing', 'playing news (file, p50)', 'schedule daily@4']);
  m.apply(status('b0'), death('z'), T0);
  m.apply(hb('zz'), 'not json', T0);
  m.apply(`${ROOT}/g/all/schedule`, birth('q'), T0);
  const rows = m.rows(T0 + 1000);
  assert.deepEqual(
    rows.map((r) => r.deviceId),
    ['b0', 'b1'],
  );
  const b1 = rows[1]!;
  assert.equal(b1.outbox, 12);
  assert.deepEqual(b1.schedule, ['daily@4']);
  assert.deepEqual(b1.groups, ['all', 'c26734']);
  assert.equal(
    summary(rows),
    '2 boxes: 1 online, 1 offline, 0 stale, 0 unknown | 1 playing | 0 with faults | outbox backlog 12',
  );
  const lines = table(problemsFirst(rows));
  assert.match(lines[0]!, /^DEVICE\s+STATUS\s+HB AGE/);
  assert.match(lines[1]!, /^b0\s+OFFLINE \(lost\)/);
  assert.match(lines[2]!, /^b1\s+ONLINE\s+1s\/30s\s+playing\s+news \(file, p50\)\s+-\s+12\s+daily@4\s+all c26734$/);
  assert.deepEqual(table(rows, 1).at(-1), '… 1 more (noc watch --once for all)');
});

test('blind: after the broker is lost, presence is as last seen (nothing turns stale for our silence), the frame says so; back, it judges again', () => {
  const m = new FleetModel({ root: ROOT });
  m.apply(status('b1'), birth('a', T0, { heartbeatS: 10 }), T0);
  m.apply(hb('b1'), beat('a', T0), T0);
  m.apply(status('b2'), death('z'), T0);
  const lost = T0 + 5000;
  m.brokerLost(lost);
  m.brokerLost(lost + 2000); // each failed retry closes again: the first loss holds
  assert.equal(m.blindSince, lost);
  const now = T0 + 65_000; // 6.5 periods after the last heartbeat
  const r = m.row('b1', now)!;
  assert.equal(r.status, 'online', 'not stale: the silence is the watcher’s');
  assert.equal(r.heartbeatAgeS, 65, 'the age keeps counting (the banner says it is stale)');
  assert.equal(
    blindBanner(m.blindSince, now),
    'BROKER LOST since 06:00:05 UTC (60 s), reconnecting — ages below are stale, states as last seen',
  );
  const rows = m.rows(now);
  assert.equal(
    summary(rows, m.blindSince),
    'last seen before 06:00:05 UTC: 2 boxes: 1 online, 1 offline, 0 stale, 0 unknown | 0 playing | 0 with faults | outbox backlog 0',
  );
  const f = frame(rows, now, m.blindSince, 10);
  assert.equal(
    f[0],
    `${iso(now)}  BROKER LOST since 06:00:05 UTC (60 s), reconnecting — ages below are stale, states as last seen`,
  );
  assert.match(f[1]!, /^last seen before 06:00:05 UTC: 2 boxes: 1 online, 1 offline/);
  assert.match(f[2]!, /^DEVICE\s+STATUS/);
  // Back: no banner, the counts are now's, and a box silent too long is stale again.
  assert.equal(m.brokerBack(), lost);
  assert.equal(m.brokerBack(), null);
  assert.equal(m.blindSince, null);
  assert.equal(m.row('b1', now)!.status, 'stale');
  const g = frame(m.rows(now), now, m.blindSince, 10);
  assert.equal(
    g[0],
    `${iso(now)}  2 boxes: 0 online, 1 offline, 1 stale, 0 unknown | 0 playing | 0 with faults | outbox backlog 0`,
  );
  assert.ok(!g.some((l) => /BROKER LOST|last seen/.test(l)));
});

test('what plays by its human name: schedule item id, "cmd 5b0c1d9e…" for a command, "CAP <identifier>" once a play event names the alert', () => {
  const m = new FleetModel({ root: ROOT });
  const playing = (itemId: string, docId: string | null, source: string, priority: number) => ({
    state: 'playing',
    playing: { itemId, docId, source, startedAt: iso(T0), priority },
  });
  m.apply(status('s'), birth('a'), T0);
  m.apply(hb('s'), beat('a', T0, playing('news', 'daily', 'file', 50)), T0);
  const uuid = '5b0c1d9e-7d0e-4d43-9a53-1d2f0c7b8e11';
  m.apply(status('c'), birth('a'), T0);
  assert.deepEqual(m.apply(hb('c'), beat('a', T0, playing(uuid, null, 'stream', 100)), T0), [
    'state playing',
    'playing cmd 5b0c1d9e… (stream, p100)',
  ]);
  // A CAP play: the heartbeat has only the command id; the play.started event carries capId (§7).
  const capCmd = 'cap-3bc8d1e2f3a4b5c6';
  m.apply(status('k'), birth('a'), T0);
  assert.deepEqual(m.apply(hb('k'), beat('a', T0, playing(capCmd, null, 'file', 100)), T0), [
    'state playing',
    'playing cmd cap-3bc8… (file, p100)',
  ]);
  const started = JSON.stringify({
    epoch: 'e1',
    seq: 7,
    ts: iso(T0),
    type: 'play.started',
    itemId: capCmd,
    docId: null,
    docVersion: null,
    occurrence: iso(T0),
    lateMs: 3,
    source: 'file',
    priority: 100,
    cmdId: capCmd,
    repeat: 1,
    capId: 'VN-KTTV-2026-0042',
  });
  assert.deepEqual(m.apply(ev('k'), started, T0), ['playing CAP VN-KTTV-2026-0042 (file, p100)']);
  const byId = new Map(m.rows(T0).map((r) => [r.deviceId, r]));
  assert.equal(byId.get('s')!.playing, 'news (file, p50)');
  assert.equal(byId.get('c')!.playing, 'cmd 5b0c1d9e… (stream, p100)');
  assert.equal(byId.get('k')!.playing, 'CAP VN-KTTV-2026-0042 (file, p100)');
  // The JSON row keeps the full ids.
  assert.deepEqual(byId.get('c')!.play, {
    kind: 'command',
    itemId: uuid,
    docId: null,
    source: 'stream',
    priority: 100,
    capId: null,
    label: 'cmd 5b0c1d9e…',
  });
  assert.deepEqual(byId.get('k')!.play, {
    kind: 'cap',
    itemId: capCmd,
    docId: null,
    source: 'file',
    priority: 100,
    capId: 'VN-KTTV-2026-0042',
    label: 'CAP VN-KTTV-2026-0042',
  });
  // The next repeat of the series (a later event, same command id) is still named; a re-sent event changes nothing.
  assert.deepEqual(m.apply(ev('k'), started, T0), []);
});

test('widths: a long name is cut, never the source and priority; the PLAYING column stays within 40', () => {
  const m = new FleetModel({ root: ROOT });
  const longItem = 'a'.repeat(20) + '-weekly-agricultural-bulletin-rerun-x'; // 57 characters, a valid item id
  const longCap = 'urn:oid:2.49.0.1.704.0.2026.11.26.06.00.00.VN-KTTV-FLOOD-WARNING-0042';
  m.apply(status('x'), birth('a'), T0);
  m.apply(
    hb('x'),
    beat('a', T0, {
      state: 'playing',
      playing: { itemId: longItem, docId: 'daily', source: 'file', startedAt: iso(T0), priority: 50 },
    }),
    T0,
  );
  m.apply(status('y'), birth('a'), T0);
  m.apply(
    hb('y'),
    beat('a', T0, {
      state: 'playing',
      playing: { itemId: 'cap-0123456789abcdef', docId: null, source: 'file', startedAt: iso(T0), priority: 100 },
    }),
    T0,
  );
  m.apply(
    ev('y'),
    JSON.stringify({
      epoch: 'e',
      seq: 1,
      ts: iso(T0),
      type: 'play.started',
      itemId: 'cap-0123456789abcdef',
      docId: null,
      source: 'file',
      priority: 100,
      capId: longCap,
    }),
    T0,
  );
  m.apply(status('z'), birth('a'), T0);
  m.apply(
    hb('z'),
    beat('a', T0, {
      state: 'playing',
      playing: {
        itemId: '5b0c1d9e-7d0e-4d43-9a53-1d2f0c7b8e11',
        docId: null,
        source: 'stream',
        startedAt: iso(T0),
        priority: 100,
      },
    }),
    T0,
  );
  const rows = m.rows(T0);
  const cells = rows.map((r) => playingCell(r.play!));
  assert.deepEqual(cells, [
    `${longItem.slice(0, 27)}… (file, p50)`,
    `${`CAP ${longCap}`.slice(0, 26)}… (file, p100)`,
    'cmd 5b0c1d9e… (stream, p100)',
  ]);
  for (const c of cells) assert.ok(c.length <= 40, c);
  const lines = table(rows);
  const at = lines[0]!.indexOf('PLAYING');
  const width = lines[0]!.indexOf('FAULTS') - at - 2;
  assert.ok(width <= 40, `PLAYING is ${width} wide`);
  assert.ok(lines[1]!.includes(' (file, p50)  '), lines[1]);
  assert.ok(lines[2]!.includes(' (file, p100)  '), lines[2]);
  assert.ok(lines[3]!.includes('cmd 5b0c1d9e… (stream, p100)  '), lines[3]);
});
