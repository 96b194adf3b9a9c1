// Repeat series on the manual clock (test/helpers/repeat-rig.ts: the real scheduler,
// playback coordinator, Repeats and command executor over SQLite and a replay-state
// file): the cadence over long series, waiting behind a higher priority, preempting a
// lower one, cancel, and a restart mid-series that continues it and keeps a cancel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSchedule } from '../../contract/schedule-doc.js';
import type { DocInForce } from '../../agent/domain/occurrences.js';
import { cancelCommand, playCommand, repeatRig } from '../helpers/repeat-rig.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = Date.parse('2026-11-27T07:00:00Z');
const S = 1000;
const capRef = {
  identifier: 'VN-KTTV-2026-0042',
  sender: 'canhbao@kttv.gov.vn',
  sent: '2026-11-27T14:00:00+07:00',
  msgType: 'Alert',
};

function schedule(items: unknown[]): DocInForce {
  const v = validateSchedule({
    type: 'schedule',
    id: 'd',
    version: 1,
    issuedAt: '2026-11-26T00:00:00Z',
    expiresAt: '2026-12-26T00:00:00Z',
    target: { groups: ['g'] },
    timezone: 'UTC',
    items,
  });
  if (!v.ok) throw new Error(v.message);
  return { topic: 't', doc: v.doc };
}

const started = (r: { events(t?: string): Record<string, unknown>[] }, itemId: string) =>
  r.events('play.started').filter((e) => e.itemId === itemId);

test('a play command repeats at first + k x everyS: 12 plays 30 min apart, each on time to the ms, numbered, with its capId', async () => {
  const r = await repeatRig(tempDir('repeat'), { now: T0 });
  const res = r.command(playCommand('alert', T0, { priority: 100, repeat: { everyS: 1800, count: 12 } }, { capRef }));
  await r.advance(2 * S);
  const out = await res;
  assert.equal(out.ok, true);
  const result = (out as unknown as { result: { repeat: { everyS: number; next: string } } }).result;
  assert.deepEqual(result.repeat, { everyS: 1800, next: new Date(T0 + 1_800_000).toISOString() });
  await r.advance(7 * 3_600_000, 10 * S);
  const plays = started(r, 'alert');
  assert.equal(plays.length, 12);
  const first = Date.parse(String(plays[0]!.ts));
  plays.forEach((p, k) => {
    assert.equal(p.repeat, k + 1);
    assert.equal(p.capId, capRef.identifier);
    assert.equal(p.cmdId, 'alert');
    assert.equal(Date.parse(String(p.ts)) - first, k * 1_800_000, `play ${k + 1} on the cadence`);
  });
  assert.equal(r.events('play.finished').length, 12);
  await r.close();
});

test('a repeat that finds a higher priority playing waits and plays late; the next one keeps the cadence; a lower one is preempted', async () => {
  const d = schedule([
    { id: 'concert', source: { kind: 'line' }, priority: 80, at: '2026-11-27T07:09:00Z', durationS: 120 }, // covers repeat 2 (07:10)
    { id: 'music', source: { kind: 'line' }, priority: 10, at: '2026-11-27T07:19:00Z', durationS: 300 }, // repeat 3 (07:20) preempts it
  ]);
  const r = await repeatRig(tempDir('repeat'), { now: T0, docs: [d] });
  void r.command(playCommand('alert', T0, { priority: 50, repeat: { everyS: 600, count: 4 } }));
  await r.advance(40 * 60 * S);
  const plays = started(r, 'alert').map((e) => [e.repeat, Date.parse(String(e.ts)) - T0, e.lateMs]);
  // the first needs the 2 s amplifier warm-up (ad hoc, not an emergency); repeat 2 waits
  // for the concert (07:09 + 120 s), 60 s late; 3 and 4 are on time.
  assert.deepEqual(plays, [
    [1, 2000, 2000],
    [2, 660_000, 60_000],
    [3, 1_200_000, 0],
    [4, 1_800_000, 0],
  ]);
  assert.equal(r.events('play.skipped').length, 0, 'never skipped as busy');
  assert.deepEqual(
    r
      .events('play.finished')
      .filter((e) => e.itemId === 'alert')
      .map((e) => e.playedMs),
    [28_000, 30_000, 30_000, 30_000],
    "the late one plays in full (the ad hoc first play's slot includes its warm-up, as before)",
  );
  const music = r.events('play.interrupted').find((e) => e.itemId === 'music');
  assert.equal(music?.reason, 'preempted');
  await r.close();
});

test('cancel by capId stops the repeat playing and every later one; it is remembered across a restart; a play it names issued before it is refused, one issued after it plays', async () => {
  const dir = tempDir('repeat');
  let r = await repeatRig(dir, { now: T0 });
  void r.command(
    playCommand('alert', T0, { priority: 100, durationS: 120, repeat: { everyS: 600, count: 100 } }, { capRef }),
  );
  await r.advance(10 * 60 * S + 30 * S); // repeat 2 plays since 07:10:00
  assert.equal(started(r, 'alert').length, 2);
  const out = await r.command(cancelCommand('x1', r.clock.now(), { capId: capRef.identifier }));
  assert.deepEqual(out, { ok: true, result: { cancelled: 1, stopped: true } });
  const cut = r.events('play.interrupted').find((e) => e.itemId === 'alert');
  assert.deepEqual([cut?.reason, cut?.repeat, cut?.capId], ['cancelled', 2, capRef.identifier]);
  await r.advance(3_600_000, 10 * S);
  assert.equal(started(r, 'alert').length, 2, 'no repeat after the cancel');
  await r.close();
  // A restart an hour later: the series does not come back.
  r = await repeatRig(dir, { now: T0 + 2 * 3_600_000 });
  await r.advance(3_600_000, 10 * S);
  assert.equal(started(r, 'alert').length, 2);
  assert.equal(r.events('play.skipped').filter((e) => e.itemId === 'alert').length, 0, 'not even as missed');
  // Delayed past the cancel (issued at 07:05, before it): refused.
  const again = await r.command(playCommand('alert-2', T0 + 5 * 60 * S, { priority: 100 }, { capRef }));
  assert.equal(again.ok, false);
  assert.equal((again as { code: string }).code, 'cancelled');
  // Issued after the cancel (an unsigned CAP Cancel naming an alert before it exists must
  // not silence it): it plays.
  const later = await r.command(playCommand('alert-3', r.clock.now(), { priority: 100 }, { capRef }));
  assert.equal(later.ok, true, JSON.stringify(later));
  await r.close();
});

test('a restart mid-series continues it at its cadence: what fell in the downtime is missed, the rest on time', async () => {
  const dir = tempDir('repeat');
  let r = await repeatRig(dir, { now: T0 });
  void r.command(playCommand('alert', T0, { priority: 100, repeat: { everyS: 3600, count: 6 } }));
  await r.advance(3_600_000 + 60 * S); // plays 1 and 2
  assert.equal(started(r, 'alert').length, 2);
  await r.close();
  // Down from 08:01 to 10:30: plays 3 (09:00) and 4 (10:00) fall in the gap.
  r = await repeatRig(dir, { now: T0 + 3.5 * 3_600_000 });
  await r.advance(3 * 3_600_000, 10 * S);
  const plays = started(r, 'alert').map((e) => [e.repeat, Date.parse(String(e.ts)) - T0]);
  assert.deepEqual(plays, [
    [1, 0],
    [2, 3_600_000],
    [5, 4 * 3_600_000],
    [6, 5 * 3_600_000],
  ]);
  const missed = r.events('play.skipped').map((e) => [e.repeat, e.reason]);
  assert.deepEqual(missed, [
    [3, 'missed'],
    [4, 'missed'],
  ]);
  await r.close();
});

test('long cadences: every 86,400 s within the 24 h life of a command plays once; a schedule item repeats daily, exact, within the life of its document', async () => {
  // The scheduler wakes hourly here instead of every 30 s: 30 days of wakes on the manual clock.
  let r = await repeatRig(tempDir('repeat'), { now: T0, maxSleepMs: 3_600_000 });
  void r.command(playCommand('daily', T0, { priority: 100, repeat: { everyS: 86_400, count: 5 } }));
  await r.advance(3 * 86_400_000, 3_600_000);
  assert.equal(started(r, 'daily').length, 1, "the series never outlives the command's expiresAt");
  await r.close();
  // count 40, but the document expires on 2026-12-26T00:00Z: plays 1..29 (12-25 08:00 is the last)
  const d = schedule([
    {
      id: 'drill',
      source: { kind: 'line' },
      priority: 60,
      at: '2026-11-27T08:00:00Z',
      durationS: 60,
      repeat: { everyS: 86_400, count: 40 },
    },
  ]);
  r = await repeatRig(tempDir('repeat'), { now: T0, docs: [d], maxSleepMs: 3_600_000 });
  await r.advance(45 * 86_400_000, 3_600_000);
  const plays = started(r, 'drill');
  assert.equal(plays.length, 29);
  plays.forEach((p, k) => assert.equal(Date.parse(String(p.ts)), Date.parse('2026-11-27T08:00:00Z') + k * 86_400_000));
  assert.deepEqual([plays[0]!.repeat, plays[28]!.repeat], [1, 29]);
  await r.close();
});

test("a cancel by docId and itemId stops the schedule series under way; the item's next occurrence starts a new series", async () => {
  const d = schedule([
    {
      id: 'siren',
      source: { kind: 'line' },
      priority: 90,
      cron: '0 * * * *',
      durationS: 30,
      repeat: { everyS: 600, count: 3 },
    },
  ]);
  const r = await repeatRig(tempDir('repeat'), { now: T0 - 30 * S, docs: [d] });
  await r.advance(15 * 60 * S); // 07:00 and 07:10 played
  const out = await r.command(cancelCommand('x2', r.clock.now(), { docId: 'd', itemId: 'siren' }));
  assert.deepEqual(out, { ok: true, result: { cancelled: 1, stopped: false } });
  await r.advance(60 * 60 * S, 10 * S);
  const plays = started(r, 'siren').map((e) => [e.repeat, new Date(String(e.occurrence)).toISOString().slice(11, 16)]);
  assert.deepEqual(plays, [
    [1, '07:00'],
    [2, '07:10'],
    [1, '08:00'],
    [2, '08:10'],
  ]);
  await r.close();
});

test('a repeat does not cut off another emergency: it waits for it, then plays (an emergency that is not a repeat still preempts)', async () => {
  const d = schedule([
    { id: 'tsunami', source: { kind: 'line' }, priority: 100, at: '2026-11-27T07:09:30Z', durationS: 60 },
  ]);
  const r = await repeatRig(tempDir('repeat'), { now: T0, docs: [d] });
  void r.command(playCommand('flood', T0, { priority: 100, durationS: 20, repeat: { everyS: 600, count: 2 } }));
  await r.advance(15 * 60 * S);
  assert.deepEqual(
    started(r, 'flood').map((e) => [e.repeat, Date.parse(String(e.ts)) - T0, e.lateMs]),
    [
      [1, 0, 0],
      [2, 630_000, 30_000],
    ],
  );
  assert.equal(
    r.events('play.finished').filter((e) => e.itemId === 'tsunami').length,
    1,
    'the other warning played to its end',
  );
  await r.close();
});
