// The agent under a real systemd (issue [4/8] items 1 and 4): a Debian trixie container
// with systemd as PID 1 and Mosquitto, the agent installed the way a technician does
// (`apt install ./loa_<version>_<arch>.deb`, then agent.json), and the unit's behaviour:
// READY and STATUS, the watchdog, restart after kill -9, the sandbox, the signed
// `restart` and `reboot` commands through their units, a clean stop (amplifier off,
// retained `shutdown`), an upgrade to a newer build, remove and purge, journald's
// volatile mode. Prints the timings quoted in the README.
//
// Needs root, systemd-nspawn (systemd-container), mmdebstrap (or debootstrap) and the Debian mirror (or
// a cached root, /var/cache/loa-test/). Skips with the reason otherwise; fails under CI=true.
// Run: npm run test:system (about 4 minutes with a fresh root, 2 with a cached one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/agent-process.js';
import { commandDoc } from '../helpers/box.js';
import { makeKey, sign } from '../helpers/signer.js';
import { tempDir } from '../helpers/tmp.js';
import { Container, containerUnavailable, preparedRoot, sleep, sweepStale, until } from './container.js';
import { otaRollbackCases } from './ota-rollback.js';

const why = containerUnavailable();
if (why && process.env.CI === 'true') throw new Error(`system test cannot run: ${why}`);
const skip = why ?? false;

const DEVICE = 'sys-box';
const ROOT_TOPIC = `loa/v1/d/${DEVICE}`;
const centre = makeKey('centre-system-test');
const V1 = '0.0.1~systest1';
const V2 = '0.0.1~systest2';
// The test's own drop-in: a short watchdog so a frozen agent is caught in seconds (the
// agent derives its pings from WATCHDOG_USEC, so the mechanism is the shipped one), and
// the sandbox probe run with the unit's own sandbox.
const TEST_DROPIN = '/etc/systemd/system/loa-agent.service.d/90-system-test.conf';
const WATCHDOG_S = 6;

const timings: Record<string, string> = {};
const note = (k: string, v: string) => {
  timings[k] = v;
  process.stdout.write(`# timing: ${k}: ${v}\n`);
};
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

let box: Container;
let debs: { v1: string; v2: string };
/** The second build (the upgrade), awaited only by the upgrade test: it builds while the first tests run. */
let secondBuild: Promise<string>;

function buildDeb(version: string, out: string, extra: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const args = [join(REPO_ROOT, 'systemd/deb/build.sh'), '--version', version, '--out', out, ...extra];
    const p = spawn('sh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stdout.on('data', (b: Buffer) => (text += b.toString()));
    p.stderr.on('data', (b: Buffer) => (text += b.toString()));
    p.on('close', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`build.sh --version ${version}: exit ${code}\n${text}`)),
    );
  });
}

before(async () => {
  if (why) return;
  sweepStale((s) => process.stdout.write(`# ${s}\n`));
  // Interrupted (Ctrl-C, a CI timeout's SIGTERM): the container goes down all the same.
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => void (box?.destroy() ?? Promise.resolve()).finally(() => process.exit(130)));
  const scratch = tempDir(`system-${process.pid}`);
  const out = join(scratch, 'debs');
  mkdirSync(out);
  // The packages build while mmdebstrap (or the cache) and the boot go on.
  // The first as released (xz; its size is quoted), the upgrade quicker (gzip, dist/ as built).
  const first = buildDeb(V1, out, []);
  secondBuild = first.then(() => buildDeb(V2, out, ['--no-build', '--compress', 'gzip']));
  first.catch(() => undefined);
  secondBuild.catch(() => undefined);
  const { root } = preparedRoot((s) => process.stdout.write(`# ${s}\n`));
  box = new Container(root, join(scratch, 'box'), [
    [out, '/srv/loa-debs'],
    [join(REPO_ROOT, 'test/system'), '/srv/loa-test'],
  ]);
  box.mount();
  const { bootMs, state } = await box.boot();
  note('container boot to running (first boot)', `${secs(bootMs)} (${state})`);
  const t1 = await first;
  process.stdout.write(`# ${t1.trim().split('\n').pop()}\n`);
  const arch = box.sh('dpkg --print-architecture').trim();
  debs = { v1: `/srv/loa-debs/loa_${V1}_${arch}.deb`, v2: `/srv/loa-debs/loa_${V2}_${arch}.deb` };
  note('.deb size', `${statSync(join(out, `loa_${V1}_${arch}.deb`)).size} bytes`);
});

after(async () => {
  await box?.destroy();
  process.stdout.write(
    `# timings\n${Object.entries(timings)
      .map(([k, v]) => `#   ${k}: ${v}`)
      .join('\n')}\n`,
  );
});

/** The box's agent.json, root:loa 0640 as loa-provision writes it. */
function provision(): void {
  const config = {
    deviceId: DEVICE,
    groups: ['c26734'],
    mqtt: { url: 'mqtt://127.0.0.1:1883', version: 5, reconnect: { minS: 1, maxS: 2 } },
    trustedKeys: [{ kid: centre.kid, publicKey: centre.publicKey }],
    audio: { player: 'stand-in' },
  };
  box.sh('umask 027 && cat > /etc/loa/agent.json && chgrp loa /etc/loa/agent.json', JSON.stringify(config, null, 2));
}

/** Publish a signed command inside the container. */
async function sendCommand(action: string): Promise<string> {
  const doc = commandDoc(DEVICE, action);
  const jws = await sign(doc, centre, { typ: 'loa-command+json' });
  box.sh(`mosquitto_pub -h 127.0.0.1 -q 1 -t ${ROOT_TOPIC}/cmd -s`, jws);
  return doc.id;
}

/** Every message the capture unit saw on loa/#, as [topic, payload]. */
function captured(): [string, string][] {
  const out = box.sh('journalctl -q -u loa-test-capture -o cat --no-pager');
  return out
    .split('\n')
    .filter((l) => l.startsWith('loa/'))
    .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]);
}
const startCapture = () =>
  box.sh(
    `systemctl stop loa-test-capture 2>/dev/null; systemctl reset-failed loa-test-capture 2>/dev/null; systemd-run --quiet --unit=loa-test-capture mosquitto_sub -h 127.0.0.1 -q 1 -t 'loa/#' -F '%t %p'`,
  );

function agent() {
  return box.show('loa-agent.service', [
    'ActiveState',
    'SubState',
    'MainPID',
    'NRestarts',
    'StatusText',
    'Result',
    'ExecMainStatus',
  ]);
}
const journal = (unit: string, boot = '0') => box.sh(`journalctl -q -b ${boot} -u ${unit} -o cat --no-pager`);
/** The JSON log lines of the agent in this boot, parsed. */
const agentLog = (boot = '0') =>
  journal('loa-agent.service', boot)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

async function activeWithNewPid(oldPid: string, ms: number): Promise<Record<string, string>> {
  return until(
    () => {
      const a = agent();
      return a.ActiveState === 'active' && a.MainPID !== '0' && a.MainPID !== oldPid ? a : undefined;
    },
    ms,
    `loa-agent active with a MainPID other than ${oldPid}`,
  );
}

test(
  'apt install ./loa.deb: user, groups, /etc/loa, units enabled; unprovisioned, the unit is skipped by its condition',
  { skip },
  () => {
    const t0 = performance.now();
    const out = box.sh(`apt-get install -y ${debs.v1} 2>&1`);
    note('apt install of the .deb', secs(performance.now() - t0));
    assert.match(out, /not provisioned yet/);
    for (const g of ['gpio', 'dialout', 'audio']) assert.match(box.sh('id -nG loa'), new RegExp(`\\b${g}\\b`));
    assert.equal(box.sh('stat -c "%U:%G %a" /etc/loa').trim(), 'root:loa 750');
    // The release under /opt/loa/releases (the agent's: it installs updates there), the launcher root's.
    assert.equal(box.sh('readlink /opt/loa/current').trim(), `releases/${V1.replace('~', '-')}`);
    assert.equal(box.sh('stat -c "%U:%G" /opt/loa /opt/loa/current/dist/agent/main.js').trim(), 'loa:loa\nloa:loa');
    assert.equal(box.exec(['test', '-f', '/opt/loa/current/PACKAGED']).status, 0, 'the packaged release is marked');
    assert.equal(box.sh('stat -c "%U:%G %a" /usr/lib/loa/loa-launch').trim(), 'root:root 755');
    assert.equal(box.sh('systemctl is-enabled loa-agent.service loa-reboot.path').trim(), 'enabled\nenabled');
    assert.equal(box.sh('systemctl is-active loa-reboot.path').trim(), 'active');
    const a = box.show('loa-agent.service', ['ActiveState', 'ConditionResult']);
    assert.deepEqual(a, { ActiveState: 'inactive', ConditionResult: 'no' });
  },
);

test('provisioned and started: READY with a STATUS line, the retained online status', { skip }, () => {
  provision();
  // The technician's check on the box, as root: the installed release, as the user loa
  // (agent.json is root:loa 0640), exit 0 on this config.
  assert.equal(box.sh('stat -c "%U:%G %a" /usr/bin/loa-agent').trim(), 'root:root 755');
  assert.match(box.sh('loa-agent --check-config'), new RegExp(`configuration OK: device ${DEVICE}`));
  assert.equal(box.exec(['loa-agent']).status, 64, 'loa-agent alone starts no second agent');
  // The devices the probe opens (mode 0666: only the unit's device policy can refuse them):
  // a serial port (ttyS, major 4; 4:64 exists on every PC) and the TUN device (misc 10:200).
  box.sh('mknod -m 0666 /dev/loa-probe-ttyS c 4 64 && mknod -m 0666 /dev/loa-probe-tun c 10 200');
  box.sh(
    `mkdir -p ${TEST_DROPIN.replace(/\/[^/]+$/, '')} && cat > ${TEST_DROPIN} && systemctl daemon-reload`,
    `[Service]\nWatchdogSec=${WATCHDOG_S}\nExecStartPost=/usr/bin/node /srv/loa-test/sandbox-probe.mjs /run/loa/sandbox-probe.json\n`,
  );
  startCapture();
  const t0 = performance.now();
  box.sh('systemctl start loa-agent.service');
  note('systemctl start (Type=notify, returns at READY=1, + the probe)', secs(performance.now() - t0));
  const a = agent();
  assert.equal(a.ActiveState, 'active');
  assert.equal(a.SubState, 'running');
  assert.match(a.StatusText!, /^idle, .*mqtt/);
  assert.equal(box.show('loa-agent.service', ['WatchdogUSec']).WatchdogUSec, `${WATCHDOG_S}s`);
  const status = box.sh(`mosquitto_sub -h 127.0.0.1 -C 1 -W 10 -t ${ROOT_TOPIC}/status`);
  assert.equal(JSON.parse(status).online, true, status);
});

test(
  'the sandbox: state, cache, runtime and the releases writable; the launcher, config and the rest read-only; a serial port opens, other devices do not',
  { skip },
  () => {
    const inside = JSON.parse(box.sh('cat /run/loa/sandbox-probe.json')) as Record<string, Record<string, string>>;
    box.sh('rm -f /tmp/loa-probe-outside.json');
    const outside = JSON.parse(
      box.sh(
        'runuser -u loa -- node /srv/loa-test/sandbox-probe.mjs /tmp/loa-probe-outside.json >/dev/null && cat /tmp/loa-probe-outside.json',
      ),
    ) as typeof inside;
    const msg = `inside the unit: ${JSON.stringify(inside)}\nplain loa: ${JSON.stringify(outside)}`;
    for (const dir of ['/var/lib/loa', '/var/cache/loa', '/run/loa', '/tmp', '/var/tmp'])
      assert.equal(inside.write![dir], 'ok', `${dir} writable\n${msg}`);
    // The agent installs updates into /opt/loa; the launcher that rolls them back is out of its reach.
    assert.equal(inside.write!['/opt/loa'], 'ok', `/opt/loa writable (ReadWritePaths=)\n${msg}`);
    for (const dir of ['/usr/lib/loa', '/etc', '/usr/local/bin'])
      assert.equal(inside.write![dir], 'EROFS', `${dir} read-only\n${msg}`);
    assert.equal(outside.write!['/usr/lib/loa'], 'EACCES', `root's, even without the sandbox\n${msg}`);
    assert.notEqual(inside.write!['/etc/loa'], 'ok', msg);
    for (const dir of ['/root', '/home']) assert.notEqual(inside.write![dir], 'ok', msg);
    assert.equal(inside.read!['/etc/loa/agent.json'], 'ok', msg);
    assert.equal(inside.read!['/proc/1 visible'], 'no', `ProtectProc=invisible\n${msg}`);
    assert.equal(inside.open!['loa-probe-ttyS'], 'ok', `a ttyS port opens (DeviceAllow=char-ttyS)\n${msg}`);
    assert.equal(inside.open!['loa-probe-tun'], 'EPERM', `DevicePolicy=closed refuses the rest\n${msg}`);
    // Not vacuous: as plain loa, outside the unit, the same device opens.
    assert.equal(outside.open!['loa-probe-tun'], 'ok', msg);
    assert.equal(outside.read!['/proc/1 visible'], 'yes', msg);
    if (Object.keys(inside.gpio!).length === 0)
      process.stdout.write(
        '# sandbox: this machine has no GPIO (no /dev/gpiochip*, no /sys/class/gpio): not checked\n',
      );
    for (const [p, r] of Object.entries(inside.gpio!)) assert.equal(r, 'ok', `${p}\n${msg}`);
  },
);

test('the watchdog: kept alive by a healthy agent, fires on a frozen one', { skip }, async () => {
  // The probe has run; the next starts (and the boot after the reboot) go without it.
  box.sh(`cat > ${TEST_DROPIN} && systemctl daemon-reload`, `[Service]\nWatchdogSec=${WATCHDOG_S}\n`);
  const a = agent();
  await sleep(WATCHDOG_S * 3 * 1000);
  const b = agent();
  assert.equal(b.MainPID, a.MainPID, `healthy for ${WATCHDOG_S * 3} s (3 × WatchdogSec): same process`);
  assert.equal(b.NRestarts, a.NRestarts);
  box.sh(`kill -STOP ${a.MainPID}`);
  const t0 = performance.now();
  const c = await activeWithNewPid(a.MainPID!, 60_000);
  note(`frozen (SIGSTOP) → active again (WatchdogSec=${WATCHDOG_S}, RestartSec=5)`, secs(performance.now() - t0));
  assert.equal(Number(c.NRestarts), Number(a.NRestarts) + 1);
  assert.match(journal('loa-agent.service'), /Watchdog timeout/);
});

test('kill -9: systemd restarts the agent', { skip }, async () => {
  const a = agent();
  box.sh(`kill -9 ${a.MainPID}`);
  const t0 = performance.now();
  const b = await activeWithNewPid(a.MainPID!, 30_000);
  note('kill -9 → active again (RestartSec=5)', secs(performance.now() - t0));
  assert.equal(Number(b.NRestarts), Number(a.NRestarts) + 1);
});

test('the signed restart command: answered, exit 75 counted a success, restarted', { skip }, async () => {
  const a = agent();
  const id = await sendCommand('restart');
  const b = await activeWithNewPid(a.MainPID!, 30_000);
  assert.equal(Number(b.NRestarts), Number(a.NRestarts) + 1);
  assert.equal(b.Result, 'success', 'exit 75 is SuccessExitStatus');
  const stops = agentLog().filter((l) => l.msg === 'stopping');
  assert.equal(stops.at(-1)?.why, 'restart command');
  const res = await until(
    () => captured().find(([t, p]) => t === `${ROOT_TOPIC}/cmd/result` && p.includes(id)),
    10_000,
    'the restart result',
  );
  assert.equal(JSON.parse(res[1]).ok, true, res[1]);
});

test(
  'the signed reboot command: loa-reboot.path starts loa-reboot.service, the container reboots, the agent is back at boot',
  { skip },
  async () => {
    const id = await sendCommand('reboot');
    // SuccessAction=reboot reboots the container: systemd-nspawn ends with status 133.
    assert.equal(await box.exited(60_000), 133, 'the container rebooted');
    const t0 = performance.now();
    const { state } = await box.boot();
    await until(
      () => (agent().ActiveState === 'active' ? true : undefined),
      60_000,
      'loa-agent active after the reboot',
    );
    note(
      'container boot → agent active (READY=1), measured from outside',
      `${secs(performance.now() - t0)} (${state})`,
    );
    const inside = box.show('loa-agent.service', ['ActiveEnterTimestampMonotonic']).ActiveEnterTimestampMonotonic;
    const pid1 = box.show('', ['UserspaceTimestampMonotonic']).UserspaceTimestampMonotonic;
    note('systemd start → agent active, inside the container', secs((Number(inside) - Number(pid1)) / 1000));
    const rebootUnit = journal('loa-reboot.service', '-1');
    assert.match(rebootUnit, /reboot requested by a signed command/);
    assert.match(rebootUnit, /Finished loa-reboot\.service/);
    // The agent answered, silenced, then stopped as part of the reboot with the amplifier off.
    const prev = agentLog('-1');
    const stopping = prev.findIndex((l) => l.msg === 'stopping');
    assert.ok(stopping >= 0, 'the agent stopped cleanly at the reboot');
    assert.ok(
      prev.slice(stopping).some((l) => l.msg === 'amplifier off'),
      'amplifier off after stopping',
    );
    assert.ok(prev.some((l) => l.msg === 'reboot requested'));
    assert.ok(id);
  },
);

test('systemctl stop: a clean stop, exit 0, amplifier off, the retained shutdown status', { skip }, () => {
  startCapture();
  const t0 = performance.now();
  box.sh('systemctl stop loa-agent.service');
  note('systemctl stop', secs(performance.now() - t0));
  const a = box.show('loa-agent.service', ['ActiveState', 'Result', 'ExecMainStatus']);
  assert.deepEqual(a, { ActiveState: 'inactive', Result: 'success', ExecMainStatus: '0' });
  const log = agentLog();
  const stopping = log.findLastIndex((l) => l.msg === 'stopping');
  assert.ok(stopping >= 0);
  assert.ok(
    log.slice(stopping).some((l) => l.msg === 'amplifier off'),
    'amplifier off after stopping',
  );
  assert.equal(log.at(-1)?.msg, 'agent stopped');
  const status = JSON.parse(box.sh(`mosquitto_sub -h 127.0.0.1 -C 1 -W 10 -t ${ROOT_TOPIC}/status`)) as Record<
    string,
    unknown
  >;
  assert.equal(status.online, false);
  assert.equal(status.reason, 'shutdown');
});

test('journald volatile mode: one drop-in, the journal then lives in /run only', { skip }, () => {
  assert.match(box.sh('/opt/loa/current/systemd/journald-volatile.sh enable'), /volatile/);
  assert.equal(box.sh('cat /etc/systemd/journald.conf.d/60-loa-volatile.conf').includes('Storage=volatile'), true);
  box.sh('echo volatile-check | systemd-cat -t loa-volatile-check && journalctl --sync');
  assert.match(box.sh('journalctl -q -D /run/log/journal -t loa-volatile-check -o cat'), /volatile-check/, 'in RAM');
  assert.equal(box.sh('journalctl -q -D /var/log/journal -t loa-volatile-check -o cat').trim(), '', 'not on the disk');
  assert.match(box.sh('/opt/loa/current/systemd/journald-volatile.sh status'), /volatile \(/);
});

test('upgrade to a newer build: the config is kept, the agent runs the new version', { skip }, async () => {
  box.sh('systemctl start loa-agent.service');
  const before = agent();
  const configHash = box.sh('sha256sum /etc/loa/agent.json');
  await secondBuild;
  box.sh(`apt-get install -y ${debs.v2} 2>&1`);
  assert.equal(box.sh("dpkg-query -W -f '${Version}' loa"), V2);
  assert.equal(box.sh('sha256sum /etc/loa/agent.json'), configHash);
  const a = await activeWithNewPid(before.MainPID!, 30_000);
  assert.equal(a.SubState, 'running');
  assert.equal(box.sh('readlink /opt/loa/current').trim(), `releases/${V2.replace('~', '-')}`);
  assert.equal(box.sh('ls /opt/loa/releases').trim(), V2.replace('~', '-'), 'dpkg removed the old release');
  const starting = await until(
    () => agentLog().findLast((l) => l.msg === 'agent starting' && l.version === V2.replace('~', '-')),
    20_000,
    'the new version starting',
  );
  assert.ok(starting);
  assert.equal(box.sh('systemctl is-enabled loa-agent.service').trim(), 'enabled');
});

test('remove keeps the configuration and state; purge deletes them and the journald drop-in', { skip }, () => {
  box.sh('apt-get remove -y loa 2>&1');
  assert.equal(box.exec(['systemctl', 'is-active', 'loa-agent.service']).stdout.trim(), 'inactive');
  assert.equal(box.exec(['test', '-e', '/opt/loa/current']).status, 1, 'the release removed');
  assert.equal(box.exec(['test', '-e', '/usr/lib/loa/loa-launch']).status, 1, 'the launcher removed');
  assert.equal(box.exec(['test', '-e', '/usr/lib/systemd/system/loa-agent.service']).status, 1, 'unit removed');
  assert.equal(box.exec(['test', '-e', '/etc/loa/agent.json']).status, 0, 'agent.json kept on remove');
  assert.equal(box.exec(['test', '-e', '/var/lib/loa']).status, 0, 'state kept on remove');
  box.sh('apt-get purge -y loa 2>&1');
  for (const p of [
    '/opt/loa',
    '/etc/loa',
    '/var/lib/loa',
    '/var/cache/loa',
    '/etc/systemd/journald.conf.d/60-loa-volatile.conf',
    '/etc/udev/rules.d/99-loa-io.rules',
  ]) {
    assert.equal(box.exec(['test', '-e', p]).status, 1, `${p} gone after purge`);
  }
  assert.equal(box.exec(['dpkg-query', '-W', 'loa']).status, 1);
});

test(
  'install.sh from a release tree, the other way a technician installs: the agent runs under systemd',
  { skip },
  () => {
    // The release tree is the package's /opt/loa/releases/<v> (package.json, dist/, node_modules/, systemd/).
    const tree = `/root/release/opt/loa/releases/${V2.replace('~', '-')}`;
    box.sh(`rm -rf /root/release && mkdir /root/release && dpkg-deb -x ${debs.v2} /root/release`);
    const out = box.sh(`sh ${tree}/systemd/install.sh --no-build ${tree} 2>&1`);
    assert.match(out, /udevadm control --reload failed/, 'no udevd in a container: said, not fatal');
    assert.match(out, /user: loa exists/, 'purge kept the user');
    provision();
    box.sh('systemctl start loa-agent.service');
    const a = agent();
    assert.equal(a.ActiveState, 'active');
    assert.match(a.StatusText!, /^idle, /);
    assert.ok(agentLog().findLast((l) => l.msg === 'agent starting')?.version === V2.replace('~', '-'));
    assert.equal(box.sh('systemctl is-enabled loa-agent.service loa-reboot.path').trim(), 'enabled\nenabled');
  },
);

// An update's rollback by the launcher, with the release install.sh just installed.
otaRollbackCases({ box: () => box, skip, note, agent, journal, previous: V2.replace('~', '-') });
