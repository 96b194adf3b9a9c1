// The clock's trust without an RTC: the rules (domain/clock-trust.ts), the sources as a
// box has them (files and commands, adapters/clock-sources.ts), the persisted bound
// (real files), and the watch that ties them on the manual clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import {
  judgeClock,
  provableNow,
  noteClaim,
  resetBound,
  syncedAt,
  vouched,
  CLOCK_TOLERANCE_MS,
  MAX_UNCORROBORATED_MS,
  NO_EVIDENCE,
  type Claim,
} from '../../agent/domain/clock-trust.js';
import {
  chronyVerdict,
  createClockSources,
  kernelVerdict,
  type ClockSync,
} from '../../agent/adapters/clock-sources.js';
import { ClockCheckpoint } from '../../agent/adapters/clock-checkpoint.js';
import { ClockWatch } from '../../agent/runtime/clock-watch.js';
import { createLogger } from '../../agent/log.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = Date.parse('2026-11-26T06:00:00+07:00');
const log = createLogger({ level: 'silent', pretty: false });
const MIN = 60_000;
const none: ClockSync = { synced: null, source: 'none' };

test('rules: held while a source says unsynchronised or the clock is provably behind; unknown and unbounded is trusted', () => {
  assert.deepEqual(
    judgeClock(T0, none, null),
    { held: false, behind: false, lowerBound: null, corroborated: null },
    'no source, no bound: trusted (holding would silence the box)',
  );
  assert.equal(judgeClock(T0, { synced: false, source: 'timesyncd' }, null).held, true);
  assert.equal(judgeClock(T0, { synced: true, source: 'chrony' }, T0 - 86_400_000).held, false);
  const within = judgeClock(T0, none, T0 + CLOCK_TOLERANCE_MS);
  assert.deepEqual(
    [within.held, within.behind],
    [false, false],
    'a centre clock up to the tolerance fast holds nothing',
  );
  const behind = judgeClock(T0, none, T0 + CLOCK_TOLERANCE_MS + 1);
  assert.deepEqual([behind.held, behind.behind], [true, true]);
  assert.deepEqual(
    judgeClock(T0, { synced: true, source: 'timesyncd' }, T0 + 3_600_000),
    { held: false, behind: false, lowerBound: T0 + 3_600_000, corroborated: null },
    'v1.2: a synchronised source outranks document evidence',
  );
  assert.equal(provableNow(T0, behind), T0 + CLOCK_TOLERANCE_MS + 1);
  assert.equal(provableNow(T0, judgeClock(T0, none, T0 - 5)), T0);
});

test('sources: timesyncd files, then chrony, then the kernel; none when nothing tells', async () => {
  const root = tempDir('clock-src');
  const script = (name: string, body: string) => {
    const p = join(root, name);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
    return [p];
  };
  const chronyUnsync = script(
    'chrony-unsync',
    "printf 'Reference ID    : 00000000 ()\\nLeap status     : Not synchronised\\n'",
  );
  const chronyDown = script('chrony-down', "echo '506 Cannot talk to daemon' >&2; exit 1");
  const kernelOk = [script('kernel-ok', 'echo 0')];
  const kernelUnsync = [script('kernel-unsync', 'echo 5')];
  const noBus = script('timedatectl-no-bus', "echo 'Failed to connect to bus: Host is down' >&2; exit 1");
  const timedatedYes = script('timedatectl-yes', 'echo yes');
  const sandboxed = script('adjtimex-eperm', 'echo -1'); // ProtectClock=yes: adjtimex refused
  const runRoot = join(root, 'run');
  const read = (o: Parameters<typeof createClockSources>[0]) => createClockSources({ runRoot, ...o }).read();

  assert.deepEqual(
    await read({ chronyc: chronyDown, kernelProbe: kernelUnsync }),
    none,
    'chronyd not answering and a kernel nobody disciplines: nothing tells',
  );
  assert.deepEqual(await read({ chronyc: [join(root, 'no-such-chronyc')], kernelProbe: kernelOk }), {
    synced: true,
    source: 'kernel',
  });
  assert.deepEqual(
    await read({ chronyc: chronyDown, kernelProbe: [timedatedYes, sandboxed] }),
    { synced: true, source: 'kernel' },
    'timedated answers for a sandboxed agent',
  );
  assert.deepEqual(
    await read({ chronyc: chronyDown, kernelProbe: [noBus, kernelOk[0]!] }),
    { synced: true, source: 'kernel' },
    'no D-Bus: python3 asks adjtimex itself',
  );
  assert.deepEqual(
    await read({ chronyc: chronyDown, kernelProbe: [noBus, sandboxed] }),
    none,
    'neither can ask: nothing tells',
  );
  assert.deepEqual(
    await read({ chronyc: chronyUnsync, kernelProbe: kernelOk }),
    { synced: false, source: 'chrony' },
    'chrony answers before the kernel',
  );
  mkdirSync(join(runRoot, 'systemd/timesync'), { recursive: true });
  assert.deepEqual(await read({ chronyc: chronyUnsync }), { synced: false, source: 'timesyncd' });
  writeFileSync(join(runRoot, 'systemd/timesync/synchronized'), '');
  assert.deepEqual(await read({ chronyc: chronyUnsync }), { synced: true, source: 'timesyncd' });
  assert.deepEqual(
    await read({ sources: ['chrony'], chronyc: chronyUnsync }),
    { synced: false, source: 'chrony' },
    'only the configured sources are asked',
  );

  assert.equal(chronyVerdict('Leap status     : Normal\n'), true);
  assert.equal(chronyVerdict('Leap status     : Insert second\n'), true);
  assert.equal(chronyVerdict('garbage'), null);
  assert.equal(kernelVerdict('1\n'), true, 'TIME_INS: synchronised, a leap second pending');
  assert.equal(kernelVerdict('5\n'), null, 'TIME_ERROR proves nothing: the kernel starts so');
  assert.equal(kernelVerdict('x'), null);
  assert.equal(kernelVerdict('no\n'), null, "timedated's no is the same TIME_ERROR");
});

test('checkpoint: atomic, checksummed, a corrupt or absent file is no bound, a refused write keeps the bound in memory', () => {
  const dir = tempDir('clock-cp');
  const path = join(dir, 'clock.json');
  const cp = new ClockCheckpoint(path, log, () => T0);
  assert.equal(cp.load(), null);
  const e = {
    checkpoint: T0 - MIN,
    claims: [
      { id: 'schedule:a:1', at: T0 },
      { id: 'command:x', at: T0 - 2 * MIN },
    ],
    bound: T0,
  };
  assert.equal(cp.save(e), true);
  assert.ok(readFileSync(path, 'utf8').length < 400, 'small');
  assert.deepEqual(new ClockCheckpoint(path, log).load(), e);
  const f = JSON.parse(readFileSync(path, 'utf8')) as { data: string };
  writeFileSync(
    path,
    JSON.stringify({ ...f, data: f.data.replace(/"lowerBound":"[^"]+"/, '"lowerBound":"2099-01-01T00:00:00.000Z"') }),
  );
  assert.equal(
    new ClockCheckpoint(path, log).load(),
    null,
    'a bound that fails its checksum would hold every schedule: ignored',
  );
  writeFileSync(path, '{"v":2,');
  assert.equal(new ClockCheckpoint(path, log).load(), null);
  const ro = new ClockCheckpoint(join(dir, 'no-such-dir', 'clock.json'), log);
  assert.equal(ro.save(e), false, 'the disk refused');
});

test("checkpoint: a v1 file (the bound alone, of unknown origin) is read as one document's word: a poisoned 9999 bound is capped at 24 h", () => {
  const path = join(tempDir('clock-v1'), 'clock.json');
  const v1 = (lb: string) =>
    `${JSON.stringify({ v: 1, lowerBound: lb, sum: createHash('sha256').update(`loa-clock:${lb}`).digest('hex').slice(0, 16) })}\n`;
  writeFileSync(path, v1('9999-12-30T00:00:00.000Z'));
  assert.equal(new ClockCheckpoint(path, log, () => T0).load()?.bound, T0 + MAX_UNCORROBORATED_MS);
  writeFileSync(path, v1(new Date(T0 - MIN).toISOString()));
  assert.equal(
    new ClockCheckpoint(path, log, () => T0 - 86_400_000).load()?.bound,
    T0 - MIN,
    'a box booted a day behind still learns it from its v1 file',
  );
});

function watchRig(o: { sync?: ClockSync; dir?: string; evidence?: Claim[]; now?: number } = {}) {
  const clock = new ManualClock({ now: o.now ?? T0 });
  let sync = o.sync ?? none;
  const dir = o.dir ?? tempDir('clock-watch');
  const cp = new ClockCheckpoint(join(dir, 'clock.json'), log, () => clock.now());
  const writes: number[] = [];
  const events: Record<string, string>[] = [];
  let changes = 0;
  const watch = new ClockWatch({
    clock,
    sources: { read: async () => sync },
    // What a write changes is the bound (or the checkpoint a source vouched for): recorded as the higher.
    store: {
      load: () => cp.load(),
      save: (e) => (writes.push(Math.max(e.bound ?? -Infinity, e.checkpoint ?? -Infinity)), cp.save(e)),
    },
    log,
    evidence: o.evidence ?? [],
    emit: (type, fields) => events.push({ type, ...fields }),
    onChange: () => changes++,
  });
  return {
    clock,
    watch,
    writes,
    events,
    dir,
    path: join(dir, 'clock.json'),
    setSync: (s: ClockSync) => (sync = s),
    changes: () => changes,
  };
}

test('watch: a signed issuedAt ahead of an unsynchronised clock raises the bound, holds, persists; the next boot starts behind', async () => {
  const r = watchRig({ sync: { synced: null, source: 'none' }, now: T0 - 86_400_000 }); // booted a day in the past
  await r.watch.start();
  assert.deepEqual(r.watch.report(), { synced: null, source: 'none', lowerBound: null, behind: false });
  assert.equal(r.watch.verdict().held, false);
  const changes = r.changes();
  r.watch.note('schedule:a:1', T0);
  assert.deepEqual(r.watch.report(), {
    synced: null,
    source: 'none',
    lowerBound: new Date(T0).toISOString(),
    behind: true,
    aheadS: 86_400,
  });
  assert.equal(r.watch.verdict().held, true);
  assert.equal(r.changes(), changes + 1, 'the scheduler and the heartbeat are told');
  r.watch.note('schedule:a:1', T0 - 5 * MIN);
  assert.deepEqual(r.writes, [T0], 'written once, when it rose; an older document lowers nothing');
  r.watch.stop();
  const next = watchRig({ dir: r.dir, now: T0 - 86_400_000 });
  await next.watch.start();
  assert.equal(
    next.watch.verdict().behind,
    true,
    'the persisted bound proves the next boot behind before any document',
  );
  next.watch.stop();
});

test('watch: synchronised, the wall clock is checkpointed every 30 min and at stop; unsynchronised, the disk is left alone', async () => {
  const r = watchRig({ sync: { synced: true, source: 'timesyncd' } });
  await r.watch.start();
  assert.deepEqual(r.writes, [T0]);
  await r.clock.tickAsync(29 * MIN);
  assert.equal(r.writes.length, 1, 'polled every minute, written at most every 30');
  await r.clock.tickAsync(2 * MIN);
  assert.equal(r.writes.length, 2);
  assert.ok(r.writes[1]! >= T0 + 30 * MIN);
  r.setSync({ synced: false, source: 'timesyncd' });
  await r.clock.tickAsync(3 * 3_600_000);
  assert.equal(r.writes.length, 2, 'a clock no source vouches for is never written as a bound');
  assert.equal(r.watch.verdict().held, true);
  const mtime = statSync(r.path).mtimeMs;
  r.watch.stop();
  assert.equal(statSync(r.path).mtimeMs, mtime, 'stop() of an unsynchronised clock rewrites nothing new');
  const s = watchRig({ sync: { synced: true, source: 'chrony' } });
  await s.watch.start();
  await s.clock.tickAsync(5 * MIN);
  s.watch.stop();
  assert.deepEqual(s.writes, [T0, T0 + 5 * MIN], 'a clean stop checkpoints the synchronised time');
});

test('watch: NTP arriving is seen within 15 s (and at once on refresh), and releases the hold', async () => {
  const r = watchRig({ sync: { synced: false, source: 'timesyncd' } });
  await r.watch.start();
  assert.equal(r.watch.verdict().held, true);
  assert.equal(r.watch.syncedForIntake(), false);
  r.setSync({ synced: true, source: 'timesyncd' });
  await r.clock.tickAsync(14_000);
  assert.equal(r.watch.verdict().held, true);
  await r.clock.tickAsync(1000);
  assert.equal(r.watch.verdict().held, false);
  assert.equal(r.watch.syncedForIntake(), undefined, 'now an issuedAt far ahead is refused again');
  r.setSync({ synced: false, source: 'timesyncd' });
  await r.watch.refresh();
  assert.equal(r.watch.verdict().held, true);
  r.watch.stop();
});

test('watch: where no source can tell, the sources are asked once a minute, not every 15 s (a kernel probe spawns a process)', async () => {
  const clock = new ManualClock({ now: T0 });
  let reads = 0;
  const watch = new ClockWatch({
    clock,
    sources: { read: async () => (reads++, none) },
    store: { load: () => null, save: () => true },
    log,
  });
  await watch.start();
  await clock.tickAsync(59_000);
  assert.equal(reads, 1);
  await clock.tickAsync(1000);
  assert.equal(reads, 2);
  watch.stop();
  assert.equal(clock.pending, 0, 'stop() leaves no timer');
});

// ---- contract v1.2 §2.2: weighing the evidence ----

const DAY = 86_400_000;

test('v1.2 rules: one document moves the bound at most 24 h beyond the corroborated time; a second distinct document corroborates', () => {
  const week = T0 + 7 * DAY;
  const one = noteClaim(NO_EVIDENCE, { id: 'command:ping-1', at: week }, T0);
  assert.equal(one.bound, T0 + MAX_UNCORROBORATED_MS, 'a ping dated a week ahead: 24 h, not a week');
  assert.equal(vouched(one), null, 'one document vouches for nothing');
  assert.equal(
    noteClaim(one, { id: 'command:ping-1', at: week }, T0).bound,
    one.bound,
    'the same document again is no second witness',
  );
  const two = noteClaim(one, { id: 'schedule:daily:3', at: week - 60_000 }, T0);
  assert.equal(vouched(two), week - 60_000, 'two distinct documents vouch for the lower of their times');
  assert.equal(two.bound, week, 'and the higher one may then stand, being within 24 h of it');
  const y9999 = noteClaim(NO_EVIDENCE, { id: 'command:x', at: Date.parse('9999-12-30T00:00:00Z') }, T0);
  assert.equal(y9999.bound, T0 + MAX_UNCORROBORATED_MS, 'year 9999: still 24 h');
  const behind = noteClaim(NO_EVIDENCE, { id: 'schedule:a:1', at: T0 }, T0 - DAY);
  assert.equal(behind.bound, T0, 'a box booted a day behind learns it from one document (within 24 h of its clock)');
  const cp = noteClaim(
    { checkpoint: T0 + 2 * DAY, claims: [], bound: T0 + 2 * DAY },
    { id: 'command:y', at: T0 + 4 * DAY },
    T0,
  );
  assert.equal(cp.bound, T0 + 3 * DAY, "a source's checkpoint is corroborated time: 24 h beyond it");
});

test('v1.2 rules: a synchronised clock discards a bound more than 10 min above it (reported), keeps one within; reset forgets the claims', () => {
  const poisoned = noteClaim(NO_EVIDENCE, { id: 'command:ping-1', at: T0 + 7 * DAY }, T0);
  const s = syncedAt(poisoned, T0 + MIN);
  assert.equal(s.discarded, T0 + MAX_UNCORROBORATED_MS);
  assert.deepEqual(s.evidence, { checkpoint: T0 + MIN, claims: [], bound: T0 + MIN });
  const within = syncedAt(noteClaim(NO_EVIDENCE, { id: 'a', at: T0 + 5 * MIN }, T0), T0);
  assert.equal(within.discarded, null, 'a centre clock 5 min fast is no contradiction');
  assert.equal(within.evidence.bound, T0 + 5 * MIN);
  const two = noteClaim(poisoned, { id: 'schedule:day:1', at: T0 + 2 * MIN }, T0);
  assert.equal(
    judgeClock(T0, { synced: false, source: 'timesyncd' }, two.bound, CLOCK_TOLERANCE_MS, vouched(two)).corroborated,
    T0 + 2 * MIN,
    'two documents vouch for the lower of them: items past it may be skipped',
  );
  const reset = resetBound({ checkpoint: T0 - DAY, claims: [{ id: 'a', at: T0 + DAY }], bound: T0 + DAY });
  assert.deepEqual(reset, { checkpoint: T0 - DAY, claims: [], bound: T0 - DAY });
});

test('watch v1.2: a poisoned bound (a ping a week ahead) holds for at most 24 h; NTP discards it within one poll, reports it, and the next boot is not behind', async () => {
  const r = watchRig({ sync: { synced: false, source: 'timesyncd' } });
  await r.watch.start();
  r.watch.note('command:ping-1', T0 + 7 * DAY);
  assert.deepEqual(r.watch.report(), {
    synced: false,
    source: 'timesyncd',
    lowerBound: new Date(T0 + DAY).toISOString(),
    behind: true,
    aheadS: 86_400,
  });
  assert.equal(r.watch.vouchedNow(), T0, 'one document is no proof for an emergency');
  assert.equal(r.watch.provableNow(), T0 + DAY);
  assert.equal(
    r.watch.verdict().corroborated,
    null,
    'nothing vouches for the bound: items are held, never skipped on it',
  );
  r.setSync({ synced: true, source: 'timesyncd' });
  await r.clock.tickAsync(15_000);
  assert.deepEqual(
    r.watch.verdict(),
    { held: false, behind: false, lowerBound: T0 + 15_000, corroborated: null },
    'released within one poll (15 s while unsynchronised)',
  );
  assert.deepEqual(r.events, [
    {
      type: 'clock.bound-discarded',
      lowerBound: new Date(T0 + DAY).toISOString(),
      clock: new Date(T0 + 15_000).toISOString(),
      source: 'timesyncd',
    },
  ]);
  await r.clock.tickAsync(5 * MIN);
  assert.equal(r.events.length, 1, 'reported once');
  r.watch.stop();
  const next = watchRig({ dir: r.dir, sync: none, now: T0 + 6 * MIN });
  await next.watch.start();
  assert.equal(next.watch.verdict().behind, false, 'the discarded bound is gone from the disk too');
  next.watch.stop();
});

test("watch v1.2: with no time source at all, +10 years in one document holds 24 h at most; the centre's clock command mends it at once", async () => {
  const r = watchRig({ sync: none });
  await r.watch.start();
  r.watch.note('command:far', T0 + 3650 * DAY);
  assert.equal(r.watch.report().aheadS, 86_400);
  await r.clock.tickAsync(DAY - 11 * MIN);
  assert.equal(r.watch.verdict().behind, true);
  await r.clock.tickAsync(2 * MIN);
  assert.equal(
    r.watch.verdict().behind,
    false,
    'a day later the clock has caught up with the capped bound: nothing is held',
  );
  const again = watchRig({ sync: none });
  await again.watch.start();
  again.watch.note('command:far', T0 + 3650 * DAY);
  assert.deepEqual(again.watch.resetBound(), { before: new Date(T0 + DAY).toISOString(), after: null });
  assert.deepEqual(again.watch.report(), { synced: null, source: 'none', lowerBound: null, behind: false });
  again.watch.stop();
  r.watch.stop();
});
