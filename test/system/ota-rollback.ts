// An update's rollback under the real systemd of the system test's container (registered by
// systemd.test.ts after install.sh has installed a release and the agent runs): a release B
// is put beside it in /opt/loa/releases with OTA/trial as the agent writes it before its
// switch, current switched to B, and `systemctl restart loa-agent` (what the agent's exit 75
// does). systemd/loa-launch must bring the installed release back: B exits at start; B hangs
// without READY (TimeoutStartSec); B sends READY (and pings the watchdog) but never commits
// (the launcher's watcher at deadlineS). Each time the installed version reports the
// rollback it finds (OTA_ROLLED_BACK). Prints the timings quoted in docs/ota.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until, type Container } from './container.js';

interface Context {
  box: () => Container;
  skip: string | false;
  note: (k: string, v: string) => void;
  agent: () => Record<string, string>;
  journal: (unit: string) => string;
  /** The installed release (the rollback target). */
  previous: string;
}

const OTA = '/var/lib/loa/ota';
const SEEN = '/root/ota-seen';
const DROPIN = '/etc/systemd/system/loa-agent.service.d/91-ota-test.conf';
// The agent reads and removes OTA/rolledback* at its start (docs/ota.md): this copies
// them whole while they exist, so the test sees what the launcher wrote.
const SPY = `OTA=${OTA}; SEEN=${SEEN}
while :; do
  if [ -f $OTA/rolledback ]; then
    cp $OTA/rolledback $SEEN/.r 2>/dev/null && mv $SEEN/.r $SEEN/rolledback
    cp $OTA/rolledback.log $SEEN/.l 2>/dev/null && mv $SEEN/.l $SEEN/rolledback.log
  fi
  sleep 0.05
done
`;

export function otaRollbackCases(c: Context): void {
  const sh = (script: string, input?: string) => c.box().sh(script, input);
  const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const starts = () =>
    c
      .journal('loa-agent.service')
      .split('\n')
      .filter((l) => l.startsWith('{') && l.includes('"agent starting"') && l.includes(`"version":"${c.previous}"`))
      .length;

  // The shipped WatchdogSec (the earlier tests' drop-in shortens it to 6 s), plus `extra`.
  const dropin = (extra = '') =>
    sh(`cat > ${DROPIN} && systemctl daemon-reload`, `[Service]\nWatchdogSec=30\n${extra}`);

  /** B with this main.js in /opt/loa/releases/B, on trial, current switched: as the agent leaves it. */
  function stage(b: string, main: string, deadlineS: number): void {
    const d = `/opt/loa/releases/${b}`;
    sh(
      `set -e; rm -rf ${d}; mkdir -p ${d}/dist/agent; cat > ${d}/dist/agent/main.js; echo '{"name":"loa","version":"${b}","type":"module"}' > ${d}/package.json; chown -R loa:loa ${d}`,
      main,
    );
    sh(
      `set -e; install -d -o loa -g loa -m 0700 ${OTA}; rm -f ${OTA}/rolledback ${OTA}/rolledback.log ${OTA}/trial*
       printf 'id=ota-${b}\\nversion=${b}\\nprevious=${c.previous}\\ndeadlineS=${deadlineS}\\n' > ${OTA}/trial.tmp
       chown loa:loa ${OTA}/trial.tmp && mv ${OTA}/trial.tmp ${OTA}/trial
       ln -sfn releases/${b} /opt/loa/current.new && chown -h loa:loa /opt/loa/current.new && mv -T /opt/loa/current.new /opt/loa/current
       systemctl stop loa-test-ota-spy 2>/dev/null || true; systemctl reset-failed loa-test-ota-spy 2>/dev/null || true
       rm -rf ${SEEN} && mkdir ${SEEN} && cat > /root/ota-spy.sh && systemd-run --quiet --unit=loa-test-ota-spy sh /root/ota-spy.sh`,
      SPY,
    );
  }

  /**
   * B committed and on probation (docs/ota.md §3), as the agent leaves it at commit, with
   * `clean` from the run that committed (it restarted cleanly): B's own ends are what count.
   */
  function stageCommitted(b: string, main: string): void {
    stage(b, main, 180);
    sh(`set -e; rm -f ${OTA}/trial*
       printf 'id=ota-${b}\nversion=${b}\nprevious=${c.previous}\nuntil=%s\nlimit=3\nboot=%s\n' $(($(date +%s) + 3600)) "$(cat /proc/sys/kernel/random/boot_id)" > ${OTA}/probation
       date -u +%FT%TZ > ${OTA}/clean; rm -f ${OTA}/probation.starts; chown loa:loa ${OTA}/probation ${OTA}/clean`);
  }

  /** Restart onto B; resolves once the installed release is active again, with what the launcher wrote. */
  async function rollBack(b: string, waitMs: number) {
    const before = starts();
    const t0 = performance.now();
    sh('systemctl restart --no-block loa-agent.service');
    await until(
      () => {
        const a = c.agent();
        return a.ActiveState === 'active' &&
          starts() > before &&
          sh('readlink /opt/loa/current').trim() === `releases/${c.previous}`
          ? a
          : undefined;
      },
      waitMs,
      `${c.previous} active again after the trial of ${b}`,
    );
    const ms = performance.now() - t0;
    const rolledback = await until(
      () => c.box().exec(['cat', `${SEEN}/rolledback`]).stdout || undefined,
      5000,
      "the spy's copy of OTA/rolledback",
    );
    const log = c.box().exec(['cat', `${SEEN}/rolledback.log`]).stdout;
    // The installed version read it at its start and reported it (agent/runtime/updater.ts).
    await until(
      () =>
        c
          .journal('loa-agent.service')
          .split('\n')
          .some((l) => l.startsWith('{') && l.includes('"code":"OTA_ROLLED_BACK"') && l.includes(`"version":"${b}"`)),
      20_000,
      `the agent's OTA_ROLLED_BACK line for ${b}`,
    );
    sh(`systemctl stop loa-test-ota-spy || true; rm -rf /opt/loa/releases/${b}`);
    const kv = Object.fromEntries(
      rolledback
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.equal(kv.id, `ota-${b}`);
    assert.equal(kv.version, b);
    assert.equal(kv.previous, c.previous);
    assert.equal(c.box().exec(['test', '-e', `${OTA}/trial`]).status, 1, 'trial removed');
    return {
      ms,
      kv,
      log: log.split('\n').filter(Boolean),
      launcher: c
        .journal('loa-agent.service')
        .split('\n')
        .filter((l) => l.startsWith('loa-launch: ')),
    };
  }

  test(
    'OTA rollback under systemd: a new version that exits at start; the installed one is back after the next start',
    { skip: c.skip },
    async () => {
      dropin();
      const b = '9.0.0-exits';
      const lines = Array.from({ length: 50 }, (_, i) => `B line ${i + 1}`);
      stage(
        b,
        `for (const l of ${JSON.stringify(lines)}) console.log(l);\nconsole.error('B: exit 1');\nprocess.exit(1);\n`,
        180,
      );
      const r = await rollBack(b, 60_000);
      c.note('OTA: new version exits at start → installed version active again (RestartSec=5)', secs(r.ms));
      assert.equal(r.kv.reason, 'exited');
      assert.equal(r.kv.detail, 'exited before commit (start 2)');
      assert.deepEqual(r.log, [...lines, 'B: exit 1'].slice(-40));
      assert.ok(
        r.launcher.includes(`loa-launch: rolled back ${b} → ${c.previous}: exited before commit (start 2)`),
        r.launcher.join('\n'),
      );
    },
  );

  test(
    'OTA rollback under systemd: a new version that never sends READY is stopped by TimeoutStartSec, then rolled back',
    { skip: c.skip },
    async () => {
      dropin('TimeoutStartSec=15\n');
      const b = '9.0.1-hangs';
      stage(b, `console.log('B: up, never READY');\nsetInterval(() => {}, 1000);\n`, 180);
      const r = await rollBack(b, 90_000);
      dropin();
      c.note('OTA: new version hangs before READY (TimeoutStartSec=15) → installed version active again', secs(r.ms));
      assert.equal(r.kv.reason, 'exited');
      assert.equal(r.kv.detail, 'exited before commit (start 2)');
      assert.deepEqual(r.log, ['B: up, never READY']);
      assert.match(c.journal('loa-agent.service'), /start operation timed out/i);
    },
  );

  test(
    'OTA rollback under systemd: a new version that is READY but never commits is rolled back by the watcher at deadlineS',
    { skip: c.skip },
    async () => {
      const b = '9.0.2-nocommit';
      // READY and watchdog pings through systemd-notify, like the agent (NotifyAccess=all).
      const main =
        `import { execFileSync } from 'node:child_process';\n` +
        `const notify = (m) => execFileSync('systemd-notify', [m, '--pid=' + process.pid]);\n` +
        `notify('--ready');\nconsole.log('B: READY, not committing');\n` +
        `setInterval(() => notify('WATCHDOG=1'), 1500);\n`;
      stage(b, main, 10);
      const r = await rollBack(b, 90_000);
      c.note('OTA: new version READY, never commits (deadlineS=10) → installed version active again', secs(r.ms));
      assert.equal(r.kv.reason, 'no-commit');
      assert.equal(r.kv.detail, 'not committed within 10 s');
      assert.deepEqual(r.log, ['B: READY, not committing']);
      assert.ok(
        r.launcher.includes(`loa-launch: rolled back ${b} → ${c.previous}: not committed within 10 s`),
        r.launcher.join('\n'),
      );
    },
  );

  // A committed release that dies later (issue 25): READY, the watchdog fed, then an exit 1.
  const notifyJs = `import { execFileSync } from 'node:child_process';\nconst notify = (m) => execFileSync('systemd-notify', [m, '--pid=' + process.pid]);\n`;

  test(
    "OTA probation under systemd: a committed version that crashes 2 s after every start is rolled back after its 3rd abnormal exit (reason probation, the last run's lines)",
    { skip: c.skip },
    async () => {
      dropin();
      const b = '9.0.3-crashes';
      stageCommitted(
        b,
        `${notifyJs}notify('--ready');\nconsole.log('B: committed earlier, up');\nsetInterval(() => notify('WATCHDOG=1'), 1000);\nsetTimeout(() => { console.error('B: crash'); process.exit(1); }, 2000);\n`,
      );
      const r = await rollBack(b, 120_000);
      c.note(
        'OTA probation: committed version crashes 2 s after each start → installed version active again (3 crashes, RestartSec=5)',
        secs(r.ms),
      );
      assert.equal(r.kv.reason, 'probation');
      assert.equal(r.kv.detail, '3 abnormal exits within its probation after commit');
      assert.deepEqual(r.log, ['B: committed earlier, up', 'B: crash']);
      assert.ok(
        r.launcher.includes(
          `loa-launch: rolled back ${b} → ${c.previous}: 3 abnormal exits within its probation after commit`,
        ),
        r.launcher.join('\n'),
      );
      assert.equal(c.box().exec(['test', '-e', `${OTA}/probation`]).status, 1, 'probation over');
    },
  );

  test(
    'OTA probation under systemd: a committed version that hangs after start is killed by the watchdog and rolled back after the 3rd kill',
    { skip: c.skip },
    async () => {
      dropin('WatchdogSec=4\n');
      const b = '9.0.4-hangs-later';
      // Fed twice, then a busy loop: no more WATCHDOG=1, and deaf to everything but SIGABRT/SIGKILL.
      stageCommitted(
        b,
        `${notifyJs}notify('--ready');\nconsole.log('B: up');\nnotify('WATCHDOG=1');\nsetTimeout(() => { console.log('B: hung'); for (;;); }, 1000);\n`,
      );
      const r = await rollBack(b, 150_000);
      dropin();
      c.note(
        'OTA probation: committed version hangs 1 s after each start → installed version active again (3 watchdog kills, WatchdogSec=4, RestartSec=5)',
        secs(r.ms),
      );
      assert.equal(r.kv.reason, 'probation');
      assert.deepEqual(r.log, ['B: up', 'B: hung']);
      assert.match(c.journal('loa-agent.service'), /Watchdog timeout/i);
      sh(`rm -f ${DROPIN} && systemctl daemon-reload`);
    },
  );
}
