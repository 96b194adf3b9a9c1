import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSystemStats } from '../../agent/adapters/system-stats.js';
import { createClockSources } from '../../agent/adapters/clock-sources.js';
import { tempDir } from '../helpers/tmp.js';

test('reads a Raspberry Pi style thermal zone, MemAvailable and timesyncd state', async () => {
  const root = tempDir('stats');
  const zone = (n: number, type: string, temp: string) => {
    mkdirSync(join(root, `sys/class/thermal/thermal_zone${n}`), { recursive: true });
    writeFileSync(join(root, `sys/class/thermal/thermal_zone${n}/type`), `${type}\n`);
    writeFileSync(join(root, `sys/class/thermal/thermal_zone${n}/temp`), `${temp}\n`);
  };
  zone(0, 'battery', '30000');
  zone(1, 'cpu-thermal', '51540');
  mkdirSync(join(root, 'proc'), { recursive: true });
  writeFileSync(
    join(root, 'proc/meminfo'),
    'MemTotal:        3884404 kB\nMemFree:          100000 kB\nMemAvailable:    2048000 kB\n',
  );
  mkdirSync(join(root, 'run/systemd/timesync'), { recursive: true });
  const s = createSystemStats({
    sysRoot: join(root, 'sys'),
    procRoot: join(root, 'proc'),
    runRoot: join(root, 'run'),
    diskPath: root,
  });
  const sys = await s.sys();
  assert.equal(sys.cpuTempC, 51.5);
  assert.equal(sys.memFreeMB, 2000);
  assert.ok(typeof sys.diskFreeMB === 'number' && sys.diskFreeMB > 0);
  assert.equal(await s.clockSynced(), false, 'timesyncd present but not synchronised');
  writeFileSync(join(root, 'run/systemd/timesync/synchronized'), '');
  assert.equal(await s.clockSynced(), true);
});

test('what the platform does not expose is null', async () => {
  const root = tempDir('stats-empty');
  // Only timesyncd's files: this machine's own kernel or chrony must not answer for the fake root.
  const clock = createClockSources({ runRoot: join(root, 'run'), sources: ['timesyncd'] });
  const s = createSystemStats({
    sysRoot: join(root, 'sys'),
    procRoot: join(root, 'proc'),
    diskPath: join(root, 'nope'),
    clock,
  });
  const sys = await s.sys();
  assert.equal(sys.cpuTempC, null);
  assert.equal(sys.memFreeMB, null);
  assert.equal(sys.diskFreeMB, null);
  assert.equal(await s.clockSynced(), null);
});

test('on this machine: real figures from /proc', async () => {
  const sys = await createSystemStats({ diskPath: '/' }).sys();
  assert.ok(sys.memFreeMB !== null && sys.memFreeMB > 0);
  assert.ok(sys.load1 !== null && sys.load1 >= 0);
});
