// The update's transition table (agent/domain/update-machine.ts) checked as data: event
// sequences and the states they walk through, what a start finds after a kill at each
// persisted state and where it resumes, and the checks of an `update` command. No process,
// no broker, no clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  UPDATE_TRANSITIONS,
  acceptUpdate,
  nextUpdateState,
  startPlan,
  walkUpdate,
  type UpdateFound,
  type UpdateStateName,
} from '../../agent/domain/update-machine.js';

const found = (over: Partial<UpdateFound> = {}): UpdateFound => ({
  running: '1.0.0',
  current: '1.0.0',
  rolledback: false,
  committing: null,
  trial: null,
  job: null,
  ...over,
});

test('happy path: accepted, fetched, installed, quiet, switched; the new version commits once healthy', () => {
  assert.deepEqual(walkUpdate('idle', ['accept', 'fetched', 'installed', 'quiet', 'switched']), [
    'fetch',
    'install',
    'wait',
    'switch',
    'restarting',
  ]);
  // The new version starts on trial (the launcher's file), commits, and is idle again.
  assert.deepEqual(startPlan(found({ running: '2.0.0', current: '2.0.0', trial: '2.0.0' })), {
    steps: ['take-trial'],
    state: 'trial',
  });
  assert.deepEqual(walkUpdate('trial', ['healthy', 'done']), ['committing', 'idle']);
});

test('download failure: a delta that does not verify retries with the full artifact; a download that never verifies fails', () => {
  assert.deepEqual(walkUpdate('idle', ['accept', 'retry', 'fetched', 'installed']), [
    'fetch',
    'fetch',
    'install',
    'wait',
  ]);
  assert.deepEqual(walkUpdate('idle', ['accept', 'retry', 'error', 'done']), ['fetch', 'fetch', 'failed', 'idle']);
});

test('a bad sha (never verified by the cache) or a refused archive ends failed, and the box stays idle on its version', () => {
  assert.deepEqual(walkUpdate('idle', ['accept', 'error', 'done']), ['fetch', 'failed', 'idle']);
  assert.deepEqual(walkUpdate('idle', ['accept', 'fetched', 'error', 'done']), ['fetch', 'install', 'failed', 'idle']);
  assert.deepEqual(walkUpdate('idle', ['accept', 'fetched', 'installed', 'error', 'done']), [
    'fetch',
    'install',
    'wait',
    'failed',
    'idle',
  ]);
});

test('a kill at each persisted state: the next start resumes it by name and the update reaches a terminal state', () => {
  // [what the kill left, the steps of the next start, the state it resumes in, the events to the end]
  const cases: [string, UpdateFound, string[], UpdateStateName, Parameters<typeof walkUpdate>[1]][] = [
    ['job fetch', found({ job: 'fetch' }), ['resume-job'], 'fetch', ['fetched', 'installed', 'quiet', 'switched']],
    ['job install (a half unpack)', found({ job: 'install' }), ['resume-job'], 'fetch', ['fetched', 'installed']],
    ['job wait', found({ job: 'wait' }), ['resume-job'], 'wait', ['quiet', 'switched']],
    // The trial written, the switch not made: the job redoes the switch.
    ['trial before the switch', found({ job: 'wait', trial: '2.0.0' }), ['resume-job'], 'wait', ['quiet', 'switched']],
    // Switched, job.json removed, but this (old) process was never restarted: exit again.
    ['switched, restart lost', found({ trial: '2.0.0', current: '2.0.0' }), ['restart'], 'restarting', []],
    // The new version on trial, killed: the launcher rolls back (exited); the old one reports it.
    ['rolled back', found({ rolledback: true }), ['report-rollback'], 'idle', []],
    ['committing', found({ running: '2.0.0', current: '2.0.0', committing: '2.0.0' }), ['finish-commit'], 'idle', []],
  ];
  for (const [what, f, steps, state, rest] of cases) {
    const plan = startPlan(f);
    assert.deepEqual(plan, { steps, state }, what);
    const end = [state, ...walkUpdate(state, rest)].pop();
    assert.ok(end === 'restarting' || end === 'idle' || end === 'wait' || end === 'install', `${what}: ${end}`);
  }
  // Nothing to resume: idle; a trial of a switch never made and no job: dropped.
  assert.deepEqual(startPlan(found()), { steps: [], state: 'idle' });
  assert.deepEqual(startPlan(found({ trial: '2.0.0' })), { steps: ['drop-trial'], state: 'idle' });
  assert.deepEqual(startPlan(found({ committing: '2.0.0' })), { steps: ['drop-committing'], state: 'idle' });
});

test('trial fails (exits, hangs, no commit): the launcher switches back and the old version reports the rollback', () => {
  // The trial has no transition of its own to a rollback: the launcher makes it while no agent runs.
  assert.deepEqual(Object.keys(UPDATE_TRANSITIONS.trial), ['healthy']);
  const after = startPlan(found({ running: '1.0.0', current: '1.0.0', rolledback: true, trial: null, job: 'wait' }));
  // The job the rollback ended is dropped with it; the old version is idle again.
  assert.deepEqual(after, { steps: ['report-rollback'], state: 'idle' });
  assert.deepEqual(walkUpdate('rolledback', ['done']), ['idle']);
});

test('probation crash: a committed version that keeps dying is switched back by the launcher and reported', () => {
  assert.deepEqual(walkUpdate('trial', ['healthy', 'done']), ['committing', 'idle']);
  // A kill between the commit's steps finishes it; then probation crashes -> rolledback.
  assert.deepEqual(startPlan(found({ running: '2.0.0', current: '2.0.0', committing: '2.0.0' })).steps, [
    'finish-commit',
  ]);
  assert.deepEqual(startPlan(found({ running: '1.0.0', current: '1.0.0', rolledback: true })), {
    steps: ['report-rollback'],
    state: 'idle',
  });
});

test('downgrade refused unless allowed; the same version answers running; another arch is invalid', () => {
  const base = { state: 'idle' as const, running: '1.4.0', arch: 'arm64' };
  const older = acceptUpdate({ ...base, args: { version: '1.3.9' } });
  assert.equal(older?.ok, false);
  assert.match((older as { message: string }).message, /older than the running 1\.4\.0.*allowDowngrade/);
  assert.equal(acceptUpdate({ ...base, args: { version: '1.3.9', allowDowngrade: true } }), null);
  assert.deepEqual(acceptUpdate({ ...base, args: { version: '1.4.0' } }), { ok: true, running: true });
  assert.deepEqual(acceptUpdate({ ...base, args: { version: '1.5.0', arch: 'amd64' } }), {
    ok: false,
    code: 'invalid',
    message: 'the release is for amd64; this box is arm64',
  });
  assert.equal(acceptUpdate({ ...base, args: { version: '1.5.0' } }), null);
});

test('a second update while one runs is busy, whatever state the first is in; the table has no accept outside idle', () => {
  for (const state of ['fetch', 'install', 'wait', 'switch', 'restarting'] as const) {
    const r = acceptUpdate({
      state,
      running: '1.0.0',
      arch: 'amd64',
      args: { version: '3.0.0' },
      job: { version: '2.0.0', cmdId: 'c1', state: 'wait' },
    });
    assert.deepEqual(r, {
      ok: false,
      code: 'busy',
      message: 'the update to 2.0.0 (command c1) is in progress (wait)',
    });
    assert.throws(() => nextUpdateState(state, 'accept'), /no transition from/);
  }
  assert.deepEqual(
    acceptUpdate({
      state: 'trial',
      running: '2.0.0',
      arch: 'amd64',
      args: { version: '3.0.0' },
      trialVersion: '2.0.0',
    }),
    { ok: false, code: 'busy', message: 'version 2.0.0 is on trial; try again once it committed or rolled back' },
  );
  // After a failure or a commit the box is idle and accepts again.
  assert.equal(walkUpdate('fetch', ['error', 'done']).pop(), 'idle');
  assert.equal(nextUpdateState('idle', 'accept'), 'fetch');
});
