// The end of an update's trial (agent/domain/update-machine.ts; docs/ota.md §2-3): the
// commit of the version on trial (`update.committed` once, its probation written for the
// launcher, older releases pruned to two) and the report of a rollback the launcher made
// while no agent ran (`update.rolledback` once, with the last lines of the run it ended).
// runtime/updater.ts calls them from the `committing` and `rolledback` states.
import { readFileSync } from 'node:fs';
import type { Clock } from '../adapters/clock.js';
import type { Logger } from '../log.js';
import type { EventFields } from '../../contract/events.js';
import type { Kv, ReleaseFiles } from '../adapters/release-files.js';

/** What the trial's end needs (a part of UpdaterDeps). */
export interface TrialWork {
  clock: Clock;
  log: Logger;
  version: string;
  /** Emit an event at most once per key, across restarts. */
  emitOnce<T extends keyof EventFields>(key: string, type: T, fields: EventFields[T]): void;
  /** After a commit, the window and the count of abnormal ends that roll it back (the launcher judges them). */
  probation?: { seconds: number; exits: number };
}

/** OTA/committing (or the trial just renamed to it) carried to its end; a kill at any step redoes it. */
export function finishCommit(d: TrialWork, f: ReleaseFiles, c: Kv): void {
  const id = c.id ?? '';
  const trialMs = c.at ? Math.max(0, d.clock.now() - Date.parse(c.at)) : 0;
  d.emitOnce(`${id}:committed`, 'update.committed', {
    cmdId: id,
    version: c.version ?? d.version,
    previous: c.previous ?? '',
    trialMs,
  });
  // Probation (docs/ota.md §3): written before `committing` goes, so a kill in between
  // redoes it; the launcher rolls back a version that then keeps dying.
  const p = d.probation;
  f.remove('probation.starts', 'clean');
  if (p && p.seconds > 0 && c.previous) {
    const until = String(Math.floor(d.clock.now() / 1000) + p.seconds);
    f.writeKv('probation', {
      id,
      version: c.version ?? d.version,
      previous: c.previous,
      until,
      limit: String(p.exits),
      boot: bootId(),
    });
  } else f.remove('probation');
  f.remove('committing', 'trial.starts', 'trial.log');
  // Two releases kept: this one and its rollback target (and whatever dpkg installed).
  for (const r of f.releases()) if (r !== d.version && r !== c.previous && !f.packaged(r)) void f.removeRelease(r);
  d.log.info({ version: d.version, previous: c.previous, trialMs }, 'update committed');
}

/** OTA/rolledback reported once; the job it ended and the release it left are removed. */
export function reportRollback(d: TrialWork, f: ReleaseFiles, rb: Kv): void {
  const logTail = (f.readText('rolledback.log') ?? '')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-40)
    .map((l) => l.slice(0, 300));
  const reason = rb.reason ?? 'exited';
  // Keyed by the file's own id and time: a rollback without a trial (`missing`, empty id) is reported too.
  d.emitOnce(`${rb.id ?? ''}:${rb.version ?? ''}:${rb.at ?? ''}:rolledback`, 'update.rolledback', {
    cmdId: rb.id ?? '',
    version: rb.version ?? '',
    previous: rb.previous ?? '',
    reason,
    detail: rb.detail ?? '',
    logTail,
  });
  d.log.error(
    { code: 'OTA_ROLLED_BACK', version: rb.version, previous: rb.previous, reason, detail: rb.detail },
    'the launcher rolled back a release that did not commit',
  );
  f.remove('rolledback', 'rolledback.log', 'job.json');
  if (rb.version && rb.version !== d.version && f.current() !== rb.version && !f.packaged(rb.version))
    f.removeReleaseSync(rb.version);
}

/** This boot's id (the launcher tells a reboot from a crash by it). */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}
