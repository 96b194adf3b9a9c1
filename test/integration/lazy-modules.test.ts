// Issue [4/8] item 6, memory near the floor: an agent loads the code of the hardware it
// has, not of every board it could drive (agent/compose/hardware.ts createBoard). Observed from
// outside: the agent process runs with a module hook (test/helpers/module-trace.mjs)
// that lists every module it loads, until it is online. The agent is a bundle whose lazy
// parts are chunks: each loaded chunk counts as the files it was made of.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { tempDir } from '../helpers/tmp.js';
import { REPO_ROOT, spawnAgent, writeConfig } from '../helpers/agent-process.js';
import { boxConfig } from '../helpers/box.js';
import { builtDist } from '../helpers/built.js';
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
  return readFileSync(trace, 'utf8').split('\n').filter(Boolean).flatMap(unbundled);
}

/**
 * The agent runs as a bundle with chunks (systemd/bundle-agent.mjs): a loaded output stands
 * for the files of tsc's it holds, named as they would have been loaded one by one.
 */
function unbundled(url: string): string[] {
  const dist = pathToFileURL(builtDist()).href + '/';
  if (!url.startsWith(`${dist}agent/`)) return [url];
  const sources = JSON.parse(readFileSync(join(builtDist(), 'agent/chunks/sources.json'), 'utf8')) as Record<
    string,
    string[]
  >;
  const held = sources[url.slice(`${dist}agent/`.length)];
  return held ? held.map((f) => new URL(f, dist).href) : [url];
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
