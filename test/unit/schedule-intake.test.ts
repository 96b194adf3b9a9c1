// The schedule intake's rules in milliseconds: the fake link, a manual clock, real SQLite.
// (test/integration/schedules.test.ts and intake-flood.test.ts run the same through a
// real broker and agent.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScheduleIntake, type IntakeDeps } from '../../agent/runtime/schedule-intake.js';
import { ScheduleStore } from '../../agent/adapters/schedule-store.js';
import { makeKey, sign } from '../helpers/signer.js';
import { signedRig, DEVICE, GROUP, ROOT, type SignedRig } from '../helpers/signed-rig.js';

const deviceTopic = `${ROOT}/d/${DEVICE}/schedule`;
const groupTopic = `${ROOT}/g/${GROUP}/schedule`;

function rig(over: Partial<IntakeDeps> = {}) {
  const r = signedRig();
  const store = new ScheduleStore(r.db);
  let accepted = 0;
  const intake = new ScheduleIntake({
    ...r.signed,
    store,
    bindings: r.bindings('schedule'),
    maxLifetimeMs: 400 * 86_400_000,
    onAccepted: () => accepted++,
    ...over,
  });
  intake.start();
  r.link.start();
  return { ...r, store, intake, accepted: () => accepted };
}

function doc(r: SignedRig, over: Record<string, unknown> = {}) {
  return {
    type: 'schedule',
    id: 'c26734-daily',
    version: 1,
    issuedAt: r.iso(-60_000),
    expiresAt: r.iso(7 * 86_400_000),
    target: { groups: [GROUP] },
    timezone: 'Asia/Ho_Chi_Minh',
    media: [],
    items: [{ id: 'news', source: { kind: 'line' }, at: '2026-11-26T18:00:00+07:00', durationS: 60 }],
    ...over,
  };
}

/** Deliver through the link, as the broker would, and let the handler run. */
async function send(r: SignedRig, topic: string, payload: string, retain = true): Promise<void> {
  r.link.inject(topic, payload, { retain });
  await r.clock.tickAsync(0);
}

test('a signed document is accepted once; the same again is "same"; a newer version replaces it; an older one is a replay', async () => {
  const r = rig();
  await r.clock.tickAsync(0); // connected
  const v1 = await r.sign(doc(r), 'loa-schedule+json');
  await send(r, groupTopic, v1);
  assert.deepEqual(
    r.events('schedule.accepted').map((e) => [e.docId, e.version, e.topic]),
    [['c26734-daily', 1, groupTopic]],
  );
  assert.equal(r.accepted(), 1);
  assert.deepEqual(
    r.store.inForce().map((d) => [d.topic, d.doc.version]),
    [[groupTopic, 1]],
  );

  await send(r, groupTopic, v1); // a retained redelivery after a reconnect
  assert.equal(r.events('schedule.accepted').length, 1, 'same: no event');
  assert.equal(r.accepted(), 1, 'same: no re-plan');
  assert.equal(r.events('schedule.rejected').length, 0, 'same is not a rejection');

  await send(r, groupTopic, await r.sign(doc(r, { version: 2 }), 'loa-schedule+json'));
  assert.equal(r.accepted(), 2);
  assert.deepEqual(
    r.store.inForce().map((d) => d.doc.version),
    [2],
  );

  await send(r, groupTopic, v1); // the old document replayed
  const rej = r.events('schedule.rejected');
  assert.deepEqual(
    rej.map((e) => [e.reason, e.docId, e.version]),
    [['replay', 'c26734-daily', 1]],
  );
  assert.deepEqual(
    r.store.inForce().map((d) => d.doc.version),
    [2],
    'the last good plan stays',
  );
  r.close();
});

test('refusals name their reason: unsigned, signed by a stranger, bound to another target, expired, on the command typ', async () => {
  const r = rig();
  await r.clock.tickAsync(0);
  await send(r, groupTopic, 'not a JWS');
  await send(
    r,
    groupTopic,
    await sign(doc(r, { id: 'stranger' }), makeKey('centre-2026'), { typ: 'loa-schedule+json' }),
  ); // the right kid, another key
  await send(r, groupTopic, await sign(doc(r, { id: 'unknown' }), makeKey('stranger'), { typ: 'loa-schedule+json' }));
  await send(r, deviceTopic, await r.sign(doc(r, { id: 'elsewhere' }), 'loa-schedule+json')); // names the group, came on the device topic
  await send(
    r,
    groupTopic,
    await r.sign(
      doc(r, { id: 'old', issuedAt: r.iso(-3 * 86_400_000), expiresAt: r.iso(-86_400_000) }),
      'loa-schedule+json',
    ),
  );
  await send(r, groupTopic, await r.sign(doc(r, { id: 'typ' }), 'loa-command+json'));
  assert.deepEqual(
    r.events('schedule.rejected').map((e) => e.reason),
    ['invalid', 'signature', 'unknown-key', 'target', 'expired', 'invalid'],
  );
  assert.equal(r.accepted(), 0);
  assert.deepEqual(r.store.inForce(), []);
  r.close();
});

test('an empty retained message (a cleared topic) changes nothing and is not a rejection', async () => {
  const r = rig();
  await r.clock.tickAsync(0);
  await send(r, groupTopic, await r.sign(doc(r), 'loa-schedule+json'));
  await send(r, groupTopic, '');
  assert.equal(r.store.inForce().length, 1);
  assert.equal(r.events('schedule.rejected').length, 0);
  assert.equal(r.rejections.seen, 0);
  r.close();
});

test('a flood: 20 rejections reported one by one, the rest counted into one intake.flood when the window ends; a signed document still gets in', async () => {
  const r = rig();
  await r.clock.tickAsync(0);
  for (let i = 0; i < 50; i++) await send(r, deviceTopic, `garbage ${i}`, false);
  await send(r, groupTopic, await r.sign(doc(r), 'loa-schedule+json'));
  assert.equal(r.events('schedule.rejected').length, 20);
  assert.equal(r.events('schedule.accepted').length, 1, 'the flood does not crowd out a genuine document');
  assert.equal(r.events('intake.flood').length, 0, 'not before the window ends');
  await r.clock.tickAsync(59_000);
  assert.equal(r.events('intake.flood').length, 0);
  await r.clock.tickAsync(1000);
  const flood = r.events('intake.flood');
  assert.equal(flood.length, 1);
  assert.equal(flood[0]!.dropped, 30);
  assert.equal(flood[0]!.windowS, 60);
  assert.deepEqual(flood[0]!.byTopic, { [deviceTopic]: 30 });
  assert.equal(r.rejections.seen, 50);
  // The next window reports individually again, and a quiet minute brings no summary.
  await send(r, deviceTopic, 'one more', false);
  assert.equal(r.events('schedule.rejected').length, 21);
  await r.clock.tickAsync(120_000);
  assert.equal(r.events('intake.flood').length, 1);
  r.close();
});

test('stopped, the intake ignores what arrives', async () => {
  const r = rig();
  await r.clock.tickAsync(0);
  r.intake.stop();
  await send(r, groupTopic, await r.sign(doc(r), 'loa-schedule+json'));
  assert.equal(r.accepted(), 0);
  assert.equal(r.events().length, 0);
  r.close();
});

test('the issuedAt of an accepted document is clock evidence (a lower bound of the real time); a refused one is not', async () => {
  const r = rig();
  await send(r, deviceTopic, await r.sign(doc(r, { target: { devices: [DEVICE] } }), 'loa-schedule+json'));
  assert.deepEqual(r.evidence, [r.clock.now() - 60_000]);
  await send(
    r,
    groupTopic,
    await sign({ ...doc(r), issuedAt: r.iso(9 * 3_600_000) }, makeKey('centre-2026'), { typ: 'loa-schedule+json' }),
  );
  await send(
    r,
    groupTopic,
    await r.sign({ ...doc(r), issuedAt: r.iso(9 * 3_600_000), expiresAt: r.iso(-1000) }, 'loa-schedule+json'),
  );
  assert.equal(r.events('schedule.rejected').length, 2, 'a forged signature and an expired document');
  assert.equal(r.evidence.length, 1, 'neither counts');
  r.close();
});

test('expiry is judged by the latest time the box can prove: on a clock a lower bound shows 2 days behind, a document that expired yesterday is refused', async () => {
  const r = rig({ provableNow: () => Date.parse('2026-11-28T06:00:00+07:00') }); // the box's clock says 11-26
  await send(
    r,
    deviceTopic,
    await r.sign(doc(r, { target: { devices: [DEVICE] }, expiresAt: r.iso(86_400_000) }), 'loa-schedule+json'),
  );
  assert.deepEqual(
    r.events('schedule.rejected').map((e) => e.reason),
    ['expired'],
  );
  await send(
    r,
    deviceTopic,
    await r.sign(doc(r, { target: { devices: [DEVICE] }, expiresAt: r.iso(7 * 86_400_000) }), 'loa-schedule+json'),
  );
  assert.equal(r.accepted(), 1, 'one that lives beyond it is taken');
  r.close();
});
