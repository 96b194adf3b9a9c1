import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCanonicalBase64url, replayVerdict, verifySchedule, KeyRing } from '../../contract/verify.js';
import {
  isRealInstant,
  cronMatchesPerDay,
  occurrencesPerDay,
  validateSchedule,
  MAX_OCCURRENCES_PER_DAY,
} from '../../contract/schedule-doc.js';
import { makeKey, sign, scheduleDoc } from '../helpers/signer.js';

test('base64url: no padding, no foreign characters, zero spare bits', () => {
  const s = Buffer.from('hello!').toString('base64url');
  assert.equal(isCanonicalBase64url(s), true);
  assert.equal(isCanonicalBase64url(`${s}=`), false);
  assert.equal(isCanonicalBase64url('ab+/'), false);
  assert.equal(isCanonicalBase64url('A'), false, 'a length of 1 mod 4 is no encoding');
  // 'QQ' is "A" (0x41): its last character carries 4 spare bits; 'QR' sets one.
  assert.equal(Buffer.from('QR', 'base64url').toString(), 'A', 'the lenient decoder accepts it');
  assert.equal(isCanonicalBase64url('QQ'), true);
  assert.equal(isCanonicalBase64url('QR'), false);
});

test('calendar dates: 30 February, 31 April, 29 February of a common year, 24:00 and a bad offset are not instants', () => {
  assert.equal(isRealInstant('2026-02-28T10:00:00Z'), true);
  assert.equal(isRealInstant('2028-02-29T10:00:00+07:00'), true);
  assert.equal(isRealInstant('2000-02-29T00:00:00Z'), true);
  for (const bad of [
    '2026-02-30T10:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2026-01-01T24:00:00Z',
    '2026-01-01T10:60:00Z',
    '2026-01-01T10:00:00+25:00',
    '2026-13-01T00:00:00Z',
  ]) {
    assert.equal(isRealInstant(bad), false, bad);
  }
});

test('occurrences a day: croner pattern read (pinned), at items count one, the cap', () => {
  assert.equal(cronMatchesPerDay('* * * * *'), 1440);
  assert.equal(cronMatchesPerDay('* * * * * *'), 86_400);
  assert.equal(cronMatchesPerDay('*/5 0-2 * * *'), 36);
  assert.equal(cronMatchesPerDay('0 0 1 1 *'), 1);
  assert.equal(cronMatchesPerDay('30 0 5 * * 1-5'), 1);
  assert.equal(occurrencesPerDay([{ cron: '* * * * *' }]), MAX_OCCURRENCES_PER_DAY);
  assert.equal(occurrencesPerDay([{ cron: '* * * * *' }, { at: '2026-01-01T00:00:00Z' }]), MAX_OCCURRENCES_PER_DAY + 1);
  const doc = (items: unknown[]) => validateSchedule(scheduleDoc({ items }));
  assert.equal(
    doc([{ id: 'a', source: { kind: 'line' }, durationS: 1, cron: '* * * * *' }]).ok,
    true,
    'exactly the cap is legal',
  );
  const over = doc([
    { id: 'a', source: { kind: 'line' }, durationS: 1, cron: '* * * * *' },
    { id: 'b', source: { kind: 'line' }, durationS: 1, cron: '0 5 * * *' },
  ]);
  assert.equal(over.ok, false);
});

test('replay rules: per id, then per topic', () => {
  const d = (id: string, version: number, issuedAt: string) => ({ ...validDoc(), id, version, issuedAt });
  const mark = { id: 'warn', version: 3, issuedAt: '2026-11-26T10:00:00Z' };
  assert.equal(replayVerdict(d('warn', 3, '2026-11-26T10:00:00Z'), 3, mark), 'same');
  assert.equal(
    (replayVerdict(d('warn', 2, '2026-11-26T11:00:00Z'), 3, mark) as { reason: string }).reason,
    'replay',
    'a lower version, whatever its issuedAt',
  );
  assert.equal(
    replayVerdict(d('warn', 4, '2026-11-26T09:00:00Z'), 3, mark),
    null,
    'same id, higher version: accepted whatever its issuedAt',
  );
  assert.equal(
    (replayVerdict(d('old', 1, '2026-11-26T09:59:59Z'), undefined, mark) as { reason: string }).reason,
    'replay',
  );
  assert.equal(
    (replayVerdict(d('old', 1, '2026-11-26T10:00:00Z'), undefined, mark) as { reason: string }).reason,
    'replay',
    'issued at the same instant is not later',
  );
  assert.equal(replayVerdict(d('new', 1, '2026-11-26T10:00:01Z'), undefined, mark), null);
  assert.equal(replayVerdict(d('new', 1, '2026-11-26T10:00:01Z'), undefined, undefined), null);
  // A lower version of an id is refused on any topic, even one where it was never in force.
  assert.equal((replayVerdict(d('other', 1, '2026-11-27T00:00:00Z'), 2, mark) as { reason: string }).reason, 'replay');
});

function validDoc() {
  const v = validateSchedule(scheduleDoc());
  if (!v.ok) throw new Error(v.message);
  return v.doc;
}

test('verifySchedule binds to the topic: a device topic needs the device in target.devices, a group topic the group', async () => {
  const key = makeKey('k');
  const ring = new KeyRing([key]);
  const ctx = {
    deviceId: 'box',
    groups: ['g1', 'g2'],
    now: Date.now(),
    maxBytes: 65536,
    acceptedVersion: () => undefined,
  };
  const groupDoc = await sign(scheduleDoc({ target: { groups: ['g1'] } }), key);
  assert.equal(
    verifySchedule(groupDoc, ring, ctx).ok,
    true,
    'without a binding (the centre tools), any of the box ids',
  );
  assert.equal(verifySchedule(groupDoc, ring, { ...ctx, binding: { kind: 'group', name: 'g1' } }).ok, true);
  const onDevice = verifySchedule(groupDoc, ring, { ...ctx, binding: { kind: 'device', name: 'box' } });
  assert.equal(onDevice.ok === false && onDevice.reason, 'target');
  const onOtherGroup = verifySchedule(groupDoc, ring, { ...ctx, binding: { kind: 'group', name: 'g2' } });
  assert.equal(onOtherGroup.ok === false && onOtherGroup.reason, 'target');
  const deviceDoc = await sign(scheduleDoc({ target: { devices: ['box'], groups: ['g2'] } }), key);
  assert.equal(verifySchedule(deviceDoc, ring, { ...ctx, binding: { kind: 'device', name: 'box' } }).ok, true);
  assert.equal(verifySchedule(deviceDoc, ring, { ...ctx, binding: { kind: 'group', name: 'g2' } }).ok, true);
});

test('lifetime and issuedAt: over schedule.maxLifetimeDays is invalid; issuedAt 10 min ahead is tolerated only while the clock is known unsynchronised', async () => {
  const key = makeKey('k');
  const ring = new KeyRing([key]);
  const now = Date.parse('2026-11-27T00:00:00Z');
  const ctx = {
    deviceId: 'box',
    groups: ['c26734'],
    now,
    maxBytes: 65536,
    acceptedVersion: () => undefined,
    maxLifetimeMs: 30 * 86_400_000,
  };
  const long = await sign(scheduleDoc({ issuedAt: '2026-11-26T00:00:00Z', expiresAt: '2027-01-26T00:00:00Z' }), key);
  const v = verifySchedule(long, ring, ctx);
  assert.equal(v.ok === false && v.reason, 'invalid');
  assert.match(
    v.ok === false ? v.message : '',
    /lives 61 days, longer than this box accepts for a document \(30 days\)/,
  );
  const ahead = await sign(scheduleDoc({ issuedAt: '2026-11-27T00:11:00Z', expiresAt: '2026-12-01T00:00:00Z' }), key);
  assert.equal(verifySchedule(ahead, ring, ctx).ok === false, true);
  assert.equal(verifySchedule(ahead, ring, { ...ctx, clockSynced: false }).ok, true);
  const near = await sign(scheduleDoc({ issuedAt: '2026-11-27T00:09:00Z', expiresAt: '2026-12-01T00:00:00Z' }), key);
  assert.equal(verifySchedule(near, ring, ctx).ok, true);
});
