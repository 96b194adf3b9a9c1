// Proof of play: events folded into one row per occurrence (every outcome), the CSV
// quoting of RFC 4180, day ranges in a time zone, and de-duplication in the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { csv, csvField, csvLine } from '../../noc/csv.js';
import { proofOfPlay, type StoredEvent } from '../../noc/proof-of-play.js';
import { EventStore } from '../../noc/events-store.js';
import { COLUMNS, exportCsv } from '../../noc/events-export.js';
import { addDays, formatInTz, isDate, startOfDay } from '../../noc/tz.js';
import { tempDir } from '../helpers/tmp.js';

const OCC = '2026-11-26T06:30:00+07:00';
const OCC_MS = Date.parse(OCC);
const at = (s: number) => new Date(OCC_MS + s * 1000).toISOString();
const common = {
  itemId: 'news',
  docId: 'daily',
  docVersion: 42,
  occurrence: OCC,
  lateMs: 12,
  source: 'file',
  priority: 50,
};

function events(deviceId: string, list: Record<string, unknown>[], epoch = 'e1', firstSeq = 1): StoredEvent[] {
  return list.map((body, i) => ({ deviceId, epoch, seq: firstSeq + i, body: { epoch, seq: firstSeq + i, ...body } }));
}

test('CSV fields: quoted only when they hold a comma, quote, CR or LF; quotes doubled; CRLF lines', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('two\nlines'), '"two\nlines"');
  assert.equal(csvField('cr\r'), '"cr\r"');
  assert.equal(csvField(null), '');
  assert.equal(csvField(undefined), '');
  assert.equal(csvField(0), '0');
  assert.equal(csvLine(['a', 1, null, 'x,y']), 'a,1,,"x,y"\r\n');
  assert.equal(csv(['h1', 'h2'], [['1', '2']]), 'h1,h2\r\n1,2\r\n');
});

test('each outcome: finished, interrupted, failed, skipped, started-without-end', () => {
  const rows = proofOfPlay([
    ...events('b1', [
      { ...common, type: 'play.started', ts: at(0) },
      { ...common, type: 'play.finished', ts: at(115), playedMs: 115_200 },
    ]),
    ...events('b2', [
      { ...common, type: 'play.started', ts: at(1) },
      { ...common, type: 'play.interrupted', ts: at(31), playedMs: 30_000, reason: 'preempted' },
    ]),
    ...events('b3', [
      { ...common, type: 'play.failed', ts: at(2), reason: 'media', message: 'decoder said "no", twice' },
    ]),
    ...events('b4', [
      { itemId: 'news', docId: 'daily', occurrence: OCC, type: 'play.skipped', ts: at(0), reason: 'busy' },
    ]),
    ...events('b5', [{ ...common, type: 'play.started', ts: at(0) }]),
    // Not play events: ignored.
    ...events('b6', [{ type: 'hw.fault', ts: at(0), component: 'amp', code: 'x', message: '' }]),
  ]);
  assert.deepEqual(
    rows.map((r) => [r.deviceId, r.outcome, r.playedMs, r.reason, r.started !== null, r.ended !== null]),
    [
      ['b1', 'finished', 115_200, null, true, true],
      ['b2', 'interrupted', 30_000, 'preempted', true, true],
      ['b3', 'failed', 0, 'media', false, true],
      ['b4', 'skipped', null, 'busy', false, false],
      ['b5', 'started-without-end', null, null, true, false],
    ],
  );
  assert.equal(rows[0]!.lateMs, 12);
  assert.equal(rows[0]!.docVersion, 42);
  assert.equal(rows[2]!.message, 'decoder said "no", twice');
});

test('a resumed relay is one occurrence with two segments; a failure after audio counts the time played', () => {
  const relay = { ...common, itemId: 'vov1', source: 'fm', priority: 40 };
  const rows = proofOfPlay([
    // Out of order on purpose: the store returns by (device, epoch, seq) but a fold must not depend on it.
    ...events('b1', [{ ...relay, type: 'play.finished', ts: at(600), playedMs: 500_000, resumed: true }], 'e1', 4),
    ...events('b1', [{ ...relay, type: 'play.started', ts: at(100), resumed: true }], 'e1', 3),
    ...events('b1', [
      { ...relay, type: 'play.started', ts: at(0) },
      { ...relay, type: 'play.interrupted', ts: at(60), playedMs: 60_000, reason: 'preempted' },
    ]),
    ...events('b2', [
      { ...common, source: 'stream', type: 'play.started', ts: at(0) },
      { ...common, source: 'stream', type: 'play.failed', ts: at(42), reason: 'network', message: 'all URLs failed' },
    ]),
  ]);
  assert.equal(rows.length, 2);
  const r = rows[0]!;
  assert.deepEqual(
    [r.outcome, r.segments, r.playedMs, r.reason, r.source, r.priority],
    ['finished', 2, 560_000, 'preempted', 'fm', 40],
  );
  assert.equal(r.started, OCC_MS);
  assert.equal(r.ended, OCC_MS + 600_000);
  assert.deepEqual([rows[1]!.outcome, rows[1]!.playedMs], ['failed', 42_000]);
});

test('a play command: itemId is the command id, docId null, cmdId carried', () => {
  const c = {
    itemId: 'cmd-1',
    docId: null,
    docVersion: null,
    occurrence: OCC,
    lateMs: 0,
    source: 'stream',
    priority: 100,
    cmdId: 'cmd-1',
  };
  const [r] = proofOfPlay(
    events('b1', [
      { ...c, type: 'play.started', ts: at(0) },
      { ...c, type: 'play.interrupted', ts: at(5), playedMs: 5000, reason: 'stopped' },
    ]),
  );
  assert.deepEqual([r!.itemId, r!.docId, r!.cmdId, r!.outcome], ['cmd-1', null, 'cmd-1', 'interrupted']);
});

test('a repeat series: one row per play, each with its repeat number and the CAP identifier (issue 16)', () => {
  const c = {
    itemId: 'cmd-1',
    docId: null,
    docVersion: null,
    lateMs: 0,
    source: 'file',
    priority: 100,
    cmdId: 'cmd-1',
    capId: 'VN-KTTV-2026-0042',
  };
  const second = new Date(OCC_MS + 1_800_000).toISOString();
  const rows = proofOfPlay(
    events('b1', [
      { ...c, occurrence: OCC, repeat: 1, type: 'play.started', ts: at(0) },
      { ...c, occurrence: OCC, repeat: 1, type: 'play.finished', ts: at(17), playedMs: 17_079 },
      { ...c, occurrence: second, repeat: 2, type: 'play.started', ts: at(1800) },
      {
        ...c,
        occurrence: second,
        repeat: 2,
        type: 'play.interrupted',
        ts: at(1805),
        playedMs: 5000,
        reason: 'cancelled',
      },
    ]),
  );
  assert.deepEqual(
    rows.map((r) => [r.repeat, r.capId, r.outcome, r.reason]),
    [
      [1, 'VN-KTTV-2026-0042', 'finished', null],
      [2, 'VN-KTTV-2026-0042', 'interrupted', 'cancelled'],
    ],
  );
  const plain = proofOfPlay(events('b1', [{ ...common, type: 'play.skipped', reason: 'busy', ts: at(0) }]));
  assert.deepEqual([plain[0]!.repeat, plain[0]!.capId], [null, null]);
});

test('days in a time zone: start of day, formatting with the offset, DST gaps', () => {
  assert.equal(new Date(startOfDay('2026-11-01', 'Asia/Ho_Chi_Minh')).toISOString(), '2026-10-31T17:00:00.000Z');
  assert.equal(formatInTz(Date.parse('2026-10-31T17:00:00Z'), 'Asia/Ho_Chi_Minh'), '2026-11-01T00:00:00+07:00');
  assert.equal(formatInTz(Date.parse('2026-11-26T06:30:15.999Z'), 'UTC'), '2026-11-26T06:30:15+00:00');
  // Europe/Berlin changes offset on 2026-03-29: the day starts at +01:00, the next at +02:00.
  assert.equal(new Date(startOfDay('2026-03-29', 'Europe/Berlin')).toISOString(), '2026-03-28T23:00:00.000Z');
  assert.equal(new Date(startOfDay('2026-03-30', 'Europe/Berlin')).toISOString(), '2026-03-29T22:00:00.000Z');
  assert.equal(formatInTz(Date.parse('2026-07-01T12:00:00Z'), 'America/Sao_Paulo'), '2026-07-01T09:00:00-03:00');
  assert.equal(addDays('2026-11-30', 1), '2026-12-01');
  assert.equal(isDate('2026-02-30'), false);
  assert.equal(isDate('2026-02-28'), true);
});

test('store: the same (device, epoch, seq) twice is kept once; another device or epoch is another event', () => {
  const store = new EventStore(join(tempDir('noc-store'), 'ev.sqlite'));
  const e = { epoch: 'e1', seq: 1, ts: at(0), type: 'play.started', ...common };
  const raw = JSON.stringify(e);
  assert.equal(store.addEvent('b1', e, 0, raw), 'stored');
  assert.equal(store.addEvent('b1', e, 1, raw), 'duplicate');
  assert.equal(store.addEvent('b2', e, 2, raw), 'stored');
  assert.equal(store.addEvent('b1', { ...e, epoch: 'e2' }, 3, raw), 'stored');
  assert.equal(store.addEvent('b1', { ...e, seq: 0 }, 4, raw), 'invalid');
  assert.equal(store.addEvent('b1', { type: 'x' }, 4, '{}'), 'invalid');
  assert.equal(store.count(), 3);
  // Births: the newest by ts wins, whatever the arrival order.
  assert.equal(store.addBirth('b1', { online: true, ts: at(100), bootId: 'new', groups: ['c1', 'all'] }, 0), true);
  assert.equal(store.addBirth('b1', { online: true, ts: at(50), bootId: 'old', groups: ['c0'] }, 1), false);
  assert.equal(store.addBirth('b1', { online: false, bootId: 'new' }, 2), false);
  assert.deepEqual(store.groups().get('b1'), ['c1', 'all']);
  store.close();
});

test('export: inclusive day range in the zone, group filter, one CSV line per occurrence', async () => {
  const store = new EventStore(join(tempDir('noc-export'), 'ev.sqlite'));
  const put = (device: string, list: Record<string, unknown>[]) => {
    for (const e of events(device, list)) store.addEvent(e.deviceId, e.body, 0, JSON.stringify(e.body));
  };
  // 2026-11-30 23:30 in Ho Chi Minh City is 16:30 UTC: inside a range ending on the 30th.
  const lateNight = '2026-11-30T23:30:00+07:00';
  const nextDay = '2026-12-01T00:00:00+07:00';
  put('b1', [
    { ...common, occurrence: lateNight, type: 'play.started', ts: '2026-11-30T16:30:00.100Z' },
    { ...common, occurrence: lateNight, type: 'play.finished', ts: '2026-11-30T16:32:00.100Z', playedMs: 120_000 },
  ]);
  put('b2', [
    {
      itemId: 'x,y',
      docId: 'daily',
      occurrence: nextDay,
      type: 'play.skipped',
      ts: '2026-11-30T17:00:00Z',
      reason: 'missed',
    },
  ]);
  store.addBirth('b1', { online: true, ts: at(0), bootId: 'q', groups: ['all', 'c26734'] }, 0);
  store.addBirth('b2', { online: true, ts: at(0), bootId: 'q', groups: ['all'] }, 0);
  const nov = await exportCsv(store, { from: '2026-11-01', to: '2026-11-30', tz: 'Asia/Ho_Chi_Minh' });
  const lines = nov.text.split('\r\n');
  assert.equal(lines[0], COLUMNS.join(','));
  assert.equal(
    lines[1],
    'b1,all c26734,news,daily,42,2026-11-30T23:30:00+07:00,finished,2026-11-30T23:30:00+07:00,2026-11-30T23:32:00+07:00,120000,12,file,50,,,,,1,,,',
  );
  assert.equal(lines.length, 3); // header, one row, the empty string after the final CRLF
  // The same instant is 2026-11-30 in UTC: in a UTC export b2's occurrence falls on 11-30 too.
  const utc = await exportCsv(store, { from: '2026-11-30', to: '2026-11-30', tz: 'UTC' });
  assert.equal(utc.rows, 2);
  assert.match(utc.text, /\r\nb2,all,"x,y",daily,,2026-11-30T17:00:00\+00:00,skipped,,,,,,,missed,,,,1,,,\r\n$/);
  const group = await exportCsv(store, {
    from: '2026-11-30',
    to: '2026-12-01',
    tz: 'Asia/Ho_Chi_Minh',
    group: 'c26734',
  });
  assert.equal(group.rows, 1);
  store.close();
});

test('proof of sound (contract v1.2 §9): the measured level and silent time per occurrence, empty where not measured', async () => {
  // Dates from the run's clock: an occurrence at the start of the current minute (UTC).
  const occMs = Math.floor(Date.now() / 60_000) * 60_000;
  const occ = new Date(occMs).toISOString();
  const ts = (s: number) => new Date(occMs + s * 1000).toISOString();
  const c = { ...common, occurrence: occ };
  const out = (levelDb: number, silentMs: number) => ({ measured: true, levelDb, silentMs });
  const relay = { ...c, source: 'fm', priority: 40 };
  const list: StoredEvent[] = [
    ...events('b1', [
      { ...c, type: 'play.started', ts: ts(0) },
      { ...c, type: 'play.finished', ts: ts(60), playedMs: 60_000, output: out(-8.5, 0) },
    ]),
    // A resumed relay: the silent time of both segments, the level of the longer one.
    ...events('b2', [
      { ...relay, type: 'play.started', ts: ts(0) },
      { ...relay, type: 'play.interrupted', ts: ts(60), playedMs: 60_000, reason: 'preempted', output: out(-20, 5000) },
      { ...relay, type: 'play.started', ts: ts(100), resumed: true },
      { ...relay, type: 'play.finished', ts: ts(600), playedMs: 500_000, resumed: true, output: out(-7, 1500) },
    ]),
    // A board that cannot measure, and a box before v1.2 (no output at all).
    ...events('b3', [{ ...c, type: 'play.finished', ts: ts(60), playedMs: 60_000, output: { measured: false } }]),
    ...events('b4', [{ ...c, type: 'play.finished', ts: ts(60), playedMs: 60_000 }]),
    // An emergency that sounded on no path: play.failed carries no output.
    ...events('b5', [
      { ...c, priority: 100, type: 'play.started', ts: ts(0) },
      { ...c, priority: 100, type: 'play.failed', ts: ts(20), reason: 'no-output', message: 'silent on every path' },
    ]),
    // One segment measured, the longer one not: what was measured is what is reported.
    ...events('b6', [
      { ...relay, type: 'play.interrupted', ts: ts(60), playedMs: 60_000, reason: 'preempted', output: out(-9, 2000) },
      { ...relay, type: 'play.finished', ts: ts(600), playedMs: 500_000, resumed: true, output: { measured: false } },
    ]),
  ];
  const rows = proofOfPlay(list);
  assert.deepEqual(
    rows.map((r) => [r.deviceId, r.outputLevelDb, r.silentMs]),
    [
      ['b1', -8.5, 0],
      ['b2', -7, 6500],
      ['b3', null, null],
      ['b4', null, null],
      ['b5', null, null],
      ['b6', -9, 2000],
    ],
  );
  assert.equal(rows[4]!.reason, 'no-output');
  // In the CSV: the two new columns last, empty when not measured; the older columns where they were.
  const store = new EventStore(join(tempDir('noc-sound'), 'ev.sqlite'));
  for (const e of list) store.addEvent(e.deviceId, e.body, 0, JSON.stringify(e.body));
  const day = occ.slice(0, 10);
  const lines = (await exportCsv(store, { from: day, to: day, tz: 'UTC' })).text.split('\r\n');
  store.close();
  assert.deepEqual(COLUMNS.slice(-3), ['message', 'outputLevelDb', 'silentMs']);
  const cells = (device: string) => lines.find((l) => l.startsWith(`${device},`))!.split(',');
  assert.deepEqual(cells('b1').slice(-4), ['1', '', '-8.5', '0']);
  assert.deepEqual(cells('b2').slice(-4), ['2', '', '-7', '6500']);
  assert.deepEqual(cells('b3').slice(-3), ['', '', '']);
  assert.deepEqual(cells('b5').slice(-4), ['1', 'silent on every path', '', '']);
  assert.equal(cells('b1').length, COLUMNS.length);
});
