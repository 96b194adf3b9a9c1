// systemd/loa-launch finishing a rollback that was cut short (docs/ota.md "The launcher
// and rollback"): rolledback written but current not switched, kill -9 at every traced
// line of a rollback, kill -9 of the agent or its group while the watcher rolls back. The
// next start always finishes it. The rig is launcher-rig.ts's.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopGroup } from '../helpers/supervisor.js';
import { exitWithin, onLines } from '../helpers/wait.js';
import { processes } from '../helpers/ps.js';
import { LAUNCHER, currentTarget, mains, writeKv, type ReleaseTree } from '../helpers/release-tree.js';
import { A, B, CONFIG_ARGS, assertRolledBack, launch, lines, onTrial, skip } from './launcher-rig.js';

/** An instant `s` seconds before this run, as loa-launch writes them (date -u +%FT%TZ). */
const secondsAgo = (s: number) => new Date(Date.now() - s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A trial of B that already ran once (trial.starts has a line) and left its log. */
function ranOnce(tag: string): ReleaseTree {
  const tree = onTrial(tag, mains.exits(B));
  writeFileSync(join(tree.ota, 'trial.starts'), `${secondsAgo(60)} start=1 pid=1\n`);
  writeFileSync(join(tree.ota, 'trial.log'), 'one\ntwo\nthree\n');
  return tree;
}

test(
  'a rollback cut short (rolledback written, current not switched) is finished at the next start',
  { skip },
  async (t) => {
    const tree = ranOnce('launch-finish');
    const rb = {
      id: 'cmd-7',
      version: B,
      previous: A,
      reason: 'exited',
      detail: 'exited before commit (start 2)',
      at: secondsAgo(59),
    };
    writeFileSync(join(tree.ota, 'rolledback.log'), 'one\ntwo\nthree\n');
    writeKv(join(tree.ota, 'rolledback'), rb);
    const s = launch(t, tree);
    await s.waitFor(/1\.1\.0 running/, 20_000);
    assert.deepEqual(assertRolledBack(tree, 'exited', /start 2/), rb);
    assert.match(s.output(), /^loa-launch: finished the interrupted rollback of 1\.2\.0 → 1\.1\.0$/m);
  },
);

/** Where a killed rollback left things. */
function stateOf(tree: ReleaseTree): string {
  const has = (f: string) => existsSync(join(tree.ota, f));
  if (!has('trial')) return 'done';
  if (currentTarget(tree) === `releases/${A}`) return 'switched';
  if (has('rolledback')) return 'rolledback written';
  if (has('rolledback.log')) return 'log written';
  return 'untouched';
}

async function recover(t: TestContext, tree: ReleaseTree, reason: string | RegExp): Promise<void> {
  const s = launch(t, tree);
  // On a failure, every process still about the tree and where it sleeps in the kernel: a
  // year-ahead CI run (libfaketime) once saw the next start print nothing for 20 s.
  await s.waitFor(/1\.1\.0 running/, 20_000).catch((err: Error) => {
    const about = processes((l) => l.includes(tree.root) || l.includes(tree.ota) || l.includes(LAUNCHER));
    throw new Error(`${err.message}\nstate ${stateOf(tree)}; processes:\n${about}`);
  });
  await s.stop();
  assertRolledBack(tree, reason, /./);
}

test(
  'kill -9 at any line of a rollback (sh -x, killed after its n-th traced command): the next start finishes it',
  { skip },
  async (t) => {
    // How many commands a whole rollback traces before it execs the old version.
    const traceRun = async (tree: ReleaseTree, killAt: number) => {
      const p = spawn('/bin/sh', ['-x', LAUNCHER, ...CONFIG_ARGS], {
        env: { ...process.env, ...tree.env },
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
      });
      let n = 0;
      let done = false;
      let last = '';
      // Whole lines: a `+ exec …` cut across two pipe chunks was once never seen, the exec'd
      // agent never killed, and this test waited for it for good.
      onLines(p.stderr!, (line) => {
        if (done || !line.startsWith('+ ')) return;
        n++;
        last = line;
        // At the final exec (the old version starts) or at the n-th command.
        if (n >= killAt || line.startsWith('+ exec ')) {
          done = true;
          process.kill(-p.pid!, 'SIGKILL');
        }
      });
      await exitWithin(
        p,
        60_000,
        () => `the traced launcher to exit (killAt ${killAt}, ${n} commands traced, last: ${last})`,
        true,
      );
      await stopGroup(p.pid!, 1000);
      return n;
    };
    const total = await traceRun(ranOnce('launch-trace'), Infinity);
    assert.ok(total > 20, `traced ${total} commands`);
    const seen: Record<string, number> = {};
    for (let k = 1; k <= total; k += Math.max(1, Math.floor(total / 30))) {
      const tree = ranOnce('launch-kill');
      await traceRun(tree, k);
      const st = stateOf(tree);
      seen[st] = (seen[st] ?? 0) + 1;
      await recover(t, tree, 'exited');
      assert.deepEqual(lines(join(tree.ota, 'rolledback.log')), ['one', 'two', 'three'], `killed at ${k} (${st})`);
    }
    process.stdout.write(`# kill -9 points over ${total} traced commands: ${JSON.stringify(seen)}\n`);
    assert.ok(Object.keys(seen).length >= 3, `kills landed in several states: ${JSON.stringify(seen)}`);
  },
);

test(
  'kill -9 of the agent or its whole group while the watcher rolls back: the next start finishes it',
  { skip },
  async (t) => {
    const seen: Record<string, number> = {};
    for (const [i, delayMs] of [0, 10, 20, 35, 50, 70, 100, 150].entries()) {
      const tree = onTrial('launch-kill-watch', mains.hangs(B), 1);
      const p = spawn('/bin/sh', [LAUNCHER, ...CONFIG_ARGS], {
        env: { ...process.env, ...tree.env },
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
      });
      let err = '';
      await new Promise<void>((resolve) => {
        p.stderr!.on('data', (b: Buffer) => {
          err += b.toString();
          if (/not committed within/.test(err)) resolve();
        });
        p.once('exit', () => resolve());
      });
      await new Promise((r) => setTimeout(r, delayMs)); // the kill point: a stimulus, not a wait
      // The agent alone (its watcher then gets the group's SIGTERM, as from systemd), or all.
      try {
        process.kill(i % 2 ? p.pid! : -p.pid!, 'SIGKILL');
      } catch {
        /* the watcher's SIGTERM was first */
      }
      await stopGroup(p.pid!, 10_000);
      const st = stateOf(tree);
      seen[st] = (seen[st] ?? 0) + 1;
      await recover(t, tree, /^(exited|no-commit)$/);
    }
    process.stdout.write(`# kill -9 around the watcher's rollback: ${JSON.stringify(seen)}\n`);
  },
);
