// The agent with the `mcu` board (the rig: mcu-rig.ts): every fault the simulator can
// script reaches the centre as hw.fault / hw.recovered on a real Mosquitto, debounced,
// with the heartbeat's state following; resets, watchdog trips, a silent or unplugged
// board, another protocol version, a clean stop and a relay that does not follow.
// What plays through the board is mcu-playback.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../helpers/wait.js';
import { systemClock } from '../../agent/adapters/clock.js';
import { tempDir } from '../helpers/tmp.js';
import { parseConfig } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import { createBoard } from '../../agent/compose/hardware.js';
import { createExecutor } from '../../agent/runtime/command-actions.js';
import { FaultTracker } from '../../agent/domain/fault-tracker.js';
import type { SystemStats } from '../../agent/adapters/system-stats.js';
import { rig, occ, capturedLog, noAudio, streamUrl } from './mcu-rig.js';

test('every simulator fault produces its hw.fault, then hw.recovered once clear, and the heartbeat says fault meanwhile', async () => {
  const r = await rig();
  const m = r.sim.model;
  const cases: [() => void, () => void, string, string][] = [
    [() => m.door(true), () => m.door(false), 'door', 'door_open'],
    [() => m.mains(true), () => m.mains(false), 'mains', 'mains_lost'],
    [() => m.battery(true), () => m.battery(false), 'mains', 'battery_low'],
    [() => m.line('open'), () => m.line('ok'), 'line', 'line_open'],
    [() => m.ampFault('overtemperature'), () => m.ampFault(null), 'amp', 'overtemperature'],
  ];
  for (const [raise] of cases) raise();
  for (const [, , component, code] of cases) {
    const f = await r.waitHw('hw.fault', component, code);
    assert.equal(typeof f.message, 'string');
  }
  const hbFault = await r.centre.waitUntil(
    () => r.heartbeats().find((h) => h.state === 'fault'),
    8000,
    'heartbeat state fault',
  );
  assert.deepEqual((hbFault.amp as { fault: boolean }).fault, true, 'amp fault in the heartbeat');
  for (const [, clear] of cases) clear();
  for (const [, , component, code] of cases) await r.waitHw('hw.recovered', component, code);
  await r.centre.waitUntil(
    () => {
      const hb = r.heartbeats().at(-1);
      return hb?.state === 'idle' ? hb : undefined;
    },
    10_000,
    'heartbeat back to idle',
  );

  // The other line state and amp causes, one after the other (they share a component).
  m.line('short');
  await r.waitHw('hw.fault', 'line', 'line_short');
  m.line('ok');
  await r.waitHw('hw.recovered', 'line', 'line_short');
  m.ampFault('overcurrent');
  await r.waitHw('hw.fault', 'amp', 'overcurrent');
  await assert.rejects(r.board.setAmp(true), /hw_fault/, 'a latched amp fault refuses SET_AMP 1');
  await r.waitHw('hw.fault', 'amp', 'hw_fault');
  m.ampFault(null);
  await r.waitHw('hw.recovered', 'amp', 'overcurrent');
  for (const [, , component, code] of [...cases, [0, 0, 'line', 'line_short'] as const]) {
    assert.equal(r.hw('hw.fault', component, code).length, 1, `one hw.fault ${component} ${code}`);
    assert.equal(r.hw('hw.recovered', component, code).length, 1, `one hw.recovered ${component} ${code}`);
  }
  await r.close();
});

test('a flapping door is one fault and one recovery, whose message counts the flaps', async () => {
  const r = await rig({ recoverS: 3 });
  for (let i = 0; i < 20; i++) {
    r.sim.model.door(i % 2 === 0);
    await new Promise((res) => setTimeout(res, 15));
  }
  const rec = await r.waitHw('hw.recovered', 'door', 'door_open');
  await new Promise((res) => setTimeout(res, 1500));
  assert.equal(r.hw('hw.fault', 'door', 'door_open').length, 1);
  assert.equal(r.hw('hw.recovered', 'door', 'door_open').length, 1);
  assert.match(String(rec.message), /flapped 9 times/);
  await r.close();
});

test('a board reset is reported, the wanted amp/input/tuner state is re-applied, and the fault clears', async () => {
  const r = await rig();
  await r.board.tuner.tune(100.0);
  await r.board.selectInput('fm');
  await r.board.setAmp(true);
  r.sim.model.reset('brown-out');
  const f = await r.waitHw('hw.fault', 'mcu', 'reset');
  assert.match(String(f.message), /brown-out/);
  await r.waitHw('hw.recovered', 'mcu', 'reset');
  const s = r.sim.model.state();
  assert.deepEqual({ amp: s.amp, input: s.input, fmFreq: s.fmFreq }, { amp: true, input: 'fm', fmFreq: 10_000 });
  await r.board.setAmp(false);
  await r.close();
});

test('the board watchdog trips while the host is quiet: reported, the amp is restored as wanted', async () => {
  const r = await rig({ pingMs: 60_000, watchdogS: 3 });
  await r.board.setAmp(true);
  const f = await r.waitHw('hw.fault', 'amp', 'watchdog', 10_000);
  assert.match(String(f.message), /watchdog/);
  await r.waitHw('hw.recovered', 'amp', 'watchdog');
  assert.equal(r.sim.model.state().amp, true, 'amp back on, as the host wants');
  await r.board.setAmp(false);
  await r.close();
});

test(
  'a silent board is hw.fault mcu no_answer; a stream plays on meanwhile; the board is re-driven when it answers',
  { skip: noAudio },
  async () => {
    const r = await rig({ pingMs: 150 });
    r.sim.model.silence(true);
    await r.waitHw('hw.fault', 'mcu', 'no_answer');
    const o = occ('relay', { kind: 'stream', url: streamUrl }, 2000);
    r.agent.playback.fire(o, 0);
    const st = await r.centre.waitUntil(
      () => r.events('play.started')[0],
      8000,
      'play.started while the board is silent',
    );
    assert.equal(st.itemId, 'relay');
    const fin = await r.centre.waitUntil(() => r.events('play.finished')[0], 8000, 'play.finished');
    // It played to the end of its slot (how much of the slot depends on how fast mpg123 started).
    assert.ok(
      Date.parse(String(fin.ts)) >= o.end! - 100,
      `finished at ${String(fin.ts)}, slot end ${new Date(o.end!).toISOString()}`,
    );
    assert.ok(Number(fin.playedMs) > 0);
    assert.equal(r.events('play.failed').length, 0);
    r.sim.model.silence(false);
    await r.waitHw('hw.recovered', 'mcu', 'no_answer', 10_000);
    await r.close();
  },
);

test('a board on another protocol version is reported and never driven', async () => {
  const r = await rig({ protocol: 2 });
  const f = await r.waitHw('hw.fault', 'mcu', 'protocol_version');
  assert.match(String(f.message), /protocol 2/);
  await r.board.setAmp(true).catch(() => undefined);
  assert.equal(r.sim.model.state().amp, false);
  await r.close();
});

test('no serial device at start: the agent starts anyway, reports no_answer, and drives the board once it is plugged in', async () => {
  const r = await rig({ unplugged: true });
  const f = await r.waitHw('hw.fault', 'mcu', 'no_answer');
  assert.match(String(f.message), /not reachable/);
  await r.board.setAmp(true); // recorded, not thrown: applied when the board is back
  r.sim.plug();
  await r.waitHw('hw.recovered', 'mcu', 'no_answer');
  await r.centre.waitUntil(() => (r.sim.model.state().amp ? true : undefined), 5000, 'amp on as wished');
  await r.board.setAmp(false);
  await r.close();
});

test('a line going from open to short: line_short raised first, line_open recovered as "no longer open", never "ok (0 Ω)"', async () => {
  const r = await rig();
  r.sim.model.line('open');
  await r.waitHw('hw.fault', 'line', 'line_open');
  r.sim.model.line('short');
  await r.waitHw('hw.fault', 'line', 'line_short');
  const rec = await r.waitHw('hw.recovered', 'line', 'line_open');
  assert.match(String(rec.message), /no longer open: now shorted \(0 Ω\)/);
  assert.doesNotMatch(String(rec.message), /line ok/);
  const evs = r
    .events()
    .filter((e) => e.component === 'line')
    .map((e) => `${String(e.type)} ${String(e.code)}`);
  assert.deepEqual(evs.slice(0, 3), ['hw.fault line_open', 'hw.fault line_short', 'hw.recovered line_open']);
  r.sim.model.line('ok');
  await r.waitHw('hw.recovered', 'line', 'line_short');
  await r.close();
});

test('a reset whose BOOT was lost: reported and repaired within a ping period; selftest then names the new boot', async () => {
  const r = await rig({ pingMs: 200 });
  await r.board.tuner.tune(98.5);
  await r.board.selectInput('fm');
  await r.board.setAmp(true);
  const before = r.board.firmware!.bootCount;
  r.sim.model.loseBoot(1);
  const t0 = Date.now();
  r.sim.model.reset('brown-out');
  const f = await r.waitHw('hw.fault', 'mcu', 'reset');
  assert.match(String(f.message), /brown-out, boot \d+/);
  await r.centre.waitUntil(
    () => (r.sim.model.state().amp && r.sim.model.state().fmFreq === 9850 ? true : undefined),
    5000,
    'amp and tuner back',
  );
  assert.ok(Date.now() - t0 < 3000, `repaired after ${Date.now() - t0} ms (ping period 200 ms)`);
  assert.equal(r.sim.model.state().input, 'fm');
  const faults = new FaultTracker({ recoverMs: 1000, report: () => undefined });
  const stats = {
    sys: async () => ({ cpuTempC: null, load1: 0, memFreeMB: 500, diskFreeMB: 5000 }),
    clockSynced: async () => true,
  } as unknown as SystemStats;
  const exec = createExecutor({
    clock: { now: () => Date.now() } as never,
    log: createLogger({ level: 'silent', pretty: false }),
    coordinator: r.agent.playback,
    board: r.board,
    faults,
    stats,
    cacheDir: tempDir('selftest'),
    mpg123Path: null,
    snapshot: async () => ({ birth: null, heartbeat: null }),
    setVolume: () => undefined,
    sync: () => ({}),
    fetchMedia: async () => null,
    underSystemd: false,
  });
  const out = await exec({ action: 'selftest' } as never);
  assert.equal(out.ok, true);
  const mcu = (out as unknown as { result: { checks: { name: string; detail: string }[] } }).result.checks.find(
    (c) => c.name === 'mcu',
  );
  assert.match(String(mcu?.detail), new RegExp(`boot ${before + 1}\\b`), 'the boot the board is in now');
  faults.stop();
  await r.board.setAmp(false);
  await r.close();
});

test('a clean stop: no MCU_LOST, SET_AMP 0 / SELECT_INPUT ip sent once; board log lines carry one "mod"; the heartbeat has the link', async () => {
  const cap = capturedLog();
  const r = await rig({ log: cap.log });
  const hb = await r.centre.waitUntil(() => r.heartbeats().find((h) => h.mcu), 10_000, 'heartbeat with mcu');
  assert.deepEqual(Object.keys(hb.mcu as object).sort(), ['badFrames', 'resets', 'timeouts', 'up']);
  assert.equal((hb.mcu as { up: boolean }).up, true);
  await r.board.selectInput('fm');
  await r.board.setAmp(true);
  const from = r.sim.model.log.length;
  await r.agent.stop();
  const sent = r.sim.model.log.slice(from).map((c) => JSON.stringify(c));
  assert.equal(
    sent.filter((c) => c === '{"cmd":"set-amp","on":false}').length,
    1,
    `sent at shutdown: ${sent.join(' ')}`,
  );
  assert.equal(
    sent.filter((c) => c === '{"cmd":"select-input","input":"ip"}').length,
    1,
    `sent at shutdown: ${sent.join(' ')}`,
  );
  assert.equal(cap.lines.filter((l) => /MCU_LOST/.test(l)).length, 0, 'a clean stop is not a lost board');
  r.sim.stop();
  await r.centre.client.endAsync();

  // The board as the agent builds it from its configuration (hardware.ts): one "mod" per line.
  const cap2 = capturedLog();
  const config = parseConfig({
    deviceId: 'mod-box',
    mqtt: { url: 'mqtt://127.0.0.1:1' },
    hardware: { board: 'mcu', mcu: { path: 'sim' } },
  });
  const board = await createBoard(config, cap2.log.child({ mod: 'board' }), systemClock);
  await board.init();
  await board.close();
  assert.ok(cap2.lines.length > 0);
  for (const l of cap2.lines) assert.equal(l.match(/"mod":/g)?.length ?? 0, 1, l);
});

test('a relay that does not follow: repaired at every keep-alive, but logged at warn once, the repeats at debug', async () => {
  const cap = capturedLog();
  const r = await rig({ log: cap.log, pingMs: 150 });
  r.sim.model.relay(true);
  await assert.rejects(r.board.setAmp(true), /hw_fault/);
  const f = await r.waitHw('hw.fault', 'amp', 'hw_fault');
  assert.match(String(f.message), /relay feedback/);
  // Three keep-alives (every 150 ms) each tried the repair.
  await until(() => cap.lines.filter((l) => l.includes('"code":"MCU_DRIFT"')).length >= 3, 10_000, 'three repairs');
  const lines = cap.lines.map((l) => JSON.parse(l) as { level: number; code?: string });
  const drift = lines.filter((l) => l.code === 'MCU_DRIFT');
  assert.ok(drift.length >= 3, `a repair tried at every keep-alive (${drift.length})`);
  assert.equal(drift.filter((l) => l.level >= 40).length, 1, 'one warn line for the same drift');
  assert.ok(lines.filter((l) => l.code === 'MCU_WARNING' && l.level >= 40).length <= 1);
  r.sim.model.relay(false);
  await r.waitHw('hw.recovered', 'amp', 'hw_fault');
  assert.equal(r.sim.model.state().amp, true, 'the amp goes on once the relay follows');
  await r.board.setAmp(false);
  await r.close();
});
