// Over-the-air updates on the box (issue [5/8]; docs/ota.md). A signed `update` command
// (release key only) becomes a job that survives restarts (OTA/job.json, holding the name
// of its state). The states and the events between them are a table
// (agent/domain/update-machine.ts); this runs each state's effects:
//
//   fetch    the artifact through the media cache (resume, sha256), or a delta from the
//            running release (zstd --patch-from) that falls back to the full artifact;
//   install  unpacked beside the running release into releases/<v>.partial, its version
//            and architecture checked, its own `--check-config` run on the live config,
//            then renamed to releases/<v> (runtime/update-install.ts);
//   wait     for a quiet window: nothing plays and nothing starts within the amplifier's
//            warm-up and a minute; at most `waitS` (an emergency is never delayed: the
//            update waits, the emergency plays);
//   switch   OTA/trial written, `current` renamed to the new release, `update.installed`,
//            exit 75 (systemd restarts the agent, through the launcher, into it).
//
// The new version is on trial until it has published its birth, its scheduler has
// ticked and its MQTT connection has held for update.commitAfterS (10 s): then it commits
// (trial -> committing, `update.committed`, older releases pruned to two). If it exits,
// hangs or never commits, the launcher (systemd/loa-launch, which does not depend on the
// new version) switches back and leaves OTA/rolledback; whichever version runs next
// reports it as `update.rolledback`. Each of these events is emitted once per command id
// across kill -9 (emitOnce: the outbox row and a meta row in one transaction). At start,
// what the OTA directory holds is mapped to a plan and a state by startPlan.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TimerHandle } from '../adapters/clock.js';
import type { EventFields } from '../../contract/events.js';
import type { CommandDoc } from '../../contract/command-doc.js';
import type { ReleaseFiles, Kv } from '../adapters/release-files.js';
import type { UpdateState } from '../../contract/telemetry.js';
import {
  DEFAULT_FAILURE,
  RESUME_JOB,
  acceptUpdate,
  nextUpdateState,
  startPlan,
  type UpdateEventName,
  type UpdateStateName,
} from '../domain/update-machine.js';
import type { CommandOutcome } from './commands.js';
import {
  JobError,
  fetchDelta,
  fetchFull,
  installRelease,
  spaceCheck,
  type Artifact,
  type ReleaseWork,
} from './update-install.js';
import { readOtaFiles, saveJob, type Job } from './update-job.js';
import { finishCommit, reportRollback, type TrialWork } from './update-trial.js';

const QUIET_POLL_MS = 2_000;

export interface UpdaterDeps extends Omit<ReleaseWork, 'files'>, TrialWork {
  /** Null when the agent was not started by the launcher: nothing would roll back a bad release. */
  files: ReleaseFiles | null;
  /** Why now is not a quiet window, or null when it is. */
  busy(): string | null;
  /** Exit so the service manager starts the agent again (into `current`); null: unsupported. */
  restart: (() => void) | null;
  /** The update state changed (birth and heartbeat carry it). */
  onChange(): void;
  /** The MQTT connection must hold this long after the trial version's birth before it commits (config update.commitAfterS). */
  commitAfterMs: number;
  /** Is the MQTT link up, has the scheduler ticked (the trial's commit conditions). */
  linkUp(): boolean;
  schedulerTicked(): boolean;
}

/** Debian's name for this machine's architecture (the release artifacts are named by it). */
export function debianArch(nodeArch: string = process.arch): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'armhf', ia32: 'i386' } as Record<string, string>)[nodeArch] ?? nodeArch;
}

export class Updater {
  /** Where the update is in the table (update-machine.ts). */
  private at: UpdateStateName = 'idle';
  private job: Job | null = null;
  /** From fetch to install (a resumed install fetches again: the cache has it). */
  private artifact: Artifact | null = null;
  /** The delta was tried and did not do: the full artifact (the table's `retry`). */
  private fullOnly = false;
  private running: Promise<void> | null = null;
  private trial: { id: string; version: string; previous: string; at: string } | null = null;
  private commitTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly d: UpdaterDeps) {}

  /** Birth and heartbeat's `update`. */
  state(): UpdateState {
    if (this.trial)
      return { trial: { version: this.trial.version, previous: this.trial.previous, since: this.trial.at } };
    if (this.job) return { pending: { version: this.job.args.version, state: this.job.state } };
    return null;
  }

  /** At start: the plan for what the OTA directory holds (report a rollback, finish a commit, take up a trial, resume a job). */
  start(): void {
    const f = this.d.files;
    if (!f) return;
    try {
      mkdirSync(f.p.ota, { recursive: true });
      const { rolledback, committing, trial, jobText, job, found } = readOtaFiles(f, this.d.version);
      const plan = startPlan(found);
      // Before the steps: a resumed job's effects start at once, in the state the plan names.
      this.at = plan.state;
      for (const step of plan.steps) {
        if (step === 'report-rollback') reportRollback(this.d, f, rolledback!);
        else if (step === 'finish-commit') this.committed(f, committing!);
        else if (step === 'drop-committing') f.remove('committing');
        else if (step === 'take-trial') this.takeTrial(f, trial!);
        else if (step === 'drop-trial') f.remove('trial');
        else if (step === 'restart') {
          this.d.log.warn(
            { version: trial!.version, cmdId: trial!.id },
            'current was switched to the trial but this version still runs: restarting into it',
          );
          this.d.restart?.();
        } else this.resume(job!);
      }
      if (jobText !== null && !job && !plan.steps.includes('take-trial')) {
        this.d.log.error({ code: 'OTA_STATE', text: jobText.slice(0, 200) }, 'update job unreadable; dropped');
        f.remove('job.json');
      }
    } catch (err) {
      this.d.log.error({ code: 'OTA_STATE', err }, 'update state unreadable; updates are left alone');
    }
  }

  stop(): void {
    this.stopped = true;
    this.d.clock.clearTimeout(this.commitTimer);
  }

  /** The running version's birth was acknowledged: a trial commits once the link has held. */
  noteBirth(): void {
    if (!this.trial || this.commitTimer !== undefined) return;
    this.commitTimer = this.d.clock.setTimeout(() => {
      this.commitTimer = undefined;
      if (!this.trial || this.stopped) return;
      if (this.d.linkUp() && this.d.schedulerTicked()) this.commit();
      // Otherwise the next birth (after a reconnection) tries again.
    }, this.d.commitAfterMs);
  }

  /** The `update` command: checks that need no download, then a job; progress comes as events. */
  accept(doc: Extract<CommandDoc, { action: 'update' }>): CommandOutcome {
    const { files: f, log } = this.d;
    const a = doc.args;
    if (!f || !this.d.restart)
      return {
        ok: false,
        code: 'unsupported',
        message:
          'the agent was not started by loa-launch under a service manager: nothing would roll back a bad release',
      };
    if (!f.switchable())
      return {
        ok: false,
        code: 'unsupported',
        message: `${f.p.root}/current is not a symlink: this box was installed without releases/ (run systemd/install.sh of a release once)`,
      };
    const check = acceptUpdate({
      state: this.at,
      running: this.d.version,
      arch: this.d.arch,
      args: a,
      ...(this.trial ? { trialVersion: this.trial.version } : {}),
      ...(this.job ? { job: { version: this.job.args.version, cmdId: this.job.cmdId, state: this.job.state } } : {}),
    });
    if (check?.ok) return { ok: true, result: { version: a.version, state: 'running' } };
    if (check) return check;
    const space = spaceCheck(this.work(f), a);
    if (space) return { ok: false, code: 'no-space', message: space };
    const job: Job = { cmdId: doc.id, args: a, expiresAt: doc.expiresAt, previous: this.d.version, state: 'fetch' };
    saveJob(f, job);
    this.job = job;
    this.at = nextUpdateState(this.at, 'accept');
    this.fullOnly = false;
    log.info(
      { cmdId: doc.id, version: a.version, bytes: a.bytes, delta: a.delta?.from === this.d.version },
      'update accepted',
    );
    this.kick();
    this.d.onChange();
    return { ok: true, result: { version: a.version, state: 'queued', from: this.d.version } };
  }

  /** Resolves when the job in progress (if any) has ended or is waiting for the restart (tests). */
  async idle(): Promise<void> {
    await this.running;
  }

  private work(f: ReleaseFiles): ReleaseWork {
    return { ...this.d, files: f };
  }

  private takeTrial(f: ReleaseFiles, t: Kv): void {
    this.trial = {
      id: t.id ?? '',
      version: t.version ?? this.d.version,
      previous: t.previous ?? '',
      at: t.at ?? new Date(this.d.clock.now()).toISOString(),
    };
    f.remove('job.json');
    this.d.log.warn(
      { version: this.d.version, previous: this.trial.previous, cmdId: this.trial.id },
      'on trial: commits once birth, scheduler and MQTT are healthy',
    );
  }

  private resume(job: Job): void {
    this.d.log.warn(
      { cmdId: job.cmdId, version: job.args.version, phase: job.state },
      'resuming the update interrupted by a restart',
    );
    this.job = { ...job, state: RESUME_JOB[job.state] };
    this.fullOnly = false;
    this.kick();
  }

  private kick(): void {
    if (this.running || !this.job || this.stopped) return;
    const job = this.job;
    this.running = this.drive(job).finally(() => {
      this.running = null;
    });
  }

  /** Runs the effect of each state and moves on by the table, until the restart, a failure or a stop. */
  private async drive(job: Job): Promise<void> {
    const f = this.d.files!;
    for (;;) {
      const s = this.at;
      if (s !== 'fetch' && s !== 'install' && s !== 'wait' && s !== 'switch') return;
      let event: UpdateEventName;
      try {
        event = await this.effect(s, f, job);
        if (this.stopped && s === 'fetch') return;
        this.enter(f, job, nextUpdateState(s, event));
      } catch (err) {
        if (this.stopped) return;
        const reason = err instanceof JobError ? err.reason : DEFAULT_FAILURE[job.state];
        this.at = nextUpdateState(s, 'error');
        this.fail(f, job, reason, (err as Error).message);
        return;
      }
      if (this.stopped) return;
    }
  }

  private async effect(
    s: 'fetch' | 'install' | 'wait' | 'switch',
    f: ReleaseFiles,
    job: Job,
  ): Promise<UpdateEventName> {
    const v = job.args.version;
    if (s === 'fetch') {
      if (!this.fullOnly) {
        this.d.emitOnce(`${job.cmdId}:started`, 'update.started', {
          cmdId: job.cmdId,
          version: v,
          from: job.previous,
          bytes: job.args.bytes,
          delta: job.args.delta?.from === this.d.version,
        });
        // Make room only now that the update is accepted: every release but the running one may go.
        for (const r of f.releases()) if (r !== this.d.version && !f.packaged(r)) await f.removeRelease(r);
        const delta = await fetchDelta(this.work(f), job.args, job.expiresAt);
        if (delta === 'retry') {
          this.fullOnly = true;
          return 'retry';
        }
        if (delta) return this.fetched(delta);
      }
      return this.fetched(await fetchFull(this.work(f), job.args, job.expiresAt));
    }
    if (s === 'install') {
      await installRelease(this.work(f), job.args, this.artifact!);
      return 'installed';
    }
    if (s === 'wait') {
      if (!existsSync(join(f.dir(v), 'dist/agent/main.js')))
        throw new JobError('unpack', `releases/${v} vanished before the switch`);
      await this.waitQuiet(job);
      return 'quiet';
    }
    this.switchTo(f, job);
    return 'switched';
  }

  private fetched(a: Artifact): UpdateEventName {
    this.artifact = a;
    return 'fetched';
  }

  /** Entering a state: the job's states are written by name before their effect runs. */
  private enter(f: ReleaseFiles, job: Job, next: UpdateStateName): void {
    this.at = next;
    if (next === 'install') {
      job.state = 'install';
      saveJob(f, job);
    } else if (next === 'wait') {
      job.state = 'wait';
      job.waitUntil = this.d.clock.now() + job.args.waitS * 1000;
      saveJob(f, job);
      this.d.onChange();
    }
  }

  private async waitQuiet(job: Job): Promise<void> {
    let logged = false;
    for (;;) {
      if (this.stopped) return;
      const why = this.d.busy();
      if (why === null) return;
      if (this.d.clock.now() > (job.waitUntil ?? 0))
        throw new JobError('no-quiet-window', `no quiet window within ${job.args.waitS} s (last: ${why})`);
      if (!logged) this.d.log.info({ version: job.args.version, why }, 'update waits for a quiet window');
      logged = true;
      await new Promise<void>((r) => this.d.clock.setTimeout(r, QUIET_POLL_MS));
    }
  }

  private switchTo(f: ReleaseFiles, job: Job): void {
    const v = job.args.version;
    const at = new Date(this.d.clock.now()).toISOString();
    // The trial first: a kill between the two leaves a trial the launcher ignores (current is old).
    f.remove('trial.starts', 'trial.log');
    f.writeKv('trial', { id: job.cmdId, version: v, previous: this.d.version, deadlineS: String(job.args.trialS), at });
    f.switchTo(v);
    this.d.emitOnce(`${job.cmdId}:installed`, 'update.installed', {
      cmdId: job.cmdId,
      version: v,
      previous: this.d.version,
    });
    f.remove('job.json');
    // The job is done here: a birth published while stopping must not say it is pending.
    this.job = null;
    this.d.log.warn(
      { cmdId: job.cmdId, version: v, previous: this.d.version },
      'switched to the new release; restarting into it',
    );
    this.d.restart?.();
  }

  private fail(f: ReleaseFiles, job: Job, reason: EventFields['update.failed']['reason'], message: string): void {
    const v = job.args.version;
    this.d.log.error(
      { code: 'OTA_FAILED', cmdId: job.cmdId, version: v, reason, message },
      'update failed; the running release stays',
    );
    this.d.emitOnce(`${job.cmdId}:failed`, 'update.failed', {
      cmdId: job.cmdId,
      version: v,
      reason,
      message: message.slice(0, 500),
    });
    f.remove('job.json');
    this.job = null;
    this.artifact = null;
    this.at = nextUpdateState(this.at, 'done');
    if (f.current() !== v) {
      void f.removeRelease(`${v}.partial`);
      void f.removeRelease(`${v}.tar`);
      void f.removeRelease(`${v}.tar.gz`);
      if (!f.packaged(v)) void f.removeRelease(v);
    }
    this.d.onChange();
  }

  private commit(): void {
    const f = this.d.files!;
    const t = this.trial!;
    try {
      f.rename('trial', 'committing');
    } catch (err) {
      this.d.log.error(
        { code: 'OTA_STATE', err },
        'trial could not be committed; the launcher will roll back at the next start',
      );
      return;
    }
    this.at = nextUpdateState(this.at, 'healthy');
    this.committed(f, { id: t.id, version: t.version, previous: t.previous, at: t.at });
    this.at = nextUpdateState(this.at, 'done');
  }

  private committed(f: ReleaseFiles, c: Kv): void {
    finishCommit(this.d, f, c);
    this.trial = null;
    this.d.onChange();
  }
}
