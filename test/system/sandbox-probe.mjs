// Run inside the system-test container, as loa-agent.service's ExecStartPost= (a test
// drop-in), so it has exactly the agent's sandbox: user loa and its groups, the mount
// namespace (ProtectSystem=strict, ReadWritePaths=, PrivateTmp=, ProtectHome=), the
// cgroup's device program (DevicePolicy=closed, DeviceAllow=), the system call filter.
// The test runs it once more as plain `loa` outside the unit, to show what the sandbox
// takes away. Plain JavaScript: the container's Debian node runs it without tsx.
//
//   node sandbox-probe.mjs OUT.json
import {
  accessSync,
  closeSync,
  constants as C,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2];
const result = { write: {}, read: {}, open: {}, gpio: {} };
const code = (fn) => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return err.code ?? String(err);
  }
};

// Writing: a file created and removed in each directory.
for (const dir of [
  '/var/lib/loa',
  '/var/cache/loa',
  '/run/loa',
  '/tmp',
  '/opt/loa',
  '/usr/lib/loa',
  '/etc/loa',
  '/etc',
  '/usr/local/bin',
  '/var/tmp',
  '/root',
  '/home',
]) {
  const f = join(dir, `.probe-${process.pid}`);
  result.write[dir] = code(() => {
    writeFileSync(f, 'x');
    rmSync(f);
  });
}
// Reading: the agent's own config, and another process's details (ProtectProc=invisible).
result.read['/etc/loa/agent.json'] = code(() => readFileSync('/etc/loa/agent.json'));
result.read['/proc/1/environ'] = code(() => readFileSync('/proc/1/environ'));
result.read['/proc/1 visible'] = existsSync('/proc/1') ? 'yes' : 'no';
// Devices: made by the test with mode 0666, so only the device policy can refuse them.
for (const dev of readdirSync('/dev').filter((n) => n.startsWith('loa-probe-'))) {
  result.open[dev] = code(() => closeSync(openSync(join('/dev', dev), C.O_RDWR | C.O_NOCTTY | C.O_NONBLOCK)));
}
// GPIO, where the machine has any: character devices (gpiod backend), sysfs (sysfs backend).
for (const chip of readdirSync('/dev').filter((n) => /^gpiochip\d+$/.test(n))) {
  result.gpio[`/dev/${chip}`] = code(() => closeSync(openSync(join('/dev', chip), C.O_RDWR)));
}
if (existsSync('/sys/class/gpio/export'))
  result.gpio['/sys/class/gpio/export'] = code(() => accessSync('/sys/class/gpio/export', C.W_OK));

const json = JSON.stringify(result);
process.stdout.write(`sandbox-probe ${json}\n`);
if (out) writeFileSync(out, json);
