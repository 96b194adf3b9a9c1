// Life under systemd, without a running systemd: the unit files through
// `systemd-analyze verify` and `security`, and install.sh into a scratch root, twice.
// The health watchdog on a real notification socket: systemd-health.test.ts.
//
// Needs systemd-analyze and systemd-notify (Debian package systemd) and python3; each
// case skips with the reason where one is missing, and fails under CI=true.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
  lstatSync,
  readlinkSync,
  existsSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { notifyReceiverUnavailable, startNotifyReceiver } from '../helpers/notify-receiver.js';
import { REPO_ROOT } from '../helpers/agent-process.js';
import { tempDir } from '../helpers/tmp.js';

const SYSTEMD_DIR = join(REPO_ROOT, 'systemd');
const UNITS = ['loa-agent.service', 'loa-reboot.path', 'loa-reboot.service'];

const noAnalyze =
  spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0
    ? null
    : 'systemd-analyze not found (apt-get install systemd)';
const noReceiver = notifyReceiverUnavailable();
for (const why of [noAnalyze, noReceiver]) if (why && process.env.CI === 'true') throw new Error(why);

/** The units in a scratch directory, ExecStart's launcher pointed at this checkout's (verify checks it exists). */
function scratchUnits(): string {
  const dir = tempDir('sd-units');
  for (const u of UNITS) {
    const text = readFileSync(join(SYSTEMD_DIR, u), 'utf8').replace(
      /^ExecStart=\/usr\/lib\/loa\/loa-launch /m,
      `ExecStart=${join(SYSTEMD_DIR, 'loa-launch')} `,
    );
    writeFileSync(join(dir, u), text);
  }
  return dir;
}

test('systemd-analyze verify accepts every unit, without a warning', { skip: noAnalyze ?? false }, () => {
  const dir = scratchUnits();
  const r = spawnSync('systemd-analyze', ['verify', ...UNITS.map((u) => join(dir, u))], { encoding: 'utf8' });
  const ours = r.stderr.split('\n').filter((l) => /loa-/.test(l));
  assert.deepEqual(ours, [], r.stderr);
  assert.equal(r.status, 0, r.stderr);
});

test('the exposure score stays at or under what systemd/README.md documents', { skip: noAnalyze ?? false }, () => {
  const dir = scratchUnits();
  const readme = readFileSync(join(SYSTEMD_DIR, 'README.md'), 'utf8');
  for (const unit of ['loa-agent.service', 'loa-reboot.service']) {
    const documented = new RegExp(`^\\| \`${unit.replace('.', '\\.')}\` \\| (\\d+\\.\\d) `, 'm').exec(readme)?.[1];
    assert.ok(documented, `systemd/README.md has no exposure row for ${unit}`);
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', join(dir, unit)], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const measured = new RegExp(`Overall exposure level for ${unit.replace('.', '\\.')}: (\\d+\\.\\d)`).exec(
      r.stdout,
    )?.[1];
    assert.ok(measured, r.stdout.slice(-500));
    assert.ok(
      Number(measured) <= Number(documented),
      `${unit}: exposure ${measured} is above the documented ${documented}`,
    );
  }
});

const sha16 = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16);

/** Every path under root with its type, mode and content hash (or link target). */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      const rel = relative(root, p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.push(`${rel} -> ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${rel}/ ${mode}`);
        walk(p);
      } else out.push(`${rel} ${mode} ${sha16(p)}`);
    }
  };
  walk(root);
  return out;
}

function install(args: string[]) {
  const r = spawnSync('sh', [join(SYSTEMD_DIR, 'install.sh'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, DESTDIR: '' },
  });
  assert.equal(r.status, 0, `install.sh ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('install.sh into a scratch root: twice gives the same tree, never touches agent.json or an edited udev rule', () => {
  const work = tempDir('sd-install');
  // A release as the build produces it: package.json, dist/, production node_modules.
  const rel = join(work, 'release');
  mkdirSync(join(rel, 'dist/agent'), { recursive: true });
  mkdirSync(join(rel, 'node_modules/dep'), { recursive: true });
  writeFileSync(join(rel, 'package.json'), '{"name":"loa","version":"0.0.0-test","type":"module"}\n');
  writeFileSync(join(rel, 'dist/agent/main.js'), 'console.log("v1");\n');
  writeFileSync(join(rel, 'node_modules/dep/index.js'), 'export {};\n');
  const tarball = join(work, 'loa-test.tar.gz');
  const tar = spawnSync('tar', ['-czf', tarball, '-C', work, 'release'], { encoding: 'utf8' });
  assert.equal(tar.status, 0, tar.stderr);
  const root = join(work, 'root');
  mkdirSync(root);

  const first = install(['--root', root, rel]);
  assert.match(first, /skipped \(--root is .*, not \/\): system user loa/);
  const tree1 = snapshot(root);
  assert.equal(readlinkSync(join(root, 'opt/loa/current')), 'releases/0.0.0-test');
  assert.ok(
    tree1.includes('usr/lib/loa/loa-launch 755 ' + sha16(join(SYSTEMD_DIR, 'loa-launch'))),
    'the launcher, 0755',
  );
  assert.ok(
    tree1.includes('usr/local/bin/loa-agent 755 ' + sha16(join(SYSTEMD_DIR, 'loa-agent-cmd'))),
    'loa-agent (--check-config, --version) on PATH, 0755',
  );
  for (const p of [
    'opt/loa/current/dist/agent/main.js',
    'opt/loa/current/node_modules/dep/index.js',
    'opt/loa/current/systemd/README.md',
    'opt/loa/current/systemd/loa-launch',
    'etc/systemd/system/loa-agent.service',
    'etc/systemd/system/loa-reboot.path',
    'etc/systemd/system/loa-reboot.service',
    'etc/udev/rules.d/99-loa-io.rules',
  ]) {
    assert.ok(existsSync(join(root, p)), `${p} installed`);
  }
  assert.ok(tree1.includes('etc/loa/ 750'), tree1.filter((l) => l.startsWith('etc/loa')).join('\n'));
  assert.equal(
    readFileSync(join(root, 'etc/systemd/system/loa-agent.service'), 'utf8'),
    readFileSync(join(SYSTEMD_DIR, 'loa-agent.service'), 'utf8'),
  );

  // The technician's config, and a rule edited for the board's adapter.
  writeFileSync(join(root, 'etc/loa/agent.json'), '{"deviceId":"box-1"}\n', { mode: 0o640 });
  const rules = join(root, 'etc/udev/rules.d/99-loa-io.rules');
  const edited = readFileSync(rules, 'utf8').replace(
    '#SUBSYSTEM=="tty", ATTRS{idVendor}=="1a86"',
    'SUBSYSTEM=="tty", ATTRS{idVendor}=="1a86"',
  );
  writeFileSync(rules, edited);
  const withConfig = snapshot(root);

  // Again, from the tarball of the same release: nothing changes.
  const second = install(['--root', root, tarball]);
  assert.match(second, /releases\/0\.0\.0-test is already this version/);
  assert.match(second, /current is releases\/0\.0\.0-test; unchanged/);
  assert.match(second, /agent\.json exists; left as it is/);
  const tree2 = snapshot(root).filter((l) => !l.startsWith('etc/udev/rules.d/99-loa-io.rules.dist'));
  assert.deepEqual(tree2, withConfig);
  assert.equal(readFileSync(join(root, 'etc/loa/agent.json'), 'utf8'), '{"deviceId":"box-1"}\n');
  assert.equal(readFileSync(rules, 'utf8'), edited);
  assert.equal(readFileSync(`${rules}.dist`, 'utf8'), readFileSync(join(SYSTEMD_DIR, '99-loa-io.rules'), 'utf8'));
  assert.ok(!existsSync(join(root, 'opt/loa.prev')), 'an unchanged install keeps no previous version');
  assert.ok(!existsSync(join(root, 'opt/loa.new')));

  // A new version: current switches to it, the old one stays as the rollback target.
  const release = (version: string, code: string) => {
    writeFileSync(join(rel, 'package.json'), `{"name":"loa","version":"${version}","type":"module"}\n`);
    writeFileSync(join(rel, 'dist/agent/main.js'), code);
    return install(['--root', root, rel]);
  };
  assert.match(
    release('0.0.1-test', 'console.log("v2");\n'),
    /0\.0\.0-test kept \(roll back: ln -sfn releases\/0\.0\.0-test /,
  );
  assert.equal(readlinkSync(join(root, 'opt/loa/current')), 'releases/0.0.1-test');
  assert.equal(readFileSync(join(root, 'opt/loa/current/dist/agent/main.js'), 'utf8'), 'console.log("v2");\n');
  assert.equal(
    readFileSync(join(root, 'opt/loa/releases/0.0.0-test/dist/agent/main.js'), 'utf8'),
    'console.log("v1");\n',
  );
  assert.equal(readFileSync(join(root, 'etc/loa/agent.json'), 'utf8'), '{"deviceId":"box-1"}\n');
  // The next one: at most two releases (this one and the one it replaced), like the agent keeps.
  assert.match(release('0.0.2-test', 'console.log("v3");\n'), /removed the old release 0\.0\.0-test/);
  assert.deepEqual(readdirSync(join(root, 'opt/loa/releases')).sort(), ['0.0.1-test', '0.0.2-test']);
  // The same version with other code (a rebuilt checkout) replaces it.
  release('0.0.2-test', 'console.log("v3 rebuilt");\n');
  assert.equal(readFileSync(join(root, 'opt/loa/current/dist/agent/main.js'), 'utf8'), 'console.log("v3 rebuilt");\n');
  assert.deepEqual(readdirSync(join(root, 'opt/loa/releases')).sort(), ['0.0.1-test', '0.0.2-test']);
  assert.deepEqual(readdirSync(join(root, 'opt')).sort(), ['loa']);
});

test('install.sh over a legacy install (/opt/loa/dist, no current): moved whole to /opt/loa.prev, the release beside it', () => {
  const work = tempDir('sd-install-legacy');
  const rel = join(work, 'release');
  mkdirSync(join(rel, 'dist/agent'), { recursive: true });
  mkdirSync(join(rel, 'node_modules'), { recursive: true });
  writeFileSync(join(rel, 'package.json'), '{"name":"loa","version":"1.0.0","type":"module"}\n');
  writeFileSync(join(rel, 'dist/agent/main.js'), 'console.log("new");\n');
  const root = join(work, 'root');
  mkdirSync(join(root, 'opt/loa/dist/agent'), { recursive: true });
  writeFileSync(join(root, 'opt/loa/dist/agent/main.js'), 'console.log("legacy");\n');
  assert.match(install(['--root', root, rel]), /legacy install moved to .*opt\/loa\.prev; 1\.0\.0 installed/);
  assert.equal(readFileSync(join(root, 'opt/loa.prev/dist/agent/main.js'), 'utf8'), 'console.log("legacy");\n');
  assert.equal(readlinkSync(join(root, 'opt/loa/current')), 'releases/1.0.0');
  assert.equal(readFileSync(join(root, 'opt/loa/current/dist/agent/main.js'), 'utf8'), 'console.log("new");\n');
  assert.deepEqual(readdirSync(join(root, 'opt')).sort(), ['loa', 'loa.prev']);
  assert.deepEqual(readdirSync(join(root, 'opt/loa')).sort(), ['current', 'releases']);
});

test('install.sh refuses what it cannot install', () => {
  const work = tempDir('sd-install-bad');
  const root = join(work, 'root');
  mkdirSync(join(work, 'empty'), { recursive: true });
  mkdirSync(root);
  const run = (args: string[]) => spawnSync('sh', [join(SYSTEMD_DIR, 'install.sh'), ...args], { encoding: 'utf8' });
  const noPkg = run(['--root', root, join(work, 'empty')]);
  assert.notEqual(noPkg.status, 0);
  assert.match(noPkg.stderr, /no package\.json/);
  cpSync(join(REPO_ROOT, 'package.json'), join(work, 'empty/package.json'));
  const noDist = run(['--root', root, join(work, 'empty')]);
  assert.notEqual(noDist.status, 0);
  assert.match(noDist.stderr, /dist\/agent\/main\.js is missing/);
  assert.deepEqual(readdirSync(root), [], 'nothing written');
  const badOpt = run(['--frobnicate']);
  assert.equal(badOpt.status, 64);
});

test(
  'the real agent process under a notify socket: READY with a status line, WATCHDOG pings, STOPPING on SIGTERM',
  { skip: noReceiver ?? false },
  async () => {
    const { startBroker } = await import('../helpers/broker.js');
    const { spawnAgent, writeConfig } = await import('../helpers/agent-process.js');
    const broker = await startBroker();
    const dir = tempDir('sd-agent');
    const rx = await startNotifyReceiver(dir);
    try {
      const cfg = writeConfig(dir, {
        deviceId: 'sd-box',
        mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1' },
        stateDir: join(dir, 'state'),
        cacheDir: join(dir, 'cache'),
        audio: { player: 'stand-in' },
      });
      // WatchdogSec=2: pings every 1 s; the agent checks its probes at a quarter of that.
      const agent = spawnAgent(['--config', cfg], {
        NOTIFY_SOCKET: rx.path,
        WATCHDOG_USEC: '2000000',
        INVOCATION_ID: 'sd-test',
      });
      const ready = await rx.waitFor((m) => m.lines.includes('READY=1'), 20_000);
      assert.ok(
        ready.lines.some((l) => /^STATUS=(idle|playing).*mqtt/.test(l)),
        ready.data,
      );
      const i = rx.messages.indexOf(ready);
      await rx.waitFor((m) => m.lines.includes('WATCHDOG=1'), 10_000, i);
      await rx.waitFor((m) => m.lines.includes('WATCHDOG=1'), 10_000, rx.messages.length);
      agent.proc.kill('SIGTERM');
      await rx.waitFor((m) => m.lines.includes('STOPPING=1'), 10_000);
      assert.equal(await agent.exited(), 0);
      // Children (mpg123, gpioset) must not be able to talk to systemd in our name.
      assert.ok(!agent.output().includes('NOTIFY_SOCKET'), 'no notify socket leaked into logs');
    } finally {
      await rx.close();
      await broker.close();
    }
  },
);

test('journald volatile mode: install.sh --journald-volatile writes the one drop-in, journald-volatile.sh disable removes it', () => {
  const work = tempDir('sd-journald');
  const rel = join(work, 'release');
  mkdirSync(join(rel, 'dist/agent'), { recursive: true });
  mkdirSync(join(rel, 'node_modules'), { recursive: true });
  writeFileSync(join(rel, 'package.json'), '{"name":"loa","version":"0.0.0-test"}\n');
  writeFileSync(join(rel, 'dist/agent/main.js'), '\n');
  const root = join(work, 'root');
  mkdirSync(root);
  assert.match(install(['--root', root, '--journald-volatile', rel]), /journald: volatile/);
  const dropin = join(root, 'etc/systemd/journald.conf.d/60-loa-volatile.conf');
  assert.match(readFileSync(dropin, 'utf8'), /^\[Journal\]\nStorage=volatile$/m);
  const tool = join(root, 'opt/loa/current/systemd/journald-volatile.sh');
  const off = spawnSync('sh', [tool, 'disable', '--root', root], { encoding: 'utf8' });
  assert.equal(off.status, 0, off.stderr);
  assert.ok(!existsSync(dropin));
  assert.equal(spawnSync('sh', [tool, 'frobnicate'], { encoding: 'utf8' }).status, 64);
});
