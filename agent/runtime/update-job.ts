// What an update leaves on disk between two runs of the agent (docs/ota.md): the job file
// OTA/job.json (the command, the name of its state in agent/domain/update-machine.ts, the
// end of its quiet-window wait), and the files a start reads to decide where to resume
// (rolledback, committing, trial: the launcher's key=value files, and `current`).
import type { UpdateArgs } from '../../contract/command-doc.js';
import type { Kv, ReleaseFiles } from '../adapters/release-files.js';
import { isJobState, type JobStateName, type UpdateFound } from '../domain/update-machine.js';

export interface Job {
  cmdId: string;
  args: UpdateArgs;
  expiresAt: string;
  previous: string;
  /** The name of its state (fetch, install, wait): what a start resumes. */
  state: JobStateName;
  /** Wall-clock ms until which the quiet window may be awaited (set when installed). */
  waitUntil?: number;
}

export function saveJob(f: ReleaseFiles, job: Job): void {
  f.writeText('job.json', JSON.stringify(job));
}

/** OTA/job.json, or null when it is not a job (a torn file cannot happen: atomic writes; a hand-edited one is dropped). */
export function parseJob(text: string): Job | null {
  try {
    // `phase`: the name a job.json written before the table gave its state.
    const job = JSON.parse(text) as Job & { phase?: unknown };
    const state = job?.state ?? job?.phase;
    if (job && typeof job.cmdId === 'string' && job.args?.version && isJobState(state)) {
      delete job.phase;
      return { ...job, state };
    }
  } catch {
    // dropped by the caller
  }
  return null;
}

/** The OTA directory at start: the files, and what startPlan is given. */
export interface OtaFiles {
  rolledback: Kv | null;
  committing: Kv | null;
  trial: Kv | null;
  /** job.json's text (null: none, or left unread because a rollback drops it). */
  jobText: string | null;
  job: Job | null;
  found: UpdateFound;
}

export function readOtaFiles(f: ReleaseFiles, running: string): OtaFiles {
  const rolledback = f.readKv('rolledback');
  const committing = f.readKv('committing');
  const trial = f.readKv('trial');
  const jobText = rolledback ? null : f.readText('job.json');
  const job = jobText === null ? null : parseJob(jobText);
  return {
    rolledback,
    committing,
    trial,
    jobText,
    job,
    found: {
      running,
      current: f.current(),
      rolledback: rolledback !== null,
      committing: committing ? (committing.version ?? '') : null,
      trial: trial ? (trial.version ?? '') : null,
      job: job?.state ?? null,
    },
  };
}
