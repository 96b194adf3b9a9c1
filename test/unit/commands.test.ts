// The command service's rules in milliseconds: the fake link, a manual clock, real SQLite.
// (test/integration/commands.test.ts runs every action through a real broker and agent.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CommandService, type CommandOutcome } from '../../agent/runtime/commands.js';
import { CommandStore } from '../../agent/adapters/command-store.js';
import type { CommandDoc } from '../../contract/command-doc.js';
import { signedRig, DEVICE, GROUP, ROOT, type SignedRig } from '../helpers/signed-rig.js';

const cmdTopic = `${ROOT}/d/${DEVICE}/cmd`;
const resultTopic = `${ROOT}/d/${DEVICE}/cmd/result`;

interface Result {
  cmdId: string;
  ok: boolean;
  ts: string;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

function rig(
  o: {
    execute?: (doc: CommandDoc) => Promise<CommandOutcome>;
    r?: SignedRig;
    time?: { provableNow: () => number; vouchedNow: () => number };
  } = {},
) {
  const r = o.r ?? signedRig();
  const store = new CommandStore(r.db);
  const ran: string[] = [];
  const lifecycle: string[] = [];
  const svc = new CommandService({
    ...r.signed,
    ...o.time,
    store,
    bindings: r.bindings('cmd'),
    maxLifetimeMs: 24 * 3_600_000,
    resultTopic,
    execute:
      o.execute ??
      (async (doc) => {
        ran.push(doc.id);
        return { ok: true, result: { action: doc.action } };
      }),
    lifecycle: (a) => lifecycle.push(a),
  });
  svc.start();
  r.link.start();
  const results = () => r.link.json<Result>(resultTopic);
  return { ...r, store, svc, ran, lifecycle, results };
}

function command(r: SignedRig, action: string, args: Record<string, unknown> = {}, over: Record<string, unknown> = {}) {
  return {
    type: 'command',
    id: randomUUID(),
    issuedAt: r.iso(-1000),
    expiresAt: r.iso(300_000),
    target: { devices: [DEVICE] },
    action,
    args,
    ...over,
  };
}

async function send(r: ReturnType<typeof rig>, c: Record<string, unknown> | string, topic = cmdTopic): Promise<void> {
  r.link.inject(topic, typeof c === 'string' ? c : await r.sign(c, 'loa-command+json'));
  await r.clock.tickAsync(0);
  await r.svc.idle();
  await r.clock.tickAsync(0);
}

test('an accepted command runs once and is answered once; the result is marked sent when acknowledged', async () => {
  const r = rig();
  await r.clock.tickAsync(0);
  const c = command(r, 'volume', { level: 30 });
  await send(r, c);
  assert.deepEqual(r.ran, [c.id]);
  const res = r.results();
  assert.equal(res.length, 1);
  assert.deepEqual(
    { cmdId: res[0]!.cmdId, ok: res[0]!.ok, result: res[0]!.result },
    { cmdId: c.id, ok: true, result: { action: 'volume' } },
  );
  assert.equal(res[0]!.ts, r.iso(), 'stamped with the injected clock');
  assert.deepEqual(r.store.unsent(), []);
  assert.equal(r.store.seen(c.id), true);
  r.svc.stop();
  r.close();
});

test('a duplicate is answered with duplicate and not run again, also on a group topic', async () => {
  const r = rig();
  await r.clock.tickAsync(0);
  const c = command(r, 'stop', {}, { target: { devices: [DEVICE], groups: [GROUP] } });
  await send(r, c);
  await send(r, c, `${ROOT}/g/${GROUP}/cmd`);
  assert.deepEqual(r.ran, [c.id]);
  const res = r.results();
  assert.deepEqual(
    res.map((x) => [x.cmdId, x.ok, x.error?.code]),
    [
      [c.id, true, undefined],
      [c.id, false, 'duplicate'],
    ],
  );
  r.svc.stop();
  r.close();
});

test('a refused command with a readable id is answered and never recorded; one with no id is a cmd.rejected event', async () => {
  const r = rig();
  await r.clock.tickAsync(0);
  const expired = command(r, 'ping', {}, { issuedAt: r.iso(-600_000), expiresAt: r.iso(-1000) });
  await send(r, expired);
  const elsewhere = command(r, 'ping', {}, { target: { devices: ['someone-else'] } });
  await send(r, elsewhere);
  await send(r, 'garbage with no id');
  assert.deepEqual(r.ran, []);
  assert.deepEqual(
    r.results().map((x) => [x.cmdId, x.ok, x.error?.code]),
    [
      [expired.id, false, 'expired'],
      [elsewhere.id, false, 'target'],
    ],
  );
  assert.equal(r.store.seen(expired.id), false, 'a refused id reserves nothing');
  assert.equal(r.events('cmd.rejected').length, 1);
  // The same id, now valid, still runs: the refusal did not reserve it.
  await send(r, { ...expired, issuedAt: r.iso(-1000), expiresAt: r.iso(60_000) });
  assert.deepEqual(r.ran, [expired.id]);
  r.svc.stop();
  r.close();
});

test('refusals share the box budget: beyond 20 a minute they are counted, not answered, into one intake.flood', async () => {
  const r = rig();
  await r.clock.tickAsync(0);
  for (let i = 0; i < 25; i++) await send(r, command(r, 'ping', {}, { target: { devices: ['someone-else'] } }));
  assert.equal(r.results().length, 20);
  await r.clock.tickAsync(60_000);
  const flood = r.events('intake.flood');
  assert.equal(flood.length, 1);
  assert.equal(flood[0]!.dropped, 5);
  assert.deepEqual(flood[0]!.byReason, { target: 5 });
  // A signed command for this box is never counted away.
  const c = command(r, 'ping');
  await send(r, c);
  assert.equal(r.results().at(-1)?.cmdId, c.id);
  r.svc.stop();
  r.close();
});

test('a result not acknowledged within 5 s stays unsent and is sent again on the next connection', async () => {
  const r = rig();
  await r.clock.tickAsync(0);
  r.link.holdAcks();
  const c = command(r, 'volume', { level: 10 });
  r.link.inject(cmdTopic, await r.sign(c, 'loa-command+json'));
  await r.clock.tickAsync(4999);
  assert.deepEqual(r.ran, [c.id]);
  assert.equal(r.store.unsent().length, 1);
  await r.clock.tickAsync(1); // the waitress gives up on the acknowledgement
  await r.svc.idle();
  assert.deepEqual(
    r.store.unsent().map((u) => u.id),
    [c.id],
  );
  r.link.goOffline(); // the held publish is lost with the connection
  assert.deepEqual(r.results(), []);
  r.link.releaseAcks();
  r.link.goOnline();
  await r.clock.tickAsync(0);
  assert.deepEqual(
    r.results().map((x) => [x.cmdId, x.ok]),
    [[c.id, true]],
  );
  assert.deepEqual(r.store.unsent(), [], 'marked sent once acknowledged');
  r.svc.stop();
  r.close();
});

test('answered while offline: the result waits in the store and goes out after up', async () => {
  const r = rig();
  await r.clock.tickAsync(0);
  r.link.goOffline();
  const c = command(r, 'ping');
  r.svc.receive(cmdTopic, Buffer.from(await r.sign(c, 'loa-command+json')));
  await r.svc.idle();
  assert.deepEqual(r.results(), []);
  assert.equal(r.store.unsent().length, 1);
  r.link.goOnline();
  await r.clock.tickAsync(0);
  assert.deepEqual(
    r.results().map((x) => x.cmdId),
    [c.id],
  );
  assert.deepEqual(r.store.unsent(), []);
  r.svc.stop();
  r.close();
});

test('restart: lifecycle runs only after the result was acknowledged; a restart leaves an interrupted command answered, not re-run', async () => {
  const r = rig({
    execute: async (doc) =>
      doc.action === 'restart' ? { ok: true, result: { action: 'restart' } } : new Promise<CommandOutcome>(() => {}),
  });
  await r.clock.tickAsync(0);
  r.link.holdAcks();
  const restart = command(r, 'restart');
  r.link.inject(cmdTopic, await r.sign(restart, 'loa-command+json'));
  await r.clock.tickAsync(100);
  assert.deepEqual(r.lifecycle, [], 'not before the acknowledgement');
  r.link.releaseAcks();
  await r.svc.idle();
  assert.deepEqual(r.lifecycle, ['restart']);

  // A command still running when the process "dies"...
  const hung = command(r, 'selftest');
  r.link.inject(cmdTopic, await r.sign(hung, 'loa-command+json'));
  await r.clock.tickAsync(0);
  r.svc.stop();
  assert.equal(r.clock.pending, 0, 'stop() left no timer (prune interval, acknowledgement waits)');
  // ...is answered by the next run, from the database, and not run again.
  const next = rig({
    r: { ...r, link: r.link },
    execute: async () => assert.fail('an interrupted command must not run again'),
  });
  await next.clock.tickAsync(0);
  const answer = next.results().find((x) => x.cmdId === hung.id);
  assert.equal(answer?.ok, false);
  assert.equal(answer?.error?.code, 'failed');
  next.svc.stop();
  r.close();
});

test('a command that arrives once the service stopped (the agent leaving for an update) is not taken: the next run gets it from the session and runs it', async () => {
  const r = rig();
  await r.clock.tickAsync(0);
  r.svc.stop();
  const emergency = command(r, 'play', { source: { kind: 'line' }, durationS: 3, priority: 100 });
  r.link.inject(cmdTopic, await r.sign(emergency, 'loa-command+json'));
  await r.clock.tickAsync(0);
  assert.deepEqual(r.ran, [], 'not run by the process that is leaving');
  assert.equal(r.store.seen(emergency.id), false, 'not recorded either: it is not a duplicate for the next run');
  await r.link.stop();
  const next = rig({ r: { ...r, link: r.link } });
  await next.clock.tickAsync(0);
  await next.svc.idle();
  assert.deepEqual(next.ran, [emergency.id]);
  assert.equal(next.results().find((x) => x.cmdId === emergency.id)?.ok, true);
  next.svc.stop();
  r.close();
});

test('the issuedAt of an accepted command is clock evidence; a refused one is not', async () => {
  const r = rig();
  const c = command(r, 'ping');
  await send(r, c);
  assert.deepEqual(r.evidence, [Date.parse(String(c.issuedAt))]);
  await send(r, command(r, 'ping', {}, { issuedAt: r.iso(3_600_000), expiresAt: r.iso(-1000) }));
  await send(r, c); // the same id again: a duplicate, refused
  assert.deepEqual(r.evidence, [Date.parse(String(c.issuedAt))]);
  assert.equal(r.ran.length, 1);
  r.close();
});

test('v1.2 §2.2: on a bound one document raised (a day ahead), a signed emergency and the clock command are judged on corroborated time; a normal play is still refused expired', async () => {
  const DAY = 86_400_000;
  const r = rig({ time: { provableNow: () => r.clock.now() + DAY, vouchedNow: () => r.clock.now() } });
  const emergency = command(
    r,
    'play',
    { source: { kind: 'line' }, durationS: 60, priority: 100 },
    { expiresAt: r.iso(600_000) },
  );
  const normal = command(
    r,
    'play',
    { source: { kind: 'line' }, durationS: 60, priority: 75 },
    { expiresAt: r.iso(600_000) },
  );
  const ping = command(r, 'ping', {}, { expiresAt: r.iso(600_000) });
  // Issued by the centre's right clock, hours behind the poisoned bound: still accepted.
  const clock = command(r, 'clock', { resetBound: true }, { expiresAt: r.iso(600_000) });
  for (const c of [emergency, normal, clock, ping]) await send(r, c);
  assert.deepEqual(
    r.ran,
    [emergency.id, clock.id, ping.id],
    'a ping too: read-only, and how the centre sees the bound',
  );
  assert.equal(r.results().find((x) => x.cmdId === normal.id)?.error?.code, 'expired');
  assert.deepEqual(
    r.evidence,
    [Date.parse(String(emergency.issuedAt)), Date.parse(String(ping.issuedAt))],
    "the clock command's own issuedAt is no evidence",
  );
  const bad = command(r, 'clock', { resetBound: false });
  await send(r, bad);
  assert.equal(r.results().find((x) => x.cmdId === bad.id)?.error?.code, 'invalid');
  r.svc.stop();
  r.close();
});
