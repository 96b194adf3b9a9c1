// Signed schedules through a real broker (contract §2, §3, §7), their intake: every
// rejection reason is reported and changes nothing; accepted documents survive a restart
// without a broker. Occurrences on time: schedules-play.test.ts; the rig: schedules-rig.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DEFAULT_ROOT, deviceTopic } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { makeKey, sign, forge, scheduleDoc } from '../helpers/signer.js';
import { until } from '../helpers/wait.js';
import {
  broker,
  key,
  rogue,
  DEVICE,
  SCHED,
  GROUP_SCHED,
  EVENTS,
  makeAgent,
  watch,
  publish,
  clearRetained,
  eventsOf,
  started,
  boxDoc,
  soon,
} from './schedules-rig.js';

test('every rejection reason is reported as schedule.rejected and nothing is scheduled', async () => {
  await clearRetained();
  const dir = tempDir('reject');
  const w = await watch([EVENTS]);
  const agent = makeAgent(join(dir, 'state'), { schedule: { maxBytes: 4096 } });
  await started(agent, w);
  try {
    const item = { id: 'news', source: { kind: 'fm', freqMHz: 100 }, at: soon(3_600_000), durationS: 60 };
    const good = (over: Record<string, unknown> = {}) => boxDoc({ items: [item], ...over });
    // Accept version 5 first so that the replay case has something to replay against.
    await publish(SCHED, await sign(good({ id: 'replayed', version: 5, items: [] }), key));
    await w.waitFor((m) => m.json().type === 'schedule.accepted', 5000, 'accepted v5');

    const cases: [string, string | Buffer][] = [
      ['too-large', await sign(good({ padding: 'x'.repeat(5000) }), key)],
      ['invalid', 'this is not a JWS'],
      ['signature', forge(good(), { alg: 'HS256', kid: key.kid, typ: 'loa-schedule+json' })],
      ['signature', forge(good(), { alg: 'none', kid: key.kid, typ: 'loa-schedule+json' }).replace(/\.[^.]+$/, '.')],
      ['unknown-key', await sign(good(), makeKey('someone-else'))],
      ['signature', await sign(good(), rogue)],
      ['invalid', await sign(good(), key, { typ: 'loa-command+json' })],
      ['invalid', await sign(good({ timezone: 'Mars/Olympus' }), key)],
      ['target', await sign(good({ target: { groups: ['c99999'] } }), key)],
      [
        'expired',
        await sign(
          good({
            expiresAt: new Date(Date.now() - 1000).toISOString(),
            issuedAt: new Date(Date.now() - 86_400_000).toISOString(),
          }),
          key,
        ),
      ],
      ['replay', await sign(good({ id: 'replayed', version: 4 }), key)],
    ];
    for (const [reason, payload] of cases) {
      const before = eventsOf(w, 'schedule.rejected').length;
      await publish(SCHED, payload);
      const ev = await w.waitUntil(() => eventsOf(w, 'schedule.rejected')[before], 5000, `rejection ${reason}`);
      assert.equal(ev.reason, reason, `expected ${reason}: ${String(ev.message)}`);
      assert.equal(ev.topic, SCHED);
      assert.equal(typeof ev.message, 'string');
      assert.deepEqual(agent.docRefs(), [{ id: 'replayed', version: 5 }], `nothing new in force after ${reason}`);
      assert.equal(agent.scheduler.next(), null, `nothing scheduled after ${reason}`);
    }
    const invalid = eventsOf(w, 'schedule.rejected').find((e) => /timezone/.test(String(e.message)));
    assert.ok(invalid, 'the schema rejection names the bad field');

    // A zero-length retained message (how MQTT clears retained) changes nothing.
    await publish(SCHED, '');
    await publish(SCHED, await sign(good({ id: 'replayed', version: 5, items: [] }), key)); // same version: a no-op
    await agent.intake.idle();
    // What the intake emitted is acknowledged by the broker, and then here.
    await until(() => agent.outbox.size === 0, 10_000, 'the outbox drained');
    await w.sync();
    assert.deepEqual(agent.docRefs(), [{ id: 'replayed', version: 5 }]);
    assert.equal(eventsOf(w, 'schedule.accepted').length, 1);
  } finally {
    await agent.stop();
    await w.close();
  }
});

test('an accepted group document survives a restart with no broker, and the birth lists it', async () => {
  await clearRetained();
  const dir = tempDir('persist');
  const w = await watch([EVENTS, deviceTopic(DEFAULT_ROOT, DEVICE, 'status')]);
  const a = makeAgent(join(dir, 'state'));
  await started(a, w);
  const at = soon(3_600_000);
  await publish(
    GROUP_SCHED,
    await sign(
      scheduleDoc({
        id: 'grp',
        version: 3,
        items: [{ id: 'relay', source: { kind: 'fm', freqMHz: 99.5 }, at, durationS: 600 }],
      }),
      key,
    ),
  );
  const acc = await w.waitFor((m) => m.json().type === 'schedule.accepted', 5000, 'accepted');
  assert.deepEqual(
    { docId: acc.json().docId, version: acc.json().version, topic: acc.json().topic },
    { docId: 'grp', version: 3, topic: GROUP_SCHED },
  );
  await w.waitFor(
    (m) => m.topic.endsWith('/status') && JSON.stringify(m.json().schedule) === '[{"id":"grp","version":3}]',
    5000,
    'birth with the schedule',
  );
  await a.stop();
  await w.close();

  await broker.stop();
  try {
    const b = makeAgent(join(dir, 'state'));
    await b.start();
    try {
      assert.deepEqual(b.docRefs(), [{ id: 'grp', version: 3 }]);
      const next = b.scheduler.next();
      assert.equal(next?.itemId, 'relay');
      assert.equal(new Date(next!.start).toISOString(), new Date(at).toISOString());
    } finally {
      await b.stop();
    }
  } finally {
    await broker.start();
  }
});
