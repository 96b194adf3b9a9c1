// systemd/loa-launch, the real script, over a release tree in a temp ROOT whose agents are
// tiny node scripts (test/helpers/release-tree.ts), restarted after each exit by a stand-in
// for systemd's Restart=always with KillMode=control-group (test/helpers/supervisor.ts).
// Prints the timings quoted in docs/ota.md ("The launcher and rollback").
//
// Needs Linux (/proc), /bin/sh, awk, mkfifo: skips with the reason elsewhere, fails under CI=true.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSupervised, stopGroup, type Supervised } from '../helpers/supervisor.js';
import { exitWithin, onLines, until } from '../helpers/wait.js';
import {
  LAUNCHER,
  currentTarget,
  mains,
  readKv,
  releaseTree,
  switchCurrent,
  writeKv,
  writeRelease,
  writeTrial,
  type ReleaseTree,
} from '../helpers/release-tree.js';

const A = '1.1.0';
const B = '1.2.0';
const CONFIG_ARGS = ['--config', '/etc/loa/agent.json'];

const missing =
  process.platform !== 'linux'
    ? 'needs Linux (/proc, mkfifo)'
    : spawnSync('/bin/sh', ['-c', 'command -v awk && command -v mkfifo && command -v mv'], { stdio: 'ignore' })
          .status !== 0
      ? '/bin/sh with awk, mkfifo and mv needed'
      : null;
if (missing && process.env.CI === 'true') throw new Error(missing);
const skip = missing ?? false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const timing = (k: string, v: string) => process.stdout.write(`# timing: ${k}: ${v}\n`);

function launch(t: TestContext, tree: ReleaseTree, env: NodeJS.ProcessEnv = {}, args = CONFIG_ARGS): Supervised {
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
function onTrial(tag: string, bMain: string | null, deadlineS = 60): ReleaseTree {
  const tree = releaseTree(tag);
  writeRelease(tree, A, mains.runs(A));
  writeRelease(tree, B, bMain);
  writeTrial(tree, { id: 'cmd-7', version: B, previous: A, deadlineS });
  switchCurrent(tree, B);
  return tree;
}

function assertRolledBack(
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

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean);

test(
  'a trial version that exits at start: rolled back at its second start, with its last 40 lines; the old one runs',
  { skip },
  async (t) => {
    const tree = onTrial('launch-exits', mains.exits(B, 50));
    const s = launch(t, tree);
    await s.waitFor(/1\.1\.0 running/, 20_000);
    timing('trial exits at start → old version running', `${(s.elapsedMs() / 1000).toFixed(2)} s`);
    assert.equal(s.starts(), 2, s.output());
    assert.equal(s.exits()[0]!.code, 1);
    assertRolledBack(tree, 'exited', /^exited before commit \(start 2\)$/);
    const out = [`${B} running`, ...Array.from({ length: 50 }, (_, i) => `${B} line ${i + 1}`), `${B} fails`];
    assert.deepEqual(lines(join(tree.ota, 'rolledback.log')), out.slice(-40));
    assert.deepEqual(lines(join(tree.ota, 'trial.log')), out.slice(-40));
    // Every line also passed through (to the journal), in order; the launcher's own lines too.
    assert.ok(s.output().includes(out.join('\n')), s.output());
    assert.match(
      s.output(),
      /^loa-launch: trial start of 1\.2\.0 \(start 1, commit within 60 s or back to 1\.1\.0\)$/m,
    );
    assert.match(s.output(), /^loa-launch: rolled back 1\.2\.0 → 1\.1\.0: exited before commit \(start 2\)$/m);
  },
);

test(
  'a trial version that hangs: the watcher rolls back at deadlineS, SIGTERMs it, the old one starts',
  { skip },
  async (t) => {
    const tree = onTrial('launch-hangs', mains.hangs(B), 5);
    const s = launch(t, tree);
    await s.waitFor(/1\.1\.0 running/, 30_000);
    const secs = s.elapsedMs() / 1000;
    timing('trial hangs, deadlineS=5 → old version running', `${secs.toFixed(2)} s`);
    assert.ok(secs >= 5, `not before the deadline (${secs} s)`);
    assert.equal(s.exits()[0]!.signal, 'SIGTERM');
    assert.equal(s.starts(), 2);
    assertRolledBack(tree, 'no-commit', /^not committed within 5 s$/);
    // The tail is written when the killed agent's output ends, after the rollback.
    assert.deepEqual(lines(join(tree.ota, 'rolledback.log')), [`${B} running`]);
    assert.match(s.output(), /^loa-launch: rolled back 1\.2\.0 → 1\.1\.0: not committed within 5 s$/m);
  },
);

test('a hung trial version deaf to SIGTERM gets SIGKILL 10 s later', { skip }, async (t) => {
  const tree = onTrial('launch-deaf', mains.hangs(B, true), 2);
  const s = launch(t, tree);
  await s.waitFor(/1\.1\.0 running/, 40_000);
  const exit = s.exits()[0]!;
  assert.equal(exit.signal, 'SIGKILL');
  assert.ok(exit.atMs >= 11_500, `SIGKILL ${exit.atMs} ms after start`);
  assertRolledBack(tree, 'no-commit', /^not committed within 2 s$/);
  assert.deepEqual(lines(join(tree.ota, 'rolledback.log')), [`${B} running`, `${B} ignores SIGTERM`]);
  assert.match(s.output(), /1\.2\.0 \(pid \d+\) still runs 10 s after SIGTERM: SIGKILL/);
});

test('a trial version that commits is kept; its watcher does nothing', { skip }, async (t) => {
  const tree = onTrial('launch-commits', mains.commits(B), 2);
  const s = launch(t, tree);
  await s.waitFor(/1\.2\.0 committed/, 20_000);
  await sleep(4000); // past deadlineS and the watcher's next look
  assert.equal(s.starts(), 1);
  assert.ok(s.pid(), 'still running');
  assert.equal(currentTarget(tree), `releases/${B}`);
  for (const f of ['rolledback', 'trial', 'trial.starts', 'committing']) assert.ok(!existsSync(join(tree.ota, f)), f);
  assert.doesNotMatch(s.output(), /rolled back|not committed/);
});

test(
  'a trial whose switch was never made is ignored: the current version runs, the trial file stays',
  { skip },
  async (t) => {
    const tree = onTrial('launch-noswitch', mains.exits(B));
    switchCurrent(tree, A);
    const s = launch(t, tree);
    await s.waitFor(/1\.1\.0 running/, 20_000);
    await sleep(500);
    assert.equal(s.starts(), 1);
    assert.equal(readKv(join(tree.ota, 'trial'))?.version, B);
    assert.ok(!existsSync(join(tree.ota, 'trial.starts')));
    assert.ok(!existsSync(join(tree.ota, 'rolledback')));
    assert.match(
      s.output(),
      /^loa-launch: trial of 1\.2\.0 ignored: current is 1\.1\.0 \(the switch was never made\)$/m,
    );
  },
);

test(
  'the agent gets LOA_LAUNCHER=1, both roots, its arguments and the node flags; a legacy install runs',
  { skip },
  async (t) => {
    const tree = releaseTree('launch-env');
    const report = join(tree.ota, '..', 'env.json');
    writeRelease(tree, A, mains.env(A, report));
    switchCurrent(tree, A);
    const s = launch(t, tree, {}, [...CONFIG_ARGS, 'two words', '*']);
    await s.waitFor(/1\.1\.0 running/, 20_000);
    const seen = JSON.parse(readFileSync(report, 'utf8'));
    // Besides what the launcher sets, only the LOA_* variables this test process already had (LOA_TEST_CACHE, …).
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('LOA_')));
    assert.deepEqual(seen.env, {
      ...inherited,
      LOA_RELEASE_ROOT: tree.root,
      LOA_OTA_DIR: tree.ota,
      LOA_NODE: process.execPath,
      LOA_LAUNCHER: '1',
    });
    assert.deepEqual(seen.argv, [...CONFIG_ARGS, 'two words', '*']);
    assert.deepEqual(seen.execArgv, ['--max-semi-space-size=1', '--v8-pool-size=1']);
    assert.equal(realpathSync(seen.main), realpathSync(join(tree.root, 'releases', A, 'dist/agent/main.js')));
    await s.stop();

    // Legacy: ROOT/dist/agent/main.js, no releases/ and no current; LOA_NODE_FLAGS empty.
    const legacy = releaseTree('launch-legacy');
    rmSync(join(legacy.root, 'releases'), { recursive: true });
    mkdirSync(join(legacy.root, 'dist/agent'), { recursive: true });
    writeFileSync(join(legacy.root, 'package.json'), '{"type":"module"}\n');
    writeFileSync(join(legacy.root, 'dist/agent/main.js'), mains.env('legacy', report));
    const l = launch(t, legacy, { LOA_NODE_FLAGS: '' });
    await l.waitFor(/legacy running/, 20_000);
    const seen2 = JSON.parse(readFileSync(report, 'utf8'));
    assert.deepEqual(seen2.execArgv, []);
    assert.equal(seen2.main, join(legacy.root, 'dist/agent/main.js'));
    assert.equal(seen2.env.LOA_LAUNCHER, '1');
  },
);

test('a release without dist/agent/main.js: rolled back as missing, on trial or not', { skip }, async (t) => {
  const tree = onTrial('launch-missing', null);
  const s = launch(t, tree);
  await s.waitFor(/1\.1\.0 running/, 20_000);
  assert.equal(s.starts(), 1);
  assertRolledBack(tree, 'missing', /^dist\/agent\/main\.js missing in releases\/1\.2\.0$/);
  assert.equal(readFileSync(join(tree.ota, 'rolledback.log'), 'utf8'), '');
  await s.stop();

  // No trial: the other complete release is the target.
  const bare = releaseTree('launch-missing2');
  writeRelease(bare, A, mains.runs(A));
  writeRelease(bare, B, null);
  switchCurrent(bare, B);
  const s2 = launch(t, bare);
  await s2.waitFor(/1\.1\.0 running/, 20_000);
  assertRolledBack(bare, 'missing', /^dist\/agent\/main\.js missing in releases\/1\.2\.0$/, '');
});

test(
  'no rollback target: the trial version runs without a watcher; a rolledback about another trial is left to the agent',
  { skip },
  async (t) => {
    const tree = onTrial('launch-notarget', mains.runs(B), 1);
    rmSync(join(tree.root, 'releases', A, 'dist/agent/main.js'));
    const s = launch(t, tree);
    await s.waitFor(/1\.2\.0 running/, 20_000);
    await sleep(2500); // past deadlineS
    assert.equal(s.starts(), 1);
    assert.equal(currentTarget(tree), `releases/${B}`);
    assert.ok(!existsSync(join(tree.ota, 'rolledback')));
    assert.match(
      s.output(),
      /^loa-launch: trial of 1\.2\.0 has no rollback target \(releases\/1\.1\.0\/dist\/agent\/main\.js missing\): running it without one$/m,
    );
    await s.stop();

    const stale = onTrial('launch-stale', mains.runs(B), 60);
    const old = {
      id: 'cmd-6',
      version: '1.0.9',
      previous: A,
      reason: 'exited',
      detail: 'exited before commit (start 2)',
      at: '2026-11-26T10:00:00Z',
    };
    writeKv(join(stale.ota, 'rolledback'), old);
    const s2 = launch(t, stale);
    await s2.waitFor(/1\.2\.0 running/, 20_000);
    assert.deepEqual(readKv(join(stale.ota, 'rolledback')), old);
    assert.equal(lines(join(stale.ota, 'trial.starts')).length, 1, 'a trial start all the same');
    assert.match(s2.output(), /rolledback \(of 1\.0\.9\) is not about the trial in .*: left to the agent$/m);
  },
);

/** A trial of B that already ran once (trial.starts has a line) and left its log. */
function ranOnce(tag: string): ReleaseTree {
  const tree = onTrial(tag, mains.exits(B));
  writeFileSync(join(tree.ota, 'trial.starts'), '2026-11-27T10:00:00Z start=1 pid=1\n');
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
      at: '2026-11-27T10:00:01Z',
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
  await s.waitFor(/1\.1\.0 running/, 20_000);
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
      await sleep(delayMs);
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

// ---- probation (issue [2/8] item 3): a committed release that keeps dying ----

/** B committed (current), on probation until `untilS` from now, committed in boot `boot`. */
function onProbation(tag: string, bMain: string, o: { untilS?: number; boot?: string } = {}): ReleaseTree {
  const tree = releaseTree(tag);
  writeRelease(tree, A, mains.runs(A));
  writeRelease(tree, B, bMain);
  switchCurrent(tree, B);
  writeKv(join(tree.ota, 'probation'), {
    id: 'cmd-7',
    version: B,
    previous: A,
    until: Math.floor(Date.now() / 1000) + (o.untilS ?? 3600),
    limit: 3,
    boot: o.boot ?? 'boot-1',
  });
  return tree;
}

const probationStarts = (tree: ReleaseTree) =>
  existsSync(join(tree.ota, 'probation.starts'))
    ? lines(join(tree.ota, 'probation.starts')).map((l) => l.split(' previous-run=')[1])
    : [];

test(
  "on probation, a committed version that ends abnormally 3 times is rolled back (reason probation, the last run's 40 lines); the old one runs",
  { skip },
  async (t) => {
    const tree = onProbation('launch-prob', mains.exits(B, 50));
    const s = launch(t, tree, { LOA_BOOT_ID: 'boot-1' });
    await s.waitFor(/1\.1\.0 running/, 30_000);
    timing(
      'committed version crashing on probation → old version running',
      `${(s.elapsedMs() / 1000).toFixed(2)} s, ${s.starts()} starts`,
    );
    // Start 1 follows the committed run's abnormal end, starts 2 and 3 the next two: rolled back at 3.
    assert.equal(s.starts(), 3, s.output());
    assertRolledBack(tree, 'probation', /^3 abnormal exits within its probation after commit$/);
    const out = [`${B} running`, ...Array.from({ length: 50 }, (_, i) => `${B} line ${i + 1}`), `${B} fails`];
    assert.deepEqual(
      lines(join(tree.ota, 'rolledback.log')),
      out.slice(-40),
      "the last run's tail, for update.rolledback",
    );
    assert.ok(
      !existsSync(join(tree.ota, 'probation')) && !existsSync(join(tree.ota, 'probation.starts')),
      'probation over',
    );
    assert.match(
      s.output(),
      /^loa-launch: rolled back 1\.2\.0 → 1\.1\.0: 3 abnormal exits within its probation after commit$/m,
    );
  },
);

test(
  'on probation, clean stops are no crash, a new boot is no crash, and an expired probation is forgotten',
  { skip },
  async (t) => {
    // Stops cleanly (the agent writes OTA/clean when it does) and is restarted, again and again.
    const clean = `import { writeFileSync } from 'node:fs';\nconsole.log('${B} running');\nwriteFileSync(process.env.LOA_OTA_DIR + '/clean', '');\nsetTimeout(() => process.exit(0), 50);\n`;
    const c = onProbation('launch-prob-clean', clean);
    const s = launch(t, c, { LOA_BOOT_ID: 'boot-1' });
    await until(() => s.starts() >= 5, 30_000, 'five starts');
    await s.stop();
    assert.equal(currentTarget(c), `releases/${B}`);
    assert.ok(!existsSync(join(c.ota, 'rolledback')));
    assert.deepEqual(probationStarts(c).slice(1, 4), ['clean', 'clean', 'clean'], 'each end after the first was clean');

    // Committed in another boot (a power cut since): the first end is not counted; rolled back one start later.
    const r = onProbation('launch-prob-reboot', mains.exits(B, 3), { boot: 'boot-0' });
    const s2 = launch(t, r, { LOA_BOOT_ID: 'boot-1' });
    await s2.waitFor(/1\.1\.0 running/, 30_000);
    assert.equal(s2.starts(), 4, s2.output());
    assertRolledBack(r, 'probation', /^3 abnormal exits/);

    // Past `until`: forgotten, nothing rolled back however it ends.
    const old = onProbation('launch-prob-over', mains.exits(B, 3), { untilS: -1 });
    const s3 = launch(t, old, { LOA_BOOT_ID: 'boot-1' });
    await until(() => s3.starts() >= 4, 30_000, 'four starts');
    await s3.stop();
    assert.equal(currentTarget(old), `releases/${B}`);
    assert.ok(!existsSync(join(old.ota, 'probation')), 'the expired probation removed');
    assert.ok(!existsSync(join(old.ota, 'rolledback')));
  },
);
