// The in-process simulator behind serialport's mock binding: the bridge drives it as it
// would a real device, including a replug.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { FirmwareBridge } from '../../firmware-bridge/bridge.js';
import { simulatedBoard } from '../../firmware-bridge/sim-port.js';
import { until } from '../helpers/wait.js';

test('the bridge drives the mock-binding simulator and survives an unplug', async () => {
  const sim = simulatedBoard();
  let opens = 0;
  const open = () => (opens++, sim.open());
  const bridge = new FirmwareBridge({ open, pingMs: 60_000, backoff: { minMs: 20, maxMs: 50 } });
  await bridge.start();
  assert.equal(await bridge.setAmp(true), true);
  assert.equal(sim.model.state().amp, true);
  const tuned = await bridge.fmTune(10_003);
  assert.equal(tuned.freq, 10_000, 'the tuner rounds to its own step');

  const down = once(bridge, 'disconnected');
  sim.unplug();
  await down;
  const unplugged = opens;
  await until(() => opens >= unplugged + 3, 10_000, 'a few failed reopens while unplugged');
  const back = once(bridge, 'reapplied');
  sim.plug();
  await back;
  assert.equal(bridge.connected, true);
  assert.equal(sim.model.state().amp, true, 'desired state re-applied after the replug');
  assert.equal(sim.model.state().fmFreq, 10_000);
  await bridge.stop();
  sim.stop();
});

test('scripted faults: a latched amp fault refuses SET_AMP 1 with HW_FAULT; the tuner NOT_READY', async () => {
  const sim = simulatedBoard();
  const bridge = new FirmwareBridge({ open: () => sim.open(), pingMs: 60_000 });
  await bridge.start();
  const ev = once(bridge, 'event');
  sim.model.ampFault('overcurrent');
  assert.deepEqual((await ev)[0], {
    event: 'amp-fault',
    fault: true,
    cause: 'overcurrent',
    currentMa: 4200,
    temperatureC: 31.5,
  });
  await assert.rejects(bridge.setAmp(true), /hw_fault/);
  sim.model.ampFault(null);
  assert.equal(await bridge.setAmp(true), true);
  sim.model.tuner(true);
  await assert.rejects(bridge.fmTune(9_000), /not_ready/);
  const st = await bridge.request({ cmd: 'get-status' });
  assert.equal(st.flags.ampFault, false);
  sim.model.battery(true);
  const st2 = await bridge.request({ cmd: 'get-status' });
  assert.equal(st2.flags.batteryLow, true);
  await bridge.stop();
  sim.stop();
});
