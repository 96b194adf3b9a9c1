// Repeat until cancelled (issue 16), the pure parts: the cadence of a series, the schema
// rules of `repeat`, `capRef` and `cancel`, schedule items with repeat in the occurrence
// planner, and what a cancel matches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seriesPlays, cancelledBy, commandOccurrences, type CommandSeries } from '../../agent/domain/repeat.js';
import { validateCommand } from '../../contract/command-doc.js';
import { validateSchedule } from '../../contract/schedule-doc.js';
import { expandOccurrences, type DocInForce } from '../../agent/domain/occurrences.js';

const T0 = Date.parse('2026-11-27T07:00:00Z');
const H = 3_600_000;
const cmd = (args: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'command',
  id: 'c1',
  issuedAt: '2026-11-27T07:00:00Z',
  expiresAt: '2026-11-28T07:00:00Z',
  target: { groups: ['g'] },
  action: 'play',
  args: { source: { kind: 'line' }, durationS: 30, ...args },
  ...extra,
});

test('cadence: play n is due at first + (n-1) x everyS, counted from the first play alone; count, until and expiresAt end it', () => {
  const all = (
    r: { everyS: number; count?: number; until?: string },
    exp = Infinity,
    from = -Infinity,
    to = Infinity,
  ) => [...seriesPlays(T0, r, exp, from, to)];
  assert.deepEqual(all({ everyS: 60, count: 3 }), [
    [1, T0],
    [2, T0 + 60_000],
    [3, T0 + 120_000],
  ]);
  // until is exclusive; the document's or command's expiresAt caps it
  assert.deepEqual(
    all({ everyS: 1800, until: '2026-11-27T08:30:00Z' }).map(([n]) => n),
    [1, 2, 3],
  );
  assert.deepEqual(
    all({ everyS: 1800, count: 1000 }, T0 + H).map(([n]) => n),
    [1, 2],
  );
  // a window in the middle of a long series: only its plays, with their numbers
  assert.deepEqual(
    all({ everyS: 600, count: 1000 }, Infinity, T0 + 10 * H + 1, T0 + 11 * H + 1).map(([n]) => n),
    [62, 63, 64, 65, 66, 67],
  );
  // long cadences: a day apart, 1000 times: the last is exactly 999 days on, never drifting
  const long = all({ everyS: 86_400, count: 1000 });
  assert.equal(long.length, 1000);
  assert.equal(long[999]![1] - T0, 999 * 86_400_000);
  for (const [n, s] of long) assert.equal(s, T0 + (n - 1) * 86_400_000);
});

test('command repeats: plays 2.. of a series as occurrences with their key, number, capId; never past expiresAt', () => {
  const s: CommandSeries = {
    cmdId: 'c1',
    first: T0,
    expiresAt: new Date(T0 + 2 * H).toISOString(),
    repeat: { everyS: 1800, count: 10 },
    priority: 100,
    source: { kind: 'line' },
    durationS: 30,
    media: [],
    capId: 'VN-1',
  };
  const occ = [...commandOccurrences([s], { from: T0 - H, to: T0 + 10 * H })];
  assert.deepEqual(
    occ.map((o) => [o.key, o.repeat, o.start - T0]),
    [
      ['cmd/c1#2', 2, 1_800_000],
      ['cmd/c1#3', 3, 3_600_000],
      ['cmd/c1#4', 4, 5_400_000],
    ],
  );
  assert.equal(occ[0]!.capId, 'VN-1');
  assert.equal(occ[0]!.cmdId, 'c1');
  assert.equal(occ[0]!.end, T0 + 1_800_000 + 30_000);
});

test('schema: repeat needs exactly one of until/count, everyS 60..86400 (the box floor is config minRepeatS), count 1..1000', () => {
  assert.equal(validateCommand(cmd({ repeat: { everyS: 60, count: 3 } })).ok, true);
  const bad = (args: Record<string, unknown>, re: RegExp, min?: number) => {
    const v = validateCommand(cmd(args), min);
    assert.equal(v.ok, false, JSON.stringify(args));
    assert.match((v as { message: string }).message, re);
  };
  bad({ repeat: { everyS: 60 } }, /args\.repeat: must have exactly one of until or count/);
  bad({ repeat: { everyS: 60, count: 2, until: '2026-11-27T09:00:00Z' } }, /exactly one of until or count/);
  bad({ repeat: { everyS: 59, count: 2 } }, /args\.repeat\.everyS: must be at least 60 s .*minRepeatS/);
  bad({ repeat: { everyS: 86_401, count: 2 } }, /everyS: must be at most 86400 s/);
  bad({ repeat: { everyS: 60, count: 1001 } }, /count: must be 1 to 1000/);
  bad({ repeat: { everyS: 60, until: '2026-02-30T00:00:00Z' } }, /until: is not a date/);
  bad({ repeat: { everyS: 4, count: 2 } }, /at least 5 s/, 5);
  assert.equal(validateCommand(cmd({ repeat: { everyS: 5, count: 2 } }), 5).ok, true, 'a test box with minRepeatS 5');
});

test('schema: capRef on a command; cancel names at least one of docId, itemId, cmdId, capId', () => {
  const capRef = {
    identifier: 'VN-KTTV-2026-0042',
    sender: 'canhbao@kttv.gov.vn',
    sent: '2026-11-27T14:05:00+07:00',
    msgType: 'Alert',
  };
  const ok = validateCommand(cmd({ repeat: { everyS: 1800, until: '2026-11-27T09:05:00.000Z' } }, { capRef }));
  assert.equal(ok.ok, true);
  assert.equal((ok as { doc: { capRef?: { identifier: string } } }).doc.capRef?.identifier, 'VN-KTTV-2026-0042');
  const badRef = validateCommand(cmd({}, { capRef: { ...capRef, identifier: 'has space', msgType: 'Ack' } }));
  assert.match(
    (badRef as { message: string }).message,
    /capRef\.identifier: must be a CAP identifier.*capRef\.msgType: must be Alert, Update or Cancel/,
  );
  const cancel = (args: unknown) => validateCommand({ ...cmd({}), action: 'cancel', args });
  assert.equal(cancel({ capId: 'VN-KTTV-2026-0042' }).ok, true);
  assert.equal(cancel({ docId: 'news', itemId: 'morning' }).ok, true);
  assert.match(
    (cancel({}) as { message: string }).message,
    /args: must name at least one of docId, itemId, cmdId, capId/,
  );
  assert.match((cancel({ cmdId: 'Bad Id' }) as { message: string }).message, /args\.cmdId: must match/);
});

function schedule(items: unknown[], over: Record<string, unknown> = {}): DocInForce {
  const v = validateSchedule({
    type: 'schedule',
    id: 'd',
    version: 1,
    issuedAt: '2026-11-27T00:00:00Z',
    expiresAt: '2026-12-27T00:00:00Z',
    target: { groups: ['g'] },
    timezone: 'Asia/Ho_Chi_Minh',
    items,
    ...over,
  });
  if (!v.ok) throw new Error(v.message);
  return { topic: 't', doc: v.doc };
}

test('schedule items: each at/cron occurrence starts a series; a series begun before the window still plays in it; bounded work counts repeats', () => {
  const d = schedule([
    {
      id: 'warn',
      source: { kind: 'line' },
      durationS: 20,
      priority: 90,
      at: '2026-11-27T14:00:00+07:00',
      repeat: { everyS: 1200, until: '2026-11-27T15:00:00+07:00' },
      capRef: { identifier: 'X-1', sender: 's', sent: '2026-11-27T14:00:00+07:00', msgType: 'Alert' },
    },
    { id: 'news', source: { kind: 'line' }, durationS: 20, cron: '0 6,18 * * *', repeat: { everyS: 600, count: 3 } },
  ]);
  const occ = expandOccurrences([d], {
    from: Date.parse('2026-11-27T14:25:00+07:00'),
    to: Date.parse('2026-11-28T06:15:00+07:00'),
  });
  assert.deepEqual(
    occ.map((o) => [o.itemId, o.repeat, new Date(o.start).toISOString(), o.capId ?? null]),
    [
      ['warn', 3, '2026-11-27T07:40:00.000Z', 'X-1'],
      ['news', 1, '2026-11-27T11:00:00.000Z', null],
      ['news', 2, '2026-11-27T11:10:00.000Z', null],
      ['news', 3, '2026-11-27T11:20:00.000Z', null],
      ['news', 1, '2026-11-27T23:00:00.000Z', null],
      ['news', 2, '2026-11-27T23:10:00.000Z', null],
    ],
  );
  // a series begun before the window (06:00 + 10 min) is found from inside it
  const mid = expandOccurrences([d], {
    from: Date.parse('2026-11-28T06:05:00+07:00'),
    to: Date.parse('2026-11-28T06:30:00+07:00'),
  });
  assert.deepEqual(
    mid.map((o) => [o.itemId, o.repeat, o.seriesStart]),
    [
      ['news', 2, Date.parse('2026-11-28T06:00:00+07:00')],
      ['news', 3, Date.parse('2026-11-28T06:00:00+07:00')],
    ],
  );
  const bad = validateSchedule({
    ...d.doc,
    items: [
      {
        id: 'x',
        source: { kind: 'line' },
        durationS: 5,
        cron: '0 * * * *',
        repeat: { everyS: 60, until: '2026-11-27T15:00:00Z' },
      },
    ],
  });
  assert.match((bad as { message: string }).message, /items\[0\]\.repeat\.until: is for an "at" item/);
  const dense = validateSchedule({
    ...d.doc,
    items: [{ id: 'x', source: { kind: 'line' }, durationS: 5, cron: '0 * * * *', repeat: { everyS: 60, count: 61 } }],
  });
  assert.match((dense as { message: string }).message, /expand to up to 1464 occurrences in a day/);
  const floor = validateSchedule({
    ...d.doc,
    items: [
      { id: 'x', source: { kind: 'line' }, durationS: 5, at: '2026-11-27T15:00:00Z', repeat: { everyS: 30, count: 2 } },
    ],
  });
  assert.match((floor as { message: string }).message, /items\[0\]\.repeat\.everyS: must be at least 60 s/);
  // ...judged by the receiving box's floor once: a document it stored is read back whatever the floor
  assert.equal(
    validateSchedule(
      {
        ...d.doc,
        items: [
          {
            id: 'x',
            source: { kind: 'line' },
            durationS: 5,
            at: '2026-11-27T15:00:00Z',
            repeat: { everyS: 5, count: 2 },
          },
        ],
      },
      { stored: true },
    ).ok,
    true,
  );
});

test('a cancel reaches the series that had begun when it came, matching every field it names', () => {
  const base = {
    key: 'k',
    docId: 'd',
    docVersion: 1,
    topic: 't',
    itemId: 'news',
    end: null,
    durationMs: null,
    priority: 50,
    volume: undefined,
    source: { kind: 'line' as const },
    media: [],
  };
  const rec = { id: 'x', at: T0, keepUntil: T0 + H, docId: 'd', itemId: 'news' };
  assert.equal(
    cancelledBy(rec, { ...base, start: T0 + 600_000, seriesStart: T0 - 1, repeat: 2 }),
    true,
    'a later repeat of a series begun before',
  );
  assert.equal(
    cancelledBy(rec, { ...base, start: T0 + H, seriesStart: T0 + H, repeat: 1 }),
    false,
    'a series that begins after the cancel',
  );
  assert.equal(
    cancelledBy({ ...rec, itemId: 'other' }, { ...base, start: T0 + 600_000, seriesStart: T0 - 1, repeat: 2 }),
    false,
  );
  assert.equal(
    cancelledBy(
      { id: 'x', at: T0, keepUntil: T0 + H, capId: 'VN-1' },
      { ...base, capId: 'VN-1', start: T0 + 1, seriesStart: T0 - 5 },
    ),
    true,
  );
  assert.equal(
    cancelledBy({ id: 'x', at: T0, keepUntil: T0 + H, capId: 'VN-1' }, { ...base, start: T0 + 1, seriesStart: T0 - 5 }),
    false,
    'no capRef: no capId match',
  );
});
