// The launcher tests' rig: systemd/loa-launch, the real script, over a release tree in a
// temp ROOT whose agents are tiny node scripts (test/helpers/release-tree.ts), restarted
// after each exit by a stand-in for systemd's Restart=always with KillMode=control-group
// (test/helpers/supervisor.ts). Used by launcher.test.ts (trial starts),
// launcher-recovery.test.ts (rollbacks cut short by kill -9) and launcher-probation.test.ts.
//
// Needs Linux (/proc), /bin/sh, awk, mkfifo: skips with the reason elsewhere, fails under CI=true.
import { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { groupMembers, startSupervised, type Supervised } from '../helpers/supervisor.js';
import { until } from '../helpers/wait.js';
import {
  LAUNCHER,
  currentTarget,
  readKv,
  releaseTree,
  switchCurrent,
  writeRelease,
  writeTrial,
  mains,
  type ReleaseTree,
} from '../helpers/release-tree.js';

export const A = '1.1.0';
export const B = '1.2.0';
export const CONFIG_ARGS = ['--config', '/etc/loa/agent.json'];

const missing =
  process.platform !== 'linux'
    ? 'needs Linux (/proc, mkfifo)'
    : spawnSync('/bin/sh', ['-c', 'command -v awk && command -v mkfifo && command -v mv'], { stdio: 'ignore' })
          .status !== 0
      ? '/bin/sh with awk, mkfifo and mv needed'
      : null;
if (missing && process.env.CI === 'true') throw new Error(missing);
export const skip = missing ?? false;

export const timing = (k: string, v: string) => process.stdout.write(`# timing: ${k}: ${v}\n`);

export function launch(t: TestContext, tree: ReleaseTree, env: NodeJS.ProcessEnv = {}, args = CONFIG_ARGS): Supervised {
  const s = startSupervised({
    cmd: '/bin/sh',
    args: [LAUNCHER, ...args],
    env: { ...tree.env, ...env },
    restartDelayMs: 200,
  });
  t.after(() => s.stop());
  return s;
}

/** Old version A running, B installed and switched to, on trial (as the agent leaves it). */
export function onTrial(tag: string, bMain: string | null, deadlineS = 60): ReleaseTree {
  const tree = releaseTree(tag);
  writeRelease(tree, A, mains.runs(A));
  writeRelease(tree, B, bMain);
  writeTrial(tree, { id: 'cmd-7', version: B, previous: A, deadlineS });
  switchCurrent(tree, B);
  return tree;
}

export function assertRolledBack(
  tree: ReleaseTree,
  reason: string | RegExp,
  detail: RegExp,
  id = 'cmd-7',
): Record<string, string> {
  const rb = readKv(join(tree.ota, 'rolledback'));
  assert.ok(rb, 'OTA/rolledback written');
  assert.equal(rb.id, id);
  assert.equal(rb.version, B);
  assert.equal(rb.previous, A);
  if (typeof reason === 'string') assert.equal(rb.reason, reason);
  else assert.match(rb.reason ?? '', reason);
  assert.match(rb.detail ?? '', detail);
  assert.match(rb.at ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(currentTarget(tree), `releases/${A}`);
  assert.ok(!existsSync(join(tree.ota, 'trial')), 'trial removed');
  assert.ok(!existsSync(join(tree.ota, 'trial.starts')), 'trial.starts removed');
  assert.ok(existsSync(join(tree.ota, 'rolledback.log')), 'rolledback.log written');
  return rb;
}

export const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean);

/** The command names (comm) of the live processes of the supervised start's group. */
function groupComms(pgid: number): string[] {
  return groupMembers(pgid).flatMap((pid) => {
    try {
      return [readFileSync(`/proc/${pid}/comm`, 'utf8').trim()];
    } catch {
      return [];
    }
  });
}

/**
 * Resolves once the start's group holds no trial watcher: the watcher is the one shell of
 * the group that runs `sleep` (its looks, every 5 s or at the deadline); the log ring is
 * the other shell (and its awk) and outlives the agent.
 */
export async function noWatcher(s: Supervised, ms: number): Promise<void> {
  await until(
    () => {
      const pid = s.pid();
      if (!pid) return false;
      const comms = groupComms(pid);
      return !comms.includes('sleep') && comms.filter((c) => c === 'sh').length <= 1;
    },
    ms,
    `no trial watcher in the group\n${s.output()}`,
  );
}
