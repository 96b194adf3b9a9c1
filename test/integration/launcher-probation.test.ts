// systemd/loa-launch's probation (issue [2/8] item 3, docs/ota.md): a committed release
// that keeps dying is rolled back too; clean stops, a new boot and an expired probation
// are no crash. The rig is launcher-rig.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '../helpers/wait.js';
import {
  currentTarget,
  mains,
  releaseTree,
  switchCurrent,
  writeKv,
  writeRelease,
  type ReleaseTree,
} from '../helpers/release-tree.js';
import { A, B, assertRolledBack, launch, lines, skip, timing } from './launcher-rig.js';

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
