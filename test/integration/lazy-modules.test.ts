// Issue [4/8] item 6, memory near the floor: an agent loads the code of the hardware it
// has, not of every board it could drive (agent/compose/hardware.ts createBoard). Observed from
// outside: the agent process runs with a module hook (test/helpers/module-trace.mjs)
// that lists every module it loads, until it is online.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { tempDir } from '../helpers/tmp.js';
import { REPO_ROOT, spawnAgent, writeConfig } from '../helpers/agent-process.js';
import { boxConfig } from '../helpers/box.js';
import { makeKey } from '../helpers/signer.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.close();
});

/** The modules an agent with `hardware` loaded by the time it published its birth. */
async function modulesLoaded(tag: string, hardware: Record<string, unknown>): Promise<string[]> {
  const dir = tempDir(`lazy-${tag}`);
  const trace = join(dir, 'modules.txt');
  const cfg = writeConfig(
    dir,
    boxConfig(broker, makeKey('k'), `lazy-${tag}`, dir, { hardware, log: { level: 'info' } }),
  );
  const agent = spawnAgent(['--config', cfg], {
    NODE_OPTIONS: `--import ${join(REPO_ROOT, 'test/helpers/module-trace.mjs')}`,
    LOA_MODULE_TRACE: trace,
  });
  try {
    await agent.waitForLog(/birth published/, 30_000);
  } finally {
    assert.equal(await agent.term(), 0, agent.output().slice(-2000));
  }
  return readFileSync(trace, 'utf8').split('\n').filter(Boolean);
}

const serialCode = (mods: string[]) =>
  mods.filter((m) => /\/(serialport|@serialport)\/|\/firmware-bridge\/|mcu-board|gpio-(board|sysfs|gpiod)/.test(m));

test('a box with the simulated board loads neither serialport, the firmware bridge nor the GPIO drivers', async () => {
  const mods = await modulesLoaded('sim', { board: 'sim', ampWarmUpMs: 300, ampHoldMs: 100 });
  assert.ok(
    mods.some((m) => m.includes('/agent/adapters/sim-board')),
    `the trace sees the agent's own modules: ${mods.length} lines`,
  );
  assert.deepEqual(serialCode(mods), []);
});

test('the MCU board (simulated port) does load them: the trace would see a regression', async () => {
  const mods = await modulesLoaded('mcu', { board: 'mcu', mcu: { path: 'sim' }, ampWarmUpMs: 300, ampHoldMs: 100 });
  const serial = serialCode(mods);
  assert.ok(
    serial.some((m) => m.includes('/firmware-bridge/')),
    serial.join('\n'),
  );
  assert.ok(
    serial.some((m) => /serialport/.test(m)),
    serial.join('\n'),
  );
  assert.ok(!serial.some((m) => /gpio-/.test(m)), 'and not the GPIO drivers');
});
