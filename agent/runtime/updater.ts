// Over-the-air updates on the box (issue [5/8]; docs/ota.md). A signed `update` command
// (release key only) becomes a job that survives restarts (OTA/job.json):
//
//   fetch    the artifact through the media cache (resume, sha256), or a delta from the
//            running release (zstd --patch-from) that falls back to the full artifact;
//   install  unpacked beside the running release into releases/<v>.partial, its version
//            and architecture checked, its own `--check-config` run on the live config,
//            then renamed to releases/<v>;
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
// across kill -9 (emitOnce: the outbox row and a meta row in one transaction).
import { copyFile, mkdir, rename } from 'node:fs/promises';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../adapters/clock.js';
import type { Logger } from '../log.js';
import type { EventFields } from '../../contract/events.js';
import type { MediaRef } from '../../contract/schedule-doc.js';
import type { CommandDoc, UpdateArgs } from '../../contract/command-doc.js';
import { ReleaseFiles, run } from '../adapters/release-files.js';
import { checkTarMembers } from '../adapters/tar-members.js';
import { downgradeRefusal } from '../../contract/versions.js';
import type { UpdateState } from '../../contract/telemetry.js';
import type { CommandOutcome } from './commands.js';

/** Kept free beyond what an update needs, so the database and the cache can still write. */
export const RESERVE_BYTES = 32 * 1024 * 1024;
const QUIET_POLL_MS = 2_000;
const CHECK_CONFIG_TIMEOUT_MS = 90_000;
const UNPACK_TIMEOUT_MS = 10 * 60_000;

type Phase = 'fetch' | 'install' | 'wait';
interface Job {
  cmdId: string;
  args: UpdateArgs;
  expiresAt: string;
  previous: string;
  phase: Phase;
  /** Wall-clock ms until which the quiet window may be awaited (set when installed). */
  waitUntil?: number;
}

export interface UpdaterDeps {
  /** Null when the agent was not started by the launcher: nothing would roll back a bad release. */
  files: ReleaseFiles | null;
  clock: Clock;
  log: Logger;
  /** Emit an event at most once per key, across restarts. */
  emitOnce<T extends keyof EventFields>(key: string, type: T, fields: EventFields[T]): void;
  /** Fetch and verify through the media cache until `untilMs`; the paths, or null. */
  fetch(media: readonly MediaRef[], untilMs: number): Promise<string[] | null>;
  /** Why now is not a quiet window, or null when it is. */
  busy(): string | null;
  version: string;
  arch: string;
  node: string;
  configPath: string | null;
  cacheDir: string;
  cacheQuotaBytes: number;
  /** Exit so the service manager starts the agent again (into `current`); null: unsupported. */
  restart: (() => void) | null;
  /** Apply a zstd delta (contract/release-delta.ts); absent: deltas are not used. */
  applyDelta?: (o: {
    baseTarGz: string;
    deltaPath: string;
    outTar: string;
    expectTarSha256: string;
    maxBytes: number;
  }) => Promise<void>;
  /** The update state changed (birth and heartbeat carry it). */
  onChange(): void;
  /** The MQTT connection must hold this long after the trial version's birth before it commits (config update.commitAfterS). */
  commitAfterMs: number;
  /** After a commit, the window and the count of abnormal ends that roll it back (the launcher judges them). */
  probation?: { seconds: number; exits: number };
  /** Is the MQTT link up, has the scheduler ticked (the trial's commit conditions). */
  linkUp(): boolean;
  schedulerTicked(): boolean;
}

/** Debian's name for this machine's architecture (the release artifacts are named by it). */
export function debianArch(nodeArch: string = process.arch): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'armhf', ia32: 'i386' } as Record<string, string>)[nodeArch] ?? nodeArch;
}

export class Updater {
  private job: Job | null = null;
  private running: Promise<void> | null = null;
  private trial: { id: string; version: string; previous: string; at: string } | null = null;
  private commitTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly d: UpdaterDeps) {}

  /** Birth and heartbeat's `update`. */
  state(): UpdateState {
    if (this.trial)
      return { trial: { version: this.trial.version, previous: this.trial.previous, since: this.trial.at } };
    if (this.job) return { pending: { version: this.job.args.version, state: this.job.phase } };
    return null;
  }

  /** At start: report a rollback, finish a commit, take up a trial, resume a job. */
  start(): void {
    const f = this.d.files;
    if (!f) return;
    try {
      mkdirSync(f.p.ota, { recursive: true });
      this.reportRollback(f);
      const committing = f.readKv('committing');
      if (committing && committing.version === this.d.version) this.finishCommit(f, committing);
      else if (committing) f.remove('committing');
      const trial = f.readKv('trial');
      if (trial?.version === this.d.version && f.current() === this.d.version) {
        this.trial = {
          id: trial.id ?? '',
          version: trial.version,
          previous: trial.previous ?? '',
          at: trial.at ?? new Date(this.d.clock.now()).toISOString(),
        };
        f.remove('job.json');
        this.d.log.warn(
          { version: this.d.version, previous: this.trial.previous, cmdId: this.trial.id },
          'on trial: commits once birth, scheduler and MQTT are healthy',
        );
        return;
      }
      const job = this.readJob(f);
      // A trial the switch never followed (killed in between): the job redoes the switch.
      if (trial && !job) f.remove('trial');
      if (job) {
        this.job = job;
        this.d.log.warn(
          { cmdId: job.cmdId, version: job.args.version, phase: job.phase },
          'resuming the update interrupted by a restart',
        );
        this.kick();
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
    if (a.arch && a.arch !== this.d.arch)
      return { ok: false, code: 'invalid', message: `the release is for ${a.arch}; this box is ${this.d.arch}` };
    if (a.version === this.d.version) return { ok: true, result: { version: a.version, state: 'running' } };
    // Anti-rollback: an older release (a known bug, a known hole) only when the centre says so.
    const older = downgradeRefusal(a.version, this.d.version, a.allowDowngrade === true);
    if (older) return { ok: false, code: 'invalid', message: older };
    if (this.trial)
      return {
        ok: false,
        code: 'busy',
        message: `version ${this.trial.version} is on trial; try again once it committed or rolled back`,
      };
    if (this.job)
      return {
        ok: false,
        code: 'busy',
        message: `the update to ${this.job.args.version} (command ${this.job.cmdId}) is in progress (${this.job.phase})`,
      };
    const space = this.spaceCheck(f, a);
    if (space) return { ok: false, code: 'no-space', message: space };
    const job: Job = { cmdId: doc.id, args: a, expiresAt: doc.expiresAt, previous: this.d.version, phase: 'fetch' };
    this.saveJob(f, job);
    this.job = job;
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

  /**
   * Refused before anything is removed when it cannot fit: the artifact in the cache, and
   * the unpacked release beside the running one once every other release (except one
   * dpkg installed) is gone.
   */
  private spaceCheck(f: ReleaseFiles, a: UpdateArgs): string | null {
    const installed = a.installedBytes ?? 5 * a.bytes;
    if (a.bytes > this.d.cacheQuotaBytes)
      return `the artifact (${mb(a.bytes)}) is larger than the media cache's quota (${mb(this.d.cacheQuotaBytes)})`;
    const removable = f.releases().filter((v) => v !== this.d.version && !f.packaged(v));
    const freed = removable.reduce((n, v) => n + f.size(v), 0);
    const rootFree = ReleaseFiles.freeBytes(f.releasesDir);
    const cacheFree = ReleaseFiles.freeBytes(this.d.cacheDir);
    const sameFs = statSync(f.releasesDir).dev === statSync(this.d.cacheDir).dev;
    const need = installed + RESERVE_BYTES + (sameFs ? a.bytes : 0);
    if (rootFree + freed < need) {
      return `needs ${mb(need)} on ${f.releasesDir} (release ${mb(installed)}${sameFs ? ` + artifact ${mb(a.bytes)}` : ''} + reserve ${mb(RESERVE_BYTES)}); free ${mb(rootFree)}, and ${mb(freed)} more once ${removable.length ? removable.join(', ') : 'no other release'} removed`;
    }
    if (!sameFs && cacheFree < a.bytes + RESERVE_BYTES)
      return `needs ${mb(a.bytes + RESERVE_BYTES)} in the cache (${this.d.cacheDir}); free ${mb(cacheFree)}`;
    return null;
  }

  private kick(): void {
    if (this.running || !this.job || this.stopped) return;
    const job = this.job;
    this.running = this.runJob(job).finally(() => {
      this.running = null;
    });
  }

  private async runJob(job: Job): Promise<void> {
    const f = this.d.files!;
    const v = job.args.version;
    const phaseReason = { fetch: 'download', install: 'unpack', wait: 'no-quiet-window' } as const;
    try {
      if (job.phase === 'fetch') {
        this.d.emitOnce(`${job.cmdId}:started`, 'update.started', {
          cmdId: job.cmdId,
          version: v,
          from: job.previous,
          bytes: job.args.bytes,
          delta: job.args.delta?.from === this.d.version,
        });
        // Make room only now that the update is accepted: every release but the running one may go.
        for (const r of f.releases()) if (r !== this.d.version && !f.packaged(r)) await f.removeRelease(r);
        const artifact = await this.fetchArtifact(job);
        if (this.stopped) return;
        await this.install(f, job, artifact);
        job.phase = 'wait';
        job.waitUntil = this.d.clock.now() + job.args.waitS * 1000;
        this.saveJob(f, job);
        this.d.onChange();
      } else if (job.phase === 'install') {
        job.phase = 'fetch';
        return await this.runJob(job);
      }
      if (!existsSync(join(f.dir(v), 'dist/agent/main.js')))
        throw new JobError('unpack', `releases/${v} vanished before the switch`);
      await this.waitQuiet(job);
      if (this.stopped) return;
      this.switchTo(f, job);
    } catch (err) {
      if (this.stopped) return;
      const reason = err instanceof JobError ? err.reason : phaseReason[job.phase];
      this.fail(f, job, reason, (err as Error).message);
    }
  }

  /** The full artifact, or the delta from the running release when offered and it verifies. */
  private async fetchArtifact(job: Job): Promise<{ path: string; tar: boolean }> {
    const a = job.args;
    const until = Date.parse(job.expiresAt);
    const f = this.d.files!;
    const base = join(f.dir(this.d.version), '.artifact.tar.gz');
    if (a.delta && a.delta.from === this.d.version && a.tarSha256 && this.d.applyDelta && existsSync(base)) {
      const [delta] =
        (await this.d.fetch(
          [{ id: `release-delta-${a.version}`, url: a.delta.url, sha256: a.delta.sha256, bytes: a.delta.bytes }],
          until,
        )) ?? [];
      if (delta) {
        const out = join(f.releasesDir, `${a.version}.tar`);
        try {
          await this.d.applyDelta({
            baseTarGz: base,
            deltaPath: delta,
            outTar: out,
            expectTarSha256: a.tarSha256,
            maxBytes: unpackedCap(a),
          });
          this.d.log.info(
            { version: a.version, deltaBytes: a.delta.bytes, fullBytes: a.bytes },
            'release rebuilt from the delta',
          );
          return { path: out, tar: true };
        } catch (err) {
          this.d.log.warn(
            { code: 'OTA_DELTA', err: (err as Error).message },
            'delta did not verify; downloading the full release',
          );
        }
      } else this.d.log.warn({ code: 'OTA_DELTA' }, 'delta not downloaded; trying the full release');
    }
    const [path] =
      (await this.d.fetch([{ id: `release-${a.version}`, url: a.url, sha256: a.sha256, bytes: a.bytes }], until)) ?? [];
    if (!path)
      throw new JobError(
        'download',
        `release ${a.version} was not downloaded and verified before the command expired (${job.expiresAt})`,
      );
    return { path, tar: false };
  }

  private async install(f: ReleaseFiles, job: Job, artifact: { path: string; tar: boolean }): Promise<void> {
    const v = job.args.version;
    const partial = `${v}.partial`;
    job.phase = 'install';
    this.saveJob(f, job);
    await f.removeRelease(partial);
    const dir = join(f.releasesDir, partial);
    await mkdir(dir, { recursive: true });
    try {
      // Every member checked before tar writes anything (adapters/tar-members.ts).
      await checkTarMembers(artifact.path, { gzip: !artifact.tar, maxBytes: unpackedCap(job.args) });
    } catch (err) {
      throw new JobError('verify', `the release archive is refused: ${(err as Error).message}`);
    }
    try {
      await run('tar', ['-xf', artifact.path, '-C', dir, '--strip-components=1', '--no-same-owner'], {
        timeoutMs: UNPACK_TIMEOUT_MS,
        nice: true,
      });
    } catch (err) {
      throw new JobError('unpack', `unpacking the release: ${(err as Error).message}`);
    }
    const pkg = readJson(join(dir, 'package.json'));
    if (pkg?.version !== v)
      throw new JobError('verify', `the artifact holds version ${JSON.stringify(pkg?.version ?? null)}, not ${v}`);
    const rel = readJson(join(dir, 'RELEASE.json'));
    // No arch is no check: a release must say what it was built for.
    if (typeof rel?.arch !== 'string')
      throw new JobError(
        'verify',
        "the artifact's RELEASE.json names no arch: refused (a release built for another machine would be committed)",
      );
    if (rel.arch !== this.d.arch)
      throw new JobError('verify', `the artifact is built for ${String(rel.arch)}; this box is ${this.d.arch}`);
    if (!existsSync(join(dir, 'dist/agent/main.js')))
      throw new JobError('verify', 'the artifact has no dist/agent/main.js');
    if (this.d.configPath) {
      try {
        await run(this.d.node, [join(dir, 'dist/agent/main.js'), '--check-config', '--config', this.d.configPath], {
          timeoutMs: CHECK_CONFIG_TIMEOUT_MS,
          nice: true,
        });
      } catch (err) {
        throw new JobError(
          'check-config',
          `version ${v} refuses this box's configuration or does not load: ${(err as Error).message}`,
        );
      }
    }
    // The base a later delta is applied to (the artifact itself, or the rebuilt tar, compressed).
    if (!artifact.tar) await copyFile(artifact.path, join(dir, '.artifact.tar.gz'));
    else {
      await run('gzip', ['-n', '-1', '-f', artifact.path], { timeoutMs: UNPACK_TIMEOUT_MS, nice: true });
      await rename(`${artifact.path}.gz`, join(dir, '.artifact.tar.gz'));
    }
    await f.removeRelease(v);
    await rename(dir, f.dir(v));
    this.d.log.info({ version: v }, 'release unpacked and checked');
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
    this.finishCommit(f, { id: t.id, version: t.version, previous: t.previous, at: t.at });
  }

  private finishCommit(f: ReleaseFiles, c: Record<string, string>): void {
    const id = c.id ?? '';
    const trialMs = c.at ? Math.max(0, this.d.clock.now() - Date.parse(c.at)) : 0;
    this.d.emitOnce(`${id}:committed`, 'update.committed', {
      cmdId: id,
      version: c.version ?? this.d.version,
      previous: c.previous ?? '',
      trialMs,
    });
    // Probation (docs/ota.md §3): written before `committing` goes, so a kill in between
    // redoes it; the launcher rolls back a version that then keeps dying.
    const p = this.d.probation;
    f.remove('probation.starts', 'clean');
    if (p && p.seconds > 0 && c.previous) {
      const until = String(Math.floor(this.d.clock.now() / 1000) + p.seconds);
      f.writeKv('probation', {
        id,
        version: c.version ?? this.d.version,
        previous: c.previous,
        until,
        limit: String(p.exits),
        boot: bootId(),
      });
    } else f.remove('probation');
    f.remove('committing', 'trial.starts', 'trial.log');
    this.trial = null;
    // Two releases kept: this one and its rollback target (and whatever dpkg installed).
    for (const r of f.releases())
      if (r !== this.d.version && r !== c.previous && !f.packaged(r)) void f.removeRelease(r);
    this.d.log.info({ version: this.d.version, previous: c.previous, trialMs }, 'update committed');
    this.d.onChange();
  }

  private reportRollback(f: ReleaseFiles): void {
    const rb = f.readKv('rolledback');
    if (!rb) return;
    const logTail = (f.readText('rolledback.log') ?? '')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-40)
      .map((l) => l.slice(0, 300));
    const reason = rb.reason ?? 'exited';
    // Keyed by the file's own id and time: a rollback without a trial (`missing`, empty id) is reported too.
    this.d.emitOnce(`${rb.id ?? ''}:${rb.version ?? ''}:${rb.at ?? ''}:rolledback`, 'update.rolledback', {
      cmdId: rb.id ?? '',
      version: rb.version ?? '',
      previous: rb.previous ?? '',
      reason,
      detail: rb.detail ?? '',
      logTail,
    });
    this.d.log.error(
      { code: 'OTA_ROLLED_BACK', version: rb.version, previous: rb.previous, reason, detail: rb.detail },
      'the launcher rolled back a release that did not commit',
    );
    f.remove('rolledback', 'rolledback.log', 'job.json');
    if (rb.version && rb.version !== this.d.version && f.current() !== rb.version && !f.packaged(rb.version))
      f.removeReleaseSync(rb.version);
  }

  private readJob(f: ReleaseFiles): Job | null {
    const text = f.readText('job.json');
    if (text === null) return null;
    try {
      const job = JSON.parse(text) as Job;
      if (job && typeof job.cmdId === 'string' && job.args?.version) return job;
    } catch {
      // a torn file cannot happen (atomic writes); a hand-edited one is dropped below
    }
    this.d.log.error({ code: 'OTA_STATE', text: text.slice(0, 200) }, 'update job unreadable; dropped');
    f.remove('job.json');
    return null;
  }

  private saveJob(f: ReleaseFiles, job: Job): void {
    f.writeText('job.json', JSON.stringify(job));
  }
}

class JobError extends Error {
  constructor(
    readonly reason: EventFields['update.failed']['reason'],
    message: string,
  ) {
    super(message);
  }
}

function readJson(path: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

/**
 * The most bytes a release may unpack to (its tar, or the sum of its members): the
 * manifest's installedBytes (default 5x the artifact) with a quarter and 16 MiB of margin
 * for tar headers and du's rounding. Past it, unpacking or a delta stops before writing on.
 */
export function unpackedCap(a: { bytes: number; installedBytes?: number }): number {
  return Math.ceil((a.installedBytes ?? a.bytes * 5) * 1.25) + 16 * 1024 * 1024;
}

/** This boot's id (the launcher tells a reboot from a crash by it). */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}
