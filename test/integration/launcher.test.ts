// systemd/loa-launch's trial starts (docs/ota.md "The launcher and rollback"): a trial
// version that exits, hangs, ignores SIGTERM, commits, was never switched to, or is
// missing; the environment the agent gets. Prints the timings quoted in docs/ota.md.
// The rig (the real script under a Restart=always stand-in) is launcher-rig.ts's;
// rollbacks cut short are launcher-recovery.test.ts's, probation launcher-probation.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  currentTarget,
  mains,
  readKv,
  releaseTree,
  switchCurrent,
  writeKv,
  writeRelease,
} from '../helpers/release-tree.js';
import {
  A,
  B,
  CONFIG_ARGS,
  assertRolledBack,
  launch,
  lines,
  noWatcher,
  onTrial,
  skip,
  timing,
} from './launcher-rig.js';

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
  await noWatcher(s, 20_000); // its look past deadlineS found the trial committed, and it ended
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
    await s.waitFor(/trial of 1\.2\.0 ignored/, 5000);
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
    await noWatcher(s, 20_000); // none started: nothing rolls back past deadlineS
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
