// `noc exporter`'s model and text format with exact times: presence by the bootId rule,
// heartbeat numbers in base units, counters from de-duplicated events, rejections from
// events, floods and command results, emergencies sent and not played, per-group mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExporterModel } from '../../noc/exporter-model.js';
import { METRIC_NAMES } from '../../noc/exporter-metrics.js';
import { renderMetrics, type ExporterHealth } from '../../noc/exporter-render.js';
import { parseListen } from '../../noc/exporter.js';
import { main } from '../../noc/cli.js';
import { memoryIo } from '../../noc/io.js';
import { createServer } from 'node:net';
import { COMMAND_TYP, DEFAULT_ROOT as ROOT, deviceTopic, groupTopic, signDoc } from '../../contract/index.js';
import { KeyRing } from '../../contract/verify.js';
import { makeKey, type TestKey } from '../helpers/signer.js';

const T0 = Date.parse('2026-11-26T06:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const t = (id: string, leaf: 'status' | 'heartbeat' | 'events' | 'cmd' | 'cmd/result') => deviceTopic(ROOT, id, leaf);
const birth = (bootId: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    online: true,
    ts: iso(T0),
    bootId,
    epoch: 'e1',
    agentVersion: '0.4.0',
    groups: ['all', 'c26734'],
    site: { communeName: 'Xã "An" Bình', communeCode: '26734', province: 'HCM', lat: 10.8, lon: 106.7 },
    schedule: [],
    heartbeatS: 30,
    ...extra,
  });
const beat = (bootId: string, ts: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    ts: iso(ts),
    bootId,
    uptimeS: 120,
    state: 'idle',
    playing: null,
    volume: 80,
    amp: { on: true, fault: false },
    fm: { freqMHz: 100.5, rssi: 31 },
    cache: { bytes: 2048, ready: 3, pending: 1, failed: 2 },
    sys: { cpuTempC: 51.5, load1: 0.2, memFreeMB: 300, diskFreeMB: 400 },
    clock: { synced: false, source: 'rtc' },
    net: { bearer: '4g', signal: -81, operator: 'Viettel' },
    schedule: [],
    outbox: 7,
    next: null,
    mcu: { up: true, resets: 1, badFrames: 4, timeouts: 2 },
    ...extra,
  });
let seq = 0;
const ev = (type: string, fields: Record<string, unknown> = {}, s = ++seq) =>
  JSON.stringify({ epoch: 'e1', seq: s, ts: iso(T0), type, ...fields });
const health: ExporterHealth = {
  connected: true,
  mode: 'box',
  share: '',
  scrapes: 1,
  lastRenderS: 0.01,
  loopDelayP99S: 0.001,
  startedAt: T0,
};

/** The samples of the text format: "name{labels}" -> value. */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

async function command(key: TestKey, over: Record<string, unknown>): Promise<string> {
  return signDoc(
    {
      type: 'command',
      id: 'cmd-1',
      issuedAt: iso(T0),
      expiresAt: iso(T0 + 600_000),
      target: { devices: ['b1'] },
      action: 'play',
      args: { source: { kind: 'line' }, durationS: 60, priority: 100, volume: 100 },
      ...over,
    },
    { key: key.privateKey, kid: key.kid },
    COMMAND_TYP,
  );
}

test("the level in force and why, from the heartbeat's volumeWhy; absent from a box that does not send it", () => {
  const m = new ExporterModel({ root: ROOT });
  m.apply(t('b1', 'status'), birth('boot-1'), T0, true);
  m.apply(
    t('b1', 'heartbeat'),
    beat('boot-1', T0, { volume: 50, volumeWhy: { level: 30, reason: 'quiet-hours', cap: 30, window: 'quiet-hours' } }),
    T0,
  );
  m.apply(t('b2', 'status'), birth('boot-2'), T0, true);
  m.apply(t('b2', 'heartbeat'), beat('boot-2', T0), T0);
  const s = samples(renderMetrics(m, T0 + 1000, health));
  assert.equal(s.get('loa_box_volume_ratio{device="b1"}'), 0.5);
  assert.equal(s.get('loa_box_volume_level_ratio{device="b1",reason="quiet-hours"}'), 0.3);
  assert.equal([...s.keys()].filter((k) => k.startsWith('loa_box_volume_level_ratio{device="b2"')).length, 0);
});

test('gauges per box: presence by the bootId rule, the heartbeat in base units, info labels escaped', () => {
  const m = new ExporterModel({ root: ROOT });
  m.apply(t('b1', 'status'), birth('boot-1'), T0, true);
  m.apply(t('b1', 'heartbeat'), beat('boot-1', T0), T0 + 1000);
  m.apply(t('b1', 'status'), JSON.stringify({ online: false, bootId: 'boot-0', reason: 'lost' }), T0 + 2000); // a late will
  const s = samples(renderMetrics(m, T0 + 10_000, health));
  assert.equal(s.get('loa_box_online{device="b1"}'), 1);
  assert.equal(
    s.get(
      'loa_box_info{device="b1",version="0.4.0",groups="all,c26734",commune="Xã \\"An\\" Bình",commune_code="26734",province="HCM",lat="10.8",lon="106.7"}',
    ),
    1,
  );
  assert.equal(s.get('loa_box_heartbeat_age_seconds{device="b1"}'), 9);
  assert.equal(s.get('loa_box_heartbeat_period_seconds{device="b1"}'), 30);
  assert.equal(s.get('loa_box_state{device="b1",state="idle"}'), 1);
  assert.equal(s.get('loa_box_state{device="b1",state="fault"}'), 0);
  assert.equal(s.get('loa_box_fm_frequency_hertz{device="b1"}'), 100_500_000);
  assert.equal(s.get('loa_box_disk_free_bytes{device="b1"}'), 400 * 1_048_576);
  assert.equal(s.get('loa_box_volume_ratio{device="b1"}'), 0.8);
  assert.equal(s.get('loa_box_clock_synced{device="b1"}'), 0);
  assert.equal(s.get('loa_box_clock_info{device="b1",source="rtc"}'), 1);
  assert.equal(s.get('loa_box_cache_failed_media{device="b1"}'), 2);
  assert.equal(s.get('loa_box_outbox_events{device="b1"}'), 7);
  assert.equal(s.get('loa_box_mcu_bad_frames_total{device="b1"}'), 4);
  assert.equal(s.get('loa_box_boots_total{device="b1"}'), 0);
  // The will of the current boot: offline, and a disconnect counted by reason.
  m.apply(t('b1', 'status'), JSON.stringify({ online: false, bootId: 'boot-1', reason: 'lost' }), T0 + 11_000);
  m.apply(t('b1', 'status'), birth('boot-2'), T0 + 12_000);
  m.apply(t('b1', 'status'), JSON.stringify({ online: false, bootId: 'boot-2', reason: 'lost' }), T0 + 13_000);
  const s2 = samples(renderMetrics(m, T0 + 14_000, health));
  assert.equal(s2.get('loa_box_online{device="b1"}'), 0);
  // Every live death is a disconnection, the late will of an old boot included (it did lose its connection).
  assert.equal(s2.get('loa_box_disconnects_total{device="b1",reason="lost"}'), 3);
  assert.equal(s2.get('loa_box_boots_total{device="b1"}'), 1, 'a live birth with a new bootId is a restart');
});

test('counters from events: plays by outcome and reason, faults by component, rejections by via and reason; re-sends count once', () => {
  const m = new ExporterModel({ root: ROOT });
  m.apply(t('b1', 'status'), birth('boot-1'), T0);
  m.apply(t('b1', 'events'), ev('play.started', { itemId: 'news' }), T0);
  const finished = ev('play.finished', { itemId: 'news' });
  m.apply(t('b1', 'events'), finished, T0);
  m.apply(t('b1', 'events'), finished, T0); // at-least-once: the same event again
  m.apply(t('b1', 'events'), ev('play.skipped', { reason: 'missed' }), T0);
  m.apply(t('b1', 'events'), ev('hw.fault', { component: 'amp', code: 'overload' }), T0);
  m.apply(t('b1', 'events'), ev('schedule.rejected', { reason: 'replay' }), T0);
  m.apply(
    t('b1', 'events'),
    ev('intake.flood', { windowS: 60, dropped: 40, byReason: { signature: 30, 'unknown-key': 10 }, byTopic: {} }),
    T0,
  );
  m.apply(t('b1', 'events'), ev('outbox.dropped', { count: 12, fromSeq: 1, toSeq: 12, reason: 'full' }), T0);
  m.apply(
    t('b1', 'cmd/result'),
    JSON.stringify({ cmdId: 'x', ok: false, ts: iso(T0), error: { code: 'expired', message: 'late' } }),
    T0,
  );
  m.apply(t('b1', 'cmd/result'), JSON.stringify({ cmdId: 'y', ok: true, ts: iso(T0), result: {} }), T0);
  m.apply(t('b1', 'events'), 'not json', T0);
  const s = samples(renderMetrics(m, T0 + 1000, health));
  assert.equal(s.get('loa_box_plays_total{device="b1",outcome="started",reason=""}'), 1);
  assert.equal(
    s.get('loa_box_plays_total{device="b1",outcome="finished",reason=""}'),
    1,
    'the re-sent event counted once',
  );
  assert.equal(s.get('loa_box_plays_total{device="b1",outcome="skipped",reason="missed"}'), 1);
  assert.equal(s.get('loa_box_hw_faults_total{device="b1",component="amp"}'), 1);
  assert.equal(s.get('loa_box_faults_active{device="b1",component="amp"}'), 1);
  assert.equal(s.get('loa_box_rejections_total{device="b1",via="schedule",reason="replay"}'), 1);
  assert.equal(s.get('loa_box_rejections_total{device="b1",via="flood",reason="signature"}'), 30);
  assert.equal(s.get('loa_box_rejections_total{device="b1",via="command",reason="expired"}'), 1);
  assert.equal(s.get('loa_box_outbox_dropped_events_total{device="b1"}'), 12);
  assert.equal(s.get('loa_exporter_invalid_messages_total'), 1);
  assert.equal(s.get('loa_exporter_messages_total{leaf="cmd_result"}'), 2);
});

test('emergencies: a device command unplayed after the grace period, played by event or heartbeat, missed after the window', async () => {
  const key = makeKey('centre-1');
  const m = new ExporterModel({ root: ROOT, graceMs: 60_000, windowMs: 600_000 });
  for (const b of ['b1', 'b2', 'b3'])
    m.apply(t(b, 'status'), birth(`boot-${b}`, b === 'b3' ? { groups: ['all'] } : {}), T0);
  const unplayed = (now: number) => {
    const s = samples(renderMetrics(m, now, health));
    return ['b1', 'b2', 'b3'].map((b) => s.get(`loa_box_emergency_unplayed{device="${b}"}`));
  };
  m.apply(t('b1', 'cmd'), await command(key, {}), T0);
  // A group command reaches every box whose birth lists the group (b1, b2; not b3).
  m.apply(groupTopic(ROOT, 'c26734', 'cmd'), await command(key, { id: 'cmd-2', target: { groups: ['c26734'] } }), T0);
  // Not emergencies: a normal priority, and an expired command (the box refuses it).
  m.apply(
    t('b3', 'cmd'),
    await command(key, {
      id: 'cmd-3',
      target: { devices: ['b3'] },
      args: { source: { kind: 'line' }, durationS: 60, priority: 75 },
    }),
    T0,
  );
  m.apply(t('b3', 'cmd'), await command(key, { id: 'cmd-4', target: { devices: ['b3'] }, expiresAt: iso(T0 - 1) }), T0);
  assert.deepEqual(unplayed(T0 + 30_000), [0, 0, 0], 'within the grace period');
  assert.deepEqual(unplayed(T0 + 61_000), [2, 1, 0]);
  // b1 plays cmd-1 (event) and b2 is seen playing cmd-2 in a heartbeat.
  m.apply(t('b1', 'events'), ev('play.started', { itemId: 'cmd-1', cmdId: 'cmd-1', priority: 100 }), T0 + 62_000);
  m.apply(
    t('b2', 'heartbeat'),
    beat('boot-b2', T0 + 62_000, {
      state: 'playing',
      playing: { itemId: 'cmd-2', docId: null, source: 'line', startedAt: iso(T0), priority: 100 },
    }),
    T0 + 62_000,
  );
  assert.deepEqual(unplayed(T0 + 63_000), [1, 0, 0]);
  // Past the window, cmd-2 on b1 is forgotten: counted missed.
  const s = samples(renderMetrics(m, T0 + 700_000, health));
  assert.equal(s.get('loa_box_emergency_unplayed{device="b1"}'), 0);
  assert.equal(s.get('loa_box_emergency_commands_total{device="b1"}'), 2);
  assert.equal(s.get('loa_box_emergency_played_total{device="b1"}'), 1);
  assert.equal(s.get('loa_box_emergency_missed_total{device="b1"}'), 1);
});

test('emergencies with --trust: a command that does not verify is not counted', async () => {
  const good = makeKey('centre-1');
  const forger = makeKey('centre-1');
  const m = new ExporterModel({
    root: ROOT,
    keys: new KeyRing([{ kid: good.kid, publicKey: good.publicKey }]),
    graceMs: 0,
  });
  m.apply(t('b1', 'status'), birth('boot-1'), T0);
  m.apply(t('b1', 'cmd'), await command(forger, {}), T0);
  assert.equal(samples(renderMetrics(m, T0 + 1000, health)).get('loa_box_emergency_unplayed{device="b1"}'), 0);
  m.apply(t('b1', 'cmd'), await command(good, {}), T0);
  assert.equal(samples(renderMetrics(m, T0 + 1000, health)).get('loa_box_emergency_unplayed{device="b1"}'), 1);
});

test('--per-group: series per group, not per box', () => {
  const m = new ExporterModel({ root: ROOT });
  for (let i = 0; i < 50; i++) {
    const id = `b${i}`;
    m.apply(t(id, 'status'), birth(`boot-${i}`, { groups: ['all', i < 10 ? 'c1' : 'c2'] }), T0);
    m.apply(t(id, 'heartbeat'), beat(`boot-${i}`, T0, { state: i === 3 ? 'fault' : 'idle', outbox: i }), T0);
    if (i === 4) m.apply(t(id, 'status'), JSON.stringify({ online: false, bootId: 'boot-4', reason: 'lost' }), T0);
    m.apply(t(id, 'events'), ev('play.failed', { reason: 'media-missing' }), T0);
  }
  const text = renderMetrics(m, T0 + 1000, { ...health, mode: 'group' }, { perGroup: /^c/ });
  const s = samples(text);
  assert.ok(![...s.keys()].some((k) => k.startsWith('loa_box_')), 'no per-box series');
  assert.ok(![...s.keys()].some((k) => k.includes('group="all"')), '--group-match keeps only the communes');
  assert.equal(s.get('loa_group_boxes{group="c1",presence="online"}'), 9);
  assert.equal(s.get('loa_group_boxes{group="c1",presence="offline"}'), 1);
  assert.equal(s.get('loa_group_boxes_by_state{group="c1",state="fault"}'), 1);
  assert.equal(s.get('loa_group_boxes_faulty{group="c1"}'), 1);
  assert.equal(s.get('loa_group_outbox_events{group="c1"}'), 45);
  assert.equal(s.get('loa_group_outbox_events_max{group="c2"}'), 49);
  assert.equal(s.get('loa_group_boxes_disk_low{group="c2"}'), 40);
  assert.equal(s.get('loa_group_plays_total{group="c2",outcome="failed",reason="media-missing"}'), 40);
});

test('per box with --group-match: only the boxes of matching groups (one province per exporter)', () => {
  const m = new ExporterModel({ root: ROOT });
  m.apply(t('b1', 'status'), birth('boot-1', { groups: ['all', 'p79'] }), T0);
  m.apply(t('b2', 'status'), birth('boot-2', { groups: ['all', 'p01'] }), T0);
  const s = samples(renderMetrics(m, T0, health, { onlyBoxesIn: /^p79$/ }));
  assert.equal(s.get('loa_box_online{device="b1"}'), 1);
  assert.equal(s.get('loa_box_online{device="b2"}'), undefined);
});

test('every printed name is declared in METRIC_NAMES, and every family has HELP and TYPE', () => {
  const m = new ExporterModel({ root: ROOT });
  m.apply(t('b1', 'status'), birth('boot-1'), T0);
  m.apply(
    t('b1', 'heartbeat'),
    beat('boot-1', T0, {
      state: 'playing',
      playing: { itemId: 'i', docId: 'd', source: 'file', startedAt: iso(T0), priority: 50 },
    }),
    T0,
  );
  for (const text of [renderMetrics(m, T0, health), renderMetrics(m, T0, health, { perGroup: /.*/ })]) {
    const typed = new Set([...text.matchAll(/^# TYPE (\S+) (gauge|counter)$/gm)].map((x) => x[1]!));
    for (const k of samples(text).keys()) {
      const name = k.replace(/\{.*$/, '');
      assert.ok(METRIC_NAMES.has(name), `${name} not in METRIC_NAMES`);
      assert.ok(typed.has(name), `${name} has no TYPE line`);
      assert.match(name, /^(loa|process)_[a-z0-9_]+$/);
    }
    for (const name of typed)
      if (/^# TYPE \S+ counter$/m.test(`# TYPE ${name} counter`) && text.includes(`# TYPE ${name} counter`))
        assert.match(name, /_total$/);
  }
});

test('--listen accepts HOST:PORT and refuses anything else', () => {
  assert.deepEqual(parseListen('127.0.0.1:9723'), { host: '127.0.0.1', port: 9723 });
  assert.deepEqual(parseListen(':9723'), { host: '0.0.0.0', port: 9723 });
  assert.deepEqual(parseListen('[::1]:9723'), { host: '::1', port: 9723 });
  for (const bad of ['9723', 'host:', 'host:99999', 'a:b'])
    assert.throws(() => parseListen(bad), /--listen .* must be HOST:PORT/);
});

test('usage errors exit 64 with one line; a port in use exits 1 before any broker is tried', async () => {
  const io = memoryIo();
  assert.equal(await main(['exporter', '--broker', 'mqtt://127.0.0.1:1', '--listen', 'nope'], io), 64);
  assert.match(io.stderr.join('\n'), /noc exporter: --listen "nope" must be HOST:PORT/);
  const io2 = memoryIo();
  assert.equal(await main(['exporter', '--broker', 'mqtt://127.0.0.1:1', '--group-match', '(unclosed'], io2), 64);
  assert.match(io2.stderr.join('\n'), /--group-match "\(unclosed": Invalid regular expression/);
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  const io3 = memoryIo();
  assert.equal(await main(['exporter', '--broker', 'mqtt://127.0.0.1:1', '--listen', `127.0.0.1:${port}`], io3), 1);
  assert.match(io3.stderr.join('\n'), /the port is in use/);
  busy.close();
});

test(
  'a rogue box with 20,000 distinct hw.fault components: ingest is fast, its series are capped and counted as dropped, the page stays small',
  { timeout: 120_000 },
  () => {
    const m = new ExporterModel({ root: ROOT });
    m.apply(t('good', 'status'), birth('boot-g'), T0, true);
    m.apply(t('good', 'events'), ev('hw.fault', { component: 'amp', code: 'overload' }), T0);
    m.apply(t('rogue', 'status'), birth('boot-r'), T0, true);
    const t0 = performance.now();
    for (let i = 0; i < 20_000; i++)
      m.apply(
        t('rogue', 'events'),
        JSON.stringify({ epoch: 'r', seq: i + 1, ts: iso(T0), type: 'hw.fault', component: `part-${i}`, code: 'x' }),
        T0,
      );
    const ingestMs = performance.now() - t0;
    // Measured 242 s before the bounds (a sort of every fault key per event), 0.75 s after.
    assert.ok(ingestMs < 30_000, `ingest of 20,000 events took ${ingestMs.toFixed(0)} ms`);
    const r0 = performance.now();
    const text = renderMetrics(m, T0 + 1000, health);
    const renderMs = performance.now() - r0;
    assert.ok(renderMs < 5_000, `render took ${renderMs.toFixed(0)} ms`);
    assert.ok(text.length < 200_000, `page of ${text.length} bytes`);
    const s = samples(text);
    const rogue = (name: string) => [...s.keys()].filter((k) => k.startsWith(`${name}{device="rogue"`)).length;
    assert.equal(rogue('loa_box_hw_faults_total'), 100);
    assert.equal(rogue('loa_box_faults_active'), 100);
    // Each event past the bound drops its counter label set and its active fault key.
    assert.equal(s.get('loa_exporter_dropped_total{reason="box_series"}'), 2 * 19_900);
    assert.equal(s.get('loa_exporter_dropped_total{reason="boxes"}'), 0);
    // The rogue's known components still count, and the good box is untouched.
    m.apply(
      t('rogue', 'events'),
      JSON.stringify({ epoch: 'r', seq: 20_001, ts: iso(T0), type: 'hw.fault', component: 'part-7', code: 'x' }),
      T0,
    );
    assert.equal(
      samples(renderMetrics(m, T0 + 1000, health)).get('loa_box_hw_faults_total{device="rogue",component="part-7"}'),
      2,
    );
    assert.equal(s.get('loa_box_hw_faults_total{device="good",component="amp"}'), 1);
    assert.equal(s.get('loa_box_faults_active{device="good",component="amp"}'), 1);
  },
);

test(
  '10,000 random device ids: at most --max-boxes are kept, the others are dropped and counted; the known boxes keep updating',
  { timeout: 120_000 },
  () => {
    const m = new ExporterModel({ root: ROOT, maxBoxes: 1000 });
    m.apply(t('b1', 'status'), birth('boot-1'), T0, true);
    const t0 = performance.now();
    for (let i = 0; i < 10_000; i++) {
      const id = `x${Math.random().toString(36).slice(2, 12)}`;
      m.apply(t(id, 'status'), birth(`boot-${i}`), T0);
      m.apply(t(id, 'events'), ev('play.failed', { reason: 'hardware', itemId: 'i', docId: 'd' }), T0);
    }
    assert.ok(performance.now() - t0 < 60_000);
    assert.equal(m.extra.size, 1000);
    assert.equal(m.fleet.size, 1000);
    m.apply(t('b1', 'heartbeat'), beat('boot-1', T0), T0);
    const s = samples(renderMetrics(m, T0 + 1000, health));
    assert.equal(s.get('loa_exporter_boxes'), 1000);
    assert.equal(s.get('loa_exporter_dropped_total{reason="boxes"}'), 2 * 9_001);
    assert.equal(s.get('loa_box_outbox_events{device="b1"}'), 7);
    // A command to an unknown id beyond the bound adds no box either.
    m.apply(t('late', 'cmd'), 'not.a.command', T0);
    assert.equal(m.extra.size, 1000);
  },
);

test('--max-series bounds the counter label sets of all boxes together', () => {
  const m = new ExporterModel({ root: ROOT, maxSeries: 5, maxBoxSeries: 3 });
  for (const d of ['b1', 'b2', 'b3'])
    for (const reason of ['a', 'b', 'c', 'd']) m.apply(t(d, 'events'), ev('schedule.rejected', { reason }), T0);
  const s = samples(renderMetrics(m, T0, health));
  assert.equal([...s.keys()].filter((k) => k.startsWith('loa_box_rejections_total')).length, 5);
  // b1 keeps a, b, c and drops d (its own bound); b2 keeps a, b (5 in all), then c, d and b3's four drop on the total.
  assert.equal(s.get('loa_exporter_dropped_total{reason="box_series"}'), 1);
  assert.equal(s.get('loa_exporter_dropped_total{reason="series"}'), 6);
});
