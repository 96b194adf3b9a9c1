// The pure rules of `noc rollout` (noc/rollout-plan.ts): who is updated, in which stage,
// what counts as an outcome, and when a stage stops the rollout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  Stage,
  parseDuration,
  parseShare,
  planRollout,
  stableOrder,
  versionTable,
  type FleetBox,
} from '../../noc/rollout-plan.js';

const box = (deviceId: string, over: Partial<FleetBox> = {}): FleetBox => ({
  deviceId,
  online: true,
  groups: ['c1'],
  agentVersion: '1.1.0',
  arch: 'arm64',
  trial: null,
  ...over,
});
const fleet = (n: number) => Array.from({ length: n }, (_, i) => box(`b${String(i).padStart(3, '0')}`));
const opts = { group: 'c1', version: '1.2.0', arches: ['arm64', 'amd64'], firstShare: 0.1 };

test('stable order: sha256 of the device id, whatever the input order', () => {
  const ids = fleet(50).map((b) => b.deviceId);
  const h = (id: string) => createHash('sha256').update(id).digest('hex');
  const expected = [...ids].sort((a, b) => (h(a) < h(b) ? -1 : 1));
  assert.deepEqual(stableOrder(ids), expected);
  assert.deepEqual(stableOrder([...ids].reverse()), expected);
});

test('plan: the first share (rounded up, at least one) in stable order, then the rest; the same boxes first on every run', () => {
  const p = planRollout(fleet(25), opts);
  assert.deepEqual(
    p.stages.map((s) => s.length),
    [3, 22],
  );
  assert.deepEqual(p.stages.flat(), stableOrder(fleet(25).map((b) => b.deviceId)));
  assert.deepEqual(planRollout([...fleet(25)].reverse(), opts).stages, p.stages);
  assert.deepEqual(
    planRollout(fleet(3), opts).stages.map((s) => s.length),
    [1, 2],
    'at least one box first',
  );
  assert.deepEqual(
    planRollout(fleet(4), { ...opts, firstShare: 1 }).stages.map((s) => s.length),
    [4],
    '100%: one stage',
  );
  assert.deepEqual(
    planRollout(fleet(4), { ...opts, firstShare: 0 }).stages.map((s) => s.length),
    [1, 3],
  );
  assert.deepEqual(planRollout([], opts).stages, []);
});

test('plan: only the group; boxes on the version, offline, on trial, without an arch or with one not released are left out, saying why', () => {
  const p = planRollout(
    [
      box('a'),
      box('b', { agentVersion: '1.2.0' }),
      box('c', { online: false }),
      box('h', { online: false, presence: 'stale (silent 95 s)' }),
      box('d', { trial: '1.2.0' }),
      box('e', { arch: null, agentVersion: '0.1.0' }),
      box('f', { arch: 'armhf' }),
      box('g', { groups: ['other'] }),
    ],
    opts,
  );
  assert.deepEqual(
    p.members.map((b) => b.deviceId),
    ['a', 'b', 'c', 'd', 'e', 'f', 'h'],
  );
  assert.deepEqual(p.current, ['b']);
  assert.deepEqual(p.stages, [['a']]);
  assert.deepEqual(p.skipped, [
    { deviceId: 'c', reason: 'offline' },
    { deviceId: 'd', reason: 'on trial with 1.2.0' },
    { deviceId: 'e', reason: 'no arch in its birth (agent 0.1.0 predates OTA)' },
    { deviceId: 'f', reason: 'arch armhf is not in the release' },
    { deviceId: 'h', reason: 'stale (silent 95 s)' },
  ]);
});

test('plan: a box on a newer version is skipped, saying why, unless the downgrade is allowed', () => {
  const fleet2 = [box('a'), box('n', { agentVersion: '1.10.0' })];
  const p = planRollout(fleet2, opts);
  assert.deepEqual(p.stages, [['a']]);
  assert.deepEqual(p.skipped, [
    { deviceId: 'n', reason: 'runs 1.10.0, newer than 1.2.0 (a downgrade needs --allow-downgrade)' },
  ]);
  const d = planRollout(fleet2, { ...opts, allowDowngrade: true });
  assert.deepEqual(d.stages.flat().sort(), ['a', 'n']);
  assert.deepEqual(d.skipped, []);
});

test('version table: boxes, online and on trial per version, sorted by version', () => {
  const t = versionTable([
    box('a', { agentVersion: '1.10.0' }),
    box('b'),
    box('c', { online: false }),
    box('d', { trial: '1.10.0' }),
    box('e', { agentVersion: null }),
  ]);
  assert.deepEqual(t, [
    { version: '1.1.0', boxes: 3, online: 2, trial: 0 },
    { version: '1.10.0', boxes: 1, online: 1, trial: 1 },
    { version: '?', boxes: 1, online: 1, trial: 0 },
  ]);
});

const T0 = 1_800_000_000_000;
function stage(n: number, stopAt = 0.2) {
  const s = new Stage({ version: '1.2.0', silenceMs: 60_000, maxMs: 600_000, stopAt });
  for (let i = 0; i < n; i++) s.sent(`b${i}`, `cmd-${i}`, T0);
  return s;
}

test('outcomes: committed of the version is ok; refused, update.failed and update.rolledback are failed; another command or version is ignored', () => {
  const s = stage(5, 1);
  assert.deepEqual(s.result('b0', { cmdId: 'cmd-0', ok: true }, T0 + 10), [
    { deviceId: 'b0', detail: 'accepted (queued)' },
  ]);
  assert.deepEqual(
    s.event('b0', { type: 'update.committed', cmdId: 'cmd-0', version: '1.2.0', trialMs: 12_345 }, T0 + 20),
    [{ deviceId: 'b0', outcome: 'ok', detail: 'committed 1.2.0 after 12.3 s on trial' }],
  );
  assert.deepEqual(
    s.result('b1', { cmdId: 'cmd-1', ok: false, error: { code: 'no-space', message: 'needs 41 MB' } }, T0),
    [{ deviceId: 'b1', outcome: 'failed', detail: 'refused no-space: needs 41 MB' }],
  );
  assert.deepEqual(
    s.event(
      'b2',
      {
        type: 'update.rolledback',
        cmdId: 'cmd-2',
        version: '1.2.0',
        previous: '1.1.0',
        reason: 'exited',
        detail: 'exited before commit (start 2)',
        logTail: ['a', 'Error: boom'],
      },
      T0,
    ),
    [
      {
        deviceId: 'b2',
        outcome: 'failed',
        detail: 'rolled back to 1.1.0 (exited): exited before commit (start 2); last line: Error: boom',
      },
    ],
  );
  assert.deepEqual(
    s.event('b3', { type: 'update.failed', cmdId: 'cmd-3', reason: 'download', message: 'HTTP 404' }, T0),
    [{ deviceId: 'b3', outcome: 'failed', detail: 'failed (download): HTTP 404' }],
  );
  assert.deepEqual(
    s.event('b4', { type: 'update.committed', cmdId: 'other', version: '1.2.0' }, T0),
    [],
    'another command',
  );
  assert.deepEqual(
    s.event('b4', { type: 'update.committed', cmdId: 'cmd-4', version: '1.3.0' }, T0),
    [],
    'another version',
  );
  assert.deepEqual(s.result('b4', { cmdId: 'other', ok: false }, T0), []);
  assert.deepEqual(s.event('b0', { type: 'update.rolledback', cmdId: 'cmd-0' }, T0 + 30), [], 'an outcome is final');
  assert.deepEqual(s.counts(), { ok: 1, failed: 3, timeout: 0, pending: 1 });
  assert.deepEqual(s.pending(), ['b4']);
});

test('time-outs: no news for silenceMs, or maxMs in all; progress events and heartbeats are news', () => {
  const s = stage(3, 1);
  s.event('b0', { type: 'update.started', cmdId: 'cmd-0' }, T0 + 50_000);
  s.progress('b1', T0 + 50_000);
  assert.deepEqual(
    s.tick(T0 + 60_001).map((t) => [t.deviceId, t.outcome, t.detail]),
    [['b2', 'timeout', 'timed out: no news for 60 s (last: sent)']],
  );
  assert.deepEqual(s.tick(T0 + 100_000), []);
  for (let t = T0 + 100_000; t <= T0 + 600_000; t += 50_000) s.progress('b1', t);
  const late = s.tick(T0 + 110_001);
  assert.deepEqual(
    late.map((t) => [t.deviceId, t.detail]),
    [['b0', 'timed out: no news for 60 s (last: started)']],
  );
  assert.deepEqual(
    s.tick(T0 + 600_001).map((t) => [t.deviceId, t.detail]),
    [['b1', 'timed out: 600 s since sent (last: sent)']],
  );
});

test('verdict: stop as soon as the failed share exceeds the limit; continue once all are in within it', () => {
  const s = stage(10, 0.2);
  s.result('b0', { cmdId: 'cmd-0', ok: false, error: { code: 'busy' } }, T0);
  s.event('b1', { type: 'update.failed', cmdId: 'cmd-1', reason: 'verify' }, T0);
  assert.equal(s.verdict().decision, 'wait', '2 of 10 is not over 20%');
  s.tick(T0 + 60_001 + 0); // everyone else silent: times out
  const v = s.verdict();
  assert.equal(v.decision, 'stop');
  assert.equal(v.why, '10 of 10 failed or timed out (100%; the limit is 20%)');

  const early = stage(10, 0.2);
  for (const i of [0, 1, 2])
    early.event(`b${i}`, { type: 'update.rolledback', cmdId: `cmd-${i}`, reason: 'exited' }, T0);
  assert.deepEqual(
    early.verdict(),
    { decision: 'stop', why: '3 of 10 failed or timed out (30%; the limit is 20%)' },
    'decided before the others answer',
  );

  const good = stage(5, 0.2);
  for (let i = 0; i < 4; i++)
    good.event(`b${i}`, { type: 'update.committed', cmdId: `cmd-${i}`, version: '1.2.0' }, T0);
  assert.equal(good.verdict().decision, 'wait');
  good.event('b4', { type: 'update.rolledback', cmdId: 'cmd-4', reason: 'no-commit' }, T0);
  assert.deepEqual(good.verdict(), { decision: 'continue', why: '1 of 5 failed or timed out (20%; the limit is 20%)' });
});

test('shares and durations as flags take them', () => {
  assert.equal(parseShare('10%'), 0.1);
  assert.equal(parseShare('0.25'), 0.25);
  assert.equal(parseShare('20'), 0.2);
  assert.equal(parseShare('100%'), 1);
  for (const bad of ['', '-5%', '101%', 'ten', '5%%']) assert.equal(parseShare(bad), null, bad);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('90'), 90_000);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('soon'), null);
});
