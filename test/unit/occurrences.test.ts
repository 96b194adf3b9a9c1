import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  expandOccurrences,
  MAX_OCCURRENCES_PER_ITEM,
  nextOccurrence,
  type DocInForce,
} from '../../agent/domain/occurrences.js';
import { validateSchedule } from '../../contract/schedule-doc.js';

const HASH = 'a'.repeat(64);
const media = (id: string, durationMs?: number) => ({
  id,
  url: `https://cdn.example.vn/${id}.mp3`,
  sha256: HASH,
  bytes: 1000,
  ...(durationMs === undefined ? {} : { durationMs }),
});
const line = { kind: 'line' };

function doc(fields: Record<string, unknown>, topic = 'sched/a'): DocInForce {
  const r = validateSchedule({
    type: 'schedule',
    id: 'c26734-daily',
    version: 42,
    issuedAt: '2026-01-01T00:00:00+07:00',
    expiresAt: '2027-12-31T00:00:00+07:00',
    target: { groups: ['c26734'] },
    timezone: 'Asia/Ho_Chi_Minh',
    ...fields,
  });
  if (!r.ok) throw new Error(r.message);
  return { topic, doc: r.doc };
}

const win = (from: string, to: string) => ({ from: Date.parse(from), to: Date.parse(to) });
const starts = (docs: DocInForce[], from: string, to: string) =>
  expandOccurrences(docs, win(from, to)).map((o) => new Date(o.start).toISOString());
const cronDoc = (cron: string, timezone = 'Asia/Ho_Chi_Minh', extra: Record<string, unknown> = {}) =>
  doc({ timezone, items: [{ id: 'i', source: line, durationS: 60, cron, ...extra }] });

test('an `at` item plays once, when its instant is in [from, to)', () => {
  const d = doc({ items: [{ id: 'news', source: line, durationS: 60, at: '2026-11-26T06:30:00+07:00' }] });
  assert.deepEqual(starts([d], '2026-11-25T00:00:00Z', '2026-11-27T00:00:00Z'), ['2026-11-25T23:30:00.000Z']);
  assert.deepEqual(starts([d], '2026-11-25T23:30:00Z', '2026-11-25T23:30:00.001Z'), ['2026-11-25T23:30:00.000Z']);
  assert.deepEqual(starts([d], '2026-11-25T00:00:00Z', '2026-11-25T23:30:00Z'), []);
  assert.deepEqual(starts([d], '2026-11-26T00:00:00Z', '2026-11-27T00:00:00Z'), []);
});

test('a 5-field cron is read in the document time zone: 05:00 in Vietnam is 22:00Z the day before', () => {
  assert.deepEqual(starts([cronDoc('0 5 * * *')], '2026-11-26T00:00:00Z', '2026-11-29T00:00:00Z'), [
    '2026-11-26T22:00:00.000Z',
    '2026-11-27T22:00:00.000Z',
    '2026-11-28T22:00:00.000Z',
  ]);
});

test('a 6-field cron has seconds first', () => {
  assert.deepEqual(starts([cronDoc('30 0 5 * * *')], '2026-11-26T00:00:00Z', '2026-11-28T00:00:00Z'), [
    '2026-11-26T22:00:30.000Z',
    '2026-11-27T22:00:30.000Z',
  ]);
  assert.deepEqual(starts([cronDoc('*/20 0 17 * * 1-5')], '2026-11-27T00:00:00Z', '2026-11-28T00:00:00Z'), [
    '2026-11-27T10:00:00.000Z',
    '2026-11-27T10:00:20.000Z',
    '2026-11-27T10:00:40.000Z',
  ]);
});

test('from is inclusive and until exclusive', () => {
  const d = cronDoc('0 5 * * *', 'Asia/Ho_Chi_Minh', {
    from: '2026-11-27T05:00:00+07:00',
    until: '2026-11-29T05:00:00+07:00',
  });
  assert.deepEqual(starts([d], '2026-11-20T00:00:00Z', '2026-12-05T00:00:00Z'), [
    '2026-11-26T22:00:00.000Z',
    '2026-11-27T22:00:00.000Z',
  ]);
});

test('nothing starts at or after expiresAt', () => {
  const d = doc({
    expiresAt: '2026-11-29T05:00:00+07:00',
    items: [
      { id: 'daily', source: line, durationS: 60, cron: '0 5 * * *' },
      { id: 'late', source: line, durationS: 60, at: '2026-11-30T06:00:00+07:00' },
    ],
  });
  assert.deepEqual(starts([d], '2026-11-26T00:00:00Z', '2026-12-05T00:00:00Z'), [
    '2026-11-26T22:00:00.000Z',
    '2026-11-27T22:00:00.000Z',
  ]);
});

test('end: durationS, else the sum of known file durations, else null; media in the order named', () => {
  const d = doc({
    media: [media('a', 1500), media('b', 2500), media('c'), media('fb', 9000)],
    items: [
      { id: 'files', source: { kind: 'file', media: ['b', 'a'] }, at: '2026-11-26T06:00:00Z' },
      { id: 'unknown', source: { kind: 'file', media: ['a', 'c'] }, at: '2026-11-26T07:00:00Z' },
      { id: 'capped', source: { kind: 'file', media: ['a', 'c'] }, durationS: 10, at: '2026-11-26T08:00:00Z' },
      {
        id: 'radio',
        source: { kind: 'stream', url: 'https://radio.example.vn/live.mp3', fallback: { kind: 'file', media: ['fb'] } },
        durationS: 1800,
        at: '2026-11-26T09:00:00Z',
      },
      {
        id: 'fm',
        source: { kind: 'fm', freqMHz: 100 },
        durationS: 60,
        priority: 75,
        volume: 80,
        at: '2026-11-26T10:00:00Z',
      },
    ],
  });
  const byId = Object.fromEntries(
    expandOccurrences([d], win('2026-11-26T00:00:00Z', '2026-11-27T00:00:00Z')).map((o) => [o.itemId, o]),
  );
  const iso = (t: number | null | undefined) => (t == null ? t : new Date(t).toISOString());
  assert.equal(iso(byId.files?.end), '2026-11-26T06:00:04.000Z');
  assert.deepEqual(
    byId.files?.media.map((m) => m.id),
    ['b', 'a'],
  );
  assert.equal(byId.unknown?.end, null);
  assert.equal(byId.files?.durationMs, null, 'a file item without durationS ends with its media');
  assert.equal(iso(byId.capped?.end), '2026-11-26T08:00:10.000Z');
  assert.equal(iso(byId.radio?.end), '2026-11-26T09:30:00.000Z');
  assert.deepEqual(
    byId.radio?.media.map((m) => m.id),
    ['fb'],
  );
  assert.deepEqual(byId.fm, {
    key: 'c26734-daily/fm/2026-11-26T10:00:00.000Z',
    docId: 'c26734-daily',
    docVersion: 42,
    topic: 'sched/a',
    itemId: 'fm',
    start: Date.parse('2026-11-26T10:00:00Z'),
    end: Date.parse('2026-11-26T10:01:00Z'),
    durationMs: 60_000,
    priority: 75,
    volume: 80,
    source: { kind: 'fm', freqMHz: 100 },
    media: [],
  });
  assert.equal(byId.files?.priority, 50);
  assert.equal(byId.files?.volume, undefined);
});

test('keys are stable across calls and across versions of the same document', () => {
  const items = [{ id: 'vov1', source: line, durationS: 60, cron: '0 5 * * *' }];
  const w = win('2026-11-26T00:00:00Z', '2026-11-28T00:00:00Z');
  const a = expandOccurrences([doc({ items })], w);
  assert.deepEqual(expandOccurrences([doc({ items })], w), a);
  assert.deepEqual(
    a.map((o) => o.key),
    ['c26734-daily/vov1/2026-11-26T22:00:00.000Z', 'c26734-daily/vov1/2026-11-27T22:00:00.000Z'],
  );
  const b = expandOccurrences([doc({ version: 43, items: [{ ...items[0], volume: 30 }] })], w);
  assert.deepEqual(
    b.map((o) => o.key),
    a.map((o) => o.key),
  );
  assert.deepEqual(
    b.map((o) => o.docVersion),
    [43, 43],
  );
});

test('sorted by start, then priority (highest first), then key; equal keys appear once', () => {
  const at = '2026-11-26T06:00:00Z';
  const d = doc({
    items: [
      { id: 'z-low', source: line, durationS: 60, at, priority: 10 },
      { id: 'later', source: line, durationS: 60, at: '2026-11-26T05:00:00Z', priority: 0 },
      { id: 'b-mid', source: line, durationS: 60, at },
      { id: 'a-mid', source: line, durationS: 60, at },
      { id: 'emergency', source: line, durationS: 60, at, priority: 100 },
    ],
  });
  const order = (docs: DocInForce[]) =>
    expandOccurrences(docs, win('2026-11-26T00:00:00Z', '2026-11-27T00:00:00Z')).map((o) => o.itemId);
  assert.deepEqual(order([d]), ['later', 'emergency', 'a-mid', 'b-mid', 'z-low']);
  // The same document id on a second topic yields the same keys: one play each, not two.
  const again = { ...d, topic: 'sched/b' };
  assert.deepEqual(order([d, again]), ['later', 'emergency', 'a-mid', 'b-mid', 'z-low']);
});

test('the plan is the union of the documents in force on their topics', () => {
  const province = doc(
    { id: 'province', items: [{ id: 'live', source: line, durationS: 60, cron: '0 17 * * 1-5' }] },
    'sched/province',
  );
  const commune = doc(
    { id: 'commune', items: [{ id: 'news', source: line, durationS: 60, at: '2026-11-27T16:00:00+07:00' }] },
    'sched/commune',
  );
  const occ = expandOccurrences([province, commune], win('2026-11-27T00:00:00Z', '2026-11-28T00:00:00Z'));
  assert.deepEqual(
    occ.map((o) => [o.topic, o.key]),
    [
      ['sched/commune', 'commune/news/2026-11-27T09:00:00.000Z'],
      ['sched/province', 'province/live/2026-11-27T10:00:00.000Z'],
    ],
  );
  assert.deepEqual(expandOccurrences([doc({ items: [] })], win('2026-11-27T00:00:00Z', '2026-11-28T00:00:00Z')), []);
});

// Europe/Berlin: 2026-03-29 02:00 CET jumps to 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST
// falls back to 02:00 CET (01:00Z), so 02:00-02:59 happens twice.
for (const expr of ['30 2 * * *', '0 30 2 * * *']) {
  test(`spring gap: "${expr}" plays once at 03:00 CEST`, () => {
    assert.deepEqual(starts([cronDoc(expr, 'Europe/Berlin')], '2026-03-28T00:00:00Z', '2026-03-31T00:00:00Z'), [
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:30:00.000Z',
    ]);
  });
  test(`autumn repeat: "${expr}" plays once, at 02:30 CEST`, () => {
    assert.deepEqual(starts([cronDoc(expr, 'Europe/Berlin')], '2026-10-24T00:00:00Z', '2026-10-27T00:00:00Z'), [
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
    ]);
  });
}

test('spring gap: several gap times collapse into one play at 03:00; times after the gap keep theirs', () => {
  const day = ['2026-03-28T23:00:00Z', '2026-03-29T03:00:00Z'] as const;
  assert.deepEqual(starts([cronDoc('*/30 2 * * *', 'Europe/Berlin')], ...day), ['2026-03-29T01:00:00.000Z']);
  assert.deepEqual(starts([cronDoc('0 */20 2 * * *', 'Europe/Berlin')], ...day), ['2026-03-29T01:00:00.000Z']);
  assert.deepEqual(starts([cronDoc('15 2,3 * * *', 'Europe/Berlin')], ...day), [
    '2026-03-29T01:00:00.000Z',
    '2026-03-29T01:15:00.000Z',
  ]);
  // A window that opens exactly at the end of the gap still holds the shifted play.
  assert.deepEqual(starts([cronDoc('30 2 * * *', 'Europe/Berlin')], '2026-03-29T01:00:00Z', '2026-03-29T01:00:01Z'), [
    '2026-03-29T01:00:00.000Z',
  ]);
});

test('autumn repeat: the second pass of the hour plays nothing, wildcard hours included', () => {
  const day = ['2026-10-24T23:30:00Z', '2026-10-25T03:00:00Z'] as const;
  assert.deepEqual(starts([cronDoc('*/30 2 * * *', 'Europe/Berlin')], ...day), [
    '2026-10-25T00:00:00.000Z',
    '2026-10-25T00:30:00.000Z',
  ]);
  assert.deepEqual(starts([cronDoc('0 0,30 2 * * *', 'Europe/Berlin')], ...day), [
    '2026-10-25T00:00:00.000Z',
    '2026-10-25T00:30:00.000Z',
  ]);
  assert.deepEqual(starts([cronDoc('15 2,3 * * *', 'Europe/Berlin')], ...day), [
    '2026-10-25T00:15:00.000Z',
    '2026-10-25T02:15:00.000Z',
  ]);
  assert.deepEqual(starts([cronDoc('0 * * * *', 'Europe/Berlin')], ...day), [
    '2026-10-25T00:00:00.000Z',
    '2026-10-25T02:00:00.000Z',
  ]);
  // A window inside the second pass finds nothing.
  assert.deepEqual(
    starts([cronDoc('30 2 * * *', 'Europe/Berlin')], '2026-10-25T01:00:00Z', '2026-10-25T02:00:00Z'),
    [],
  );
});

test('a half-hour DST shift (Australia/Lord_Howe, 2026-10-04 02:00 -> 02:30) follows the same rule', () => {
  assert.deepEqual(
    starts([cronDoc('15 2 * * *', 'Australia/Lord_Howe')], '2026-10-02T00:00:00Z', '2026-10-05T00:00:00Z'),
    ['2026-10-02T15:45:00.000Z', '2026-10-03T15:30:00.000Z', '2026-10-04T15:15:00.000Z'],
  );
});

test(`a pathological cron is refused by the schema; the expander still stops one at ${MAX_OCCURRENCES_PER_ITEM} occurrences per item`, () => {
  const items = [
    { id: 'every-second', source: line, durationS: 1, cron: '* * * * * *' },
    { id: 'daily', source: line, durationS: 60, cron: '0 5 * * *' },
  ];
  assert.throws(() => doc({ items }), /expand to up to 86400 occurrences in a day; the limit is 1440/);
  // Defence in depth: a document that reaches the expander without the schema (a bug, a
  // stored document from an older agent) still cannot make one call unbounded.
  const legal = doc({ items: [{ ...items[0], cron: '0 * * * *' }, items[1]] });
  const d: DocInForce = {
    topic: legal.topic,
    doc: { ...legal.doc, items: legal.doc.items.map((it, i) => (i === 0 ? { ...it, cron: '* * * * * *' } : it)) },
  };
  const occ = expandOccurrences([d], win('2026-11-26T00:00:00Z', '2026-12-03T00:00:00Z'));
  const flood = occ.filter((o) => o.itemId === 'every-second');
  assert.equal(flood.length, 10_000);
  assert.equal(new Date(flood[0]!.start).toISOString(), '2026-11-26T00:00:00.000Z');
  assert.equal(new Date(flood.at(-1)!.start).toISOString(), '2026-11-26T02:46:39.000Z');
  assert.equal(occ.filter((o) => o.itemId === 'daily').length, 7);
});

test('nextOccurrence: strictly after `after`, within the horizon, else null', () => {
  const d = cronDoc('0 5 * * *');
  const at = (iso: string, h: number) => nextOccurrence([d], Date.parse(iso), h * 3_600_000)?.key ?? null;
  assert.equal(at('2026-11-26T12:00:00Z', 24), 'c26734-daily/i/2026-11-26T22:00:00.000Z');
  assert.equal(at('2026-11-26T22:00:00Z', 24), 'c26734-daily/i/2026-11-27T22:00:00.000Z');
  assert.equal(at('2026-11-26T21:59:59.999Z', 1), 'c26734-daily/i/2026-11-26T22:00:00.000Z');
  assert.equal(at('2026-11-26T12:00:00Z', 10), 'c26734-daily/i/2026-11-26T22:00:00.000Z');
  assert.equal(at('2026-11-26T12:00:00Z', 9), null);
  assert.equal(nextOccurrence([], 0, 86_400_000), null);
});
