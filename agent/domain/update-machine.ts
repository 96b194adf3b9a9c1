// The over-the-air update as a transition table (docs/ota.md), mender-style: the states an
// update goes through, the events that move it, and what a start finds on disk mapped to the
// state it resumes. Pure: no file, no process, no clock. runtime/updater.ts carries out each
// state's effects and feeds back the event they end in; systemd/loa-launch owns the
// transitions made while no agent runs (a trial or probation that fails is switched back).
//
//   idle ─accept→ fetch ─fetched→ install ─installed→ wait ─quiet→ switch ─switched→ restarting
//                  │ ↺ retry        │                  │            │
//                  └─error──────────┴───────error──────┴───error────┴─→ failed ─done→ idle
//   (the new version)  trial ─healthy→ committing ─done→ idle
//   (either version)   rolledback ─done→ idle        (the launcher switched back)
//
// Persisted by name: fetch, install and wait in OTA/job.json; trial and committing are the
// launcher's files of those names; rolledback is the launcher's. Everything else lives only
// while the process does, and a kill in it resumes from the last persisted name.
import { downgradeRefusal } from '../../contract/versions.js';

export type UpdateStateName =
  'idle' | 'fetch' | 'install' | 'wait' | 'switch' | 'restarting' | 'trial' | 'committing' | 'failed' | 'rolledback';

export type UpdateEventName =
  /** An `update` command passed every check (acceptUpdate). */
  | 'accept'
  /** A delta did not come or did not verify: the full artifact instead (the cache itself retries a download until the command expires). */
  | 'retry'
  | 'fetched'
  | 'installed'
  /** Nothing plays and nothing starts soon. */
  | 'quiet'
  /** `trial` written, `current` renamed, `update.installed` emitted: exit so the launcher starts the new version. */
  | 'switched'
  /** The effect failed (its reason goes into `update.failed`). */
  | 'error'
  /** On trial: birth published, scheduler ticked, MQTT held for commitAfterS. */
  | 'healthy'
  /** The state's own work is finished (an event emitted once, files tidied). */
  | 'done';

export const UPDATE_TRANSITIONS: Readonly<
  Record<UpdateStateName, Readonly<Partial<Record<UpdateEventName, UpdateStateName>>>>
> = {
  idle: { accept: 'fetch' },
  fetch: { retry: 'fetch', fetched: 'install', error: 'failed' },
  install: { installed: 'wait', error: 'failed' },
  wait: { quiet: 'switch', error: 'failed' },
  switch: { switched: 'restarting', error: 'failed' },
  restarting: {},
  trial: { healthy: 'committing' },
  committing: { done: 'idle' },
  failed: { done: 'idle' },
  rolledback: { done: 'idle' },
};

/** The states OTA/job.json holds (by name), and the state a start resumes each in. */
export type JobStateName = 'fetch' | 'install' | 'wait';
export const RESUME_JOB: Readonly<Record<JobStateName, 'fetch' | 'wait'>> = {
  fetch: 'fetch',
  // A half-done unpack is not resumed: the download is (the cache has it), then the unpack again.
  install: 'fetch',
  wait: 'wait',
};

export function isJobState(s: unknown): s is JobStateName {
  return s === 'fetch' || s === 'install' || s === 'wait';
}

/** The state after `event` in `state`; throws on a pair the table does not have (a bug, not a box's fault). */
export function nextUpdateState(state: UpdateStateName, event: UpdateEventName): UpdateStateName {
  const next = UPDATE_TRANSITIONS[state][event];
  if (next === undefined) throw new Error(`update: no transition from ${state} on ${event}`);
  return next;
}

/** The states an event sequence walks through from `from` (tests, docs). */
export function walkUpdate(from: UpdateStateName, events: readonly UpdateEventName[]): UpdateStateName[] {
  const out: UpdateStateName[] = [];
  let s = from;
  for (const e of events) out.push((s = nextUpdateState(s, e)));
  return out;
}

/**
 * The `update.failed` reason of an error an effect did not classify itself, by the job's
 * state when it happened (the switch runs while the job is still in `wait`).
 */
export const DEFAULT_FAILURE: Readonly<Record<JobStateName, 'download' | 'unpack' | 'no-quiet-window'>> = {
  fetch: 'download',
  install: 'unpack',
  wait: 'no-quiet-window',
};

/** What a start finds in the OTA directory (the versions named by each file), and what runs. */
export interface UpdateFound {
  running: string;
  /** The version `current` points at (null: not a symlink). */
  current: string | null;
  rolledback: boolean;
  committing: string | null;
  trial: string | null;
  /** OTA/job.json's state name, when there is a readable job. */
  job: JobStateName | null;
}

export type StartStep =
  /** Emit `update.rolledback` once, drop the rollback's files and the job (the launcher ended it). */
  | 'report-rollback'
  /** Killed while committing this version: emit `update.committed` once, write probation, prune. */
  | 'finish-commit'
  /** A `committing` of another version (the launcher rolled it back meanwhile): dropped. */
  | 'drop-committing'
  /** This version is on trial: commit once healthy; the job that switched to it is done. */
  | 'take-trial'
  /** A trial the switch never followed and no job to redo it: dropped. */
  | 'drop-trial'
  /** `current` already names the trial's version but this process is the old one (its restart was lost): exit again. */
  | 'restart'
  /** The job resumes in the state RESUME_JOB names. */
  | 'resume-job';

/** A start as data: the steps, in order, and the state the updater is in after them. */
export function startPlan(f: UpdateFound): { steps: StartStep[]; state: UpdateStateName } {
  const steps: StartStep[] = [];
  let job = f.job;
  if (f.rolledback) {
    steps.push('report-rollback');
    job = null;
  }
  if (f.committing !== null) steps.push(f.committing === f.running ? 'finish-commit' : 'drop-committing');
  if (f.trial !== null && f.trial === f.running && f.current === f.running) {
    steps.push('take-trial');
    return { steps, state: 'trial' };
  }
  if (f.trial !== null && job === null && f.current === f.trial && f.trial !== f.running) {
    steps.push('restart');
    return { steps, state: 'restarting' };
  }
  // A trial the switch never followed (killed in between): the job redoes the switch.
  if (f.trial !== null && job === null) steps.push('drop-trial');
  if (job !== null) {
    steps.push('resume-job');
    return { steps, state: RESUME_JOB[job] };
  }
  return { steps, state: 'idle' };
}

/** An `update` refused by what needs neither the disk nor the network, or the answer for the running version. */
export type AcceptCheck = { ok: false; code: 'invalid' | 'busy'; message: string } | { ok: true; running: true } | null;

export interface AcceptInput {
  state: UpdateStateName;
  running: string;
  arch: string;
  args: { version: string; arch?: string; allowDowngrade?: boolean };
  /** The release on trial, or the job in progress (version, command id, its state name). */
  trialVersion?: string;
  job?: { version: string; cmdId: string; state: string };
}

/** The pure checks of `update` (docs/ota.md §1): the arch, the same version, a downgrade, an update already running. */
export function acceptUpdate(i: AcceptInput): AcceptCheck {
  const a = i.args;
  if (a.arch && a.arch !== i.arch)
    return { ok: false, code: 'invalid', message: `the release is for ${a.arch}; this box is ${i.arch}` };
  if (a.version === i.running) return { ok: true, running: true };
  // Anti-rollback: an older release (a known bug, a known hole) only when the centre says so.
  const older = downgradeRefusal(a.version, i.running, a.allowDowngrade === true);
  if (older) return { ok: false, code: 'invalid', message: older };
  if (i.state !== 'idle' && !i.job)
    return {
      ok: false,
      code: 'busy',
      message: `version ${i.trialVersion ?? i.running} is on trial; try again once it committed or rolled back`,
    };
  if (i.state !== 'idle' && i.job)
    return {
      ok: false,
      code: 'busy',
      message: `the update to ${i.job.version} (command ${i.job.cmdId}) is in progress (${i.job.state})`,
    };
  return null;
}
