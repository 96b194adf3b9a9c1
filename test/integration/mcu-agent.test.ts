// The agent with the `mcu` board: the board simulator (in-process, behind serialport's
// mock binding) drives every fault it can script, and the centre must see the right
// hw.fault / hw.recovered events on a real Mosquitto, debounced, with the heartbeat's
// state and fm fields following. Playback that does not need the board goes on while
// the board is silent (real mpg123, paced output, a local HTTP stream).
import { systemClock } from '../../agent/adapters/clock.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { DEFAULT_ROOT, deviceFilter, type Received, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { audioTools, makeTone } from '../helpers/audio.js';
import { parseConfig } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import { Agent } from '../../agent/compose/agent.js';
import { McuBoard } from '../../agent/adapters/mcu-board.js';
import { createMpg123Player } from '../../agent/adapters/mpg123-player.js';
import { simulatedBoard, type SimulatedBoard } from '../../firmware-bridge/sim-port.js';
import type { Occurrence } from '../../agent/domain/occurrences.js';
import type { Source } from '../../contract/schedule-doc.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createBoard } from '../../agent/compose/hardware.js';
import { createExecutor } from '../../agent/runtime/command-actions.js';
import { FaultTracker } from '../../agent/domain/fault-tracker.js';
import type { SystemStats } from '../../agent/adapters/system-stats.js';
import type { Logger } from '../../agent/log.js';

const tools = audioTools();
const noAudio =
  tools.mpg123 && tools.sox && tools.lame ? false : 'needs mpg123, sox and lame (apt-get install mpg123 sox lame)';
if (noAudio && process.env.CI === 'true') throw new Error(String(noAudio));

let broker: TestBroker;
let server: Server;
let streamUrl = '';
before(async () => {
  broker = await startBroker();
  if (noAudio) return;
  const body = readFileSync(makeTone({ seconds: 5 }));
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  streamUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/live.mp3`;
});
after(async () => {
  await broker.close();
  server?.close();
});

let boxes = 0;
async function rig(
  opts: {
    pingMs?: number;
    watchdogS?: number;
    recoverS?: number;
    protocol?: number;
    unplugged?: boolean;
    log?: Logger;
  } = {},
) {
  const deviceId = `mcu-box-${++boxes}`;
  const dir = tempDir('mcu');
  const config = parseConfig({
    deviceId,
    mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1' },
    stateDir: join(dir, 'state'),
    cacheDir: join(dir, 'cache'),
    heartbeatS: 5,
    hardware: { board: 'mcu', ampWarmUpMs: 100, ampHoldMs: 300, faultRecoverS: opts.recoverS ?? 1 },
    audio: { player: 'mpg123', output: 'paced' },
    outbox: { synchronous: 'normal' },
  });
  const log = opts.log ?? createLogger({ level: 'silent', pretty: false });
  const sim: SimulatedBoard = simulatedBoard(opts.protocol ? { protocol: opts.protocol } : {});
  if (opts.unplugged) sim.unplug();
  const board = new McuBoard({
    open: () => sim.open(),
    watchdogS: opts.watchdogS ?? 10,
    log,
    fmPollMs: 200,
    bridge: { pingMs: opts.pingMs ?? 200, backoff: { minMs: 50, maxMs: 200 } },
  });
  const centre = await Watcher.connect(broker.url, [deviceFilter(DEFAULT_ROOT, deviceId)]);
  const agent = new Agent({
    config,
    log,
    board,
    player: createMpg123Player({ output: { kind: 'paced' }, startTimeoutMs: 5000, stallTimeoutMs: 3000 }),
  });
  await agent.start();
  await centre.waitFor((m) => m.topic.endsWith('/status') && m.json().online === true, 10_000, 'birth');
  const events = (type?: string) =>
    centre.messages
      .filter((m) => m.topic.endsWith('/events'))
      .map((m) => m.json())
      .filter((e) => type === undefined || e.type === type);
  const heartbeats = () => centre.messages.filter((m) => m.topic.endsWith('/heartbeat')).map((m: Received) => m.json());
  const hw = (type: 'hw.fault' | 'hw.recovered', component: string, code: string) =>
    events(type).filter((e) => e.component === component && e.code === code);
  const waitHw = (type: 'hw.fault' | 'hw.recovered', component: string, code: string, ms = 8000) =>
    centre.waitUntil(
      () => hw(type, component, code)[0],
      ms,
      `${type} ${component} ${code}: saw ${JSON.stringify(events().map((e) => `${String(e.type)} ${String(e.component ?? e.itemId)} ${String(e.code ?? '')}`))}`,
    );
  return {
    agent,
    board,
    sim,
    centre,
    events,
    heartbeats,
    hw,
    waitHw,
    async close() {
      await agent.stop();
      sim.stop();
      await centre.client.endAsync();
    },
  };
}

function occ(itemId: string, source: Source, durationMs: number, over: Partial<Occurrence> = {}): Occurrence {
  const start = Date.now();
  return {
    key: `doc/${itemId}/${new Date(start).toISOString()}`,
    docId: 'doc',
    docVersion: 1,
    topic: 't',
    itemId,
    start,
    end: start + durationMs,
    durationMs,
    priority: 50,
    volume: undefined,
    source,
    media: [],
    ...over,
  };
}

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

test('FM: the item tunes the receiver, the heartbeat reports fm.rssi, a line fault names the occurrence, signal loss falls back', async () => {
  const r = await rig();
  r.agent.playback.fire(occ('vov1', { kind: 'fm', freqMHz: 100.0, fallback: { kind: 'line' } }, 20_000), 0);
  await r.centre.waitUntil(() => r.events('play.started')[0], 8000, 'fm play.started');
  assert.equal(r.sim.model.state().fmFreq, 10_000);
  assert.equal(r.sim.model.state().input, 'fm');
  const hb = await r.centre.waitUntil(
    () => r.heartbeats().find((h) => h.state === 'playing' && h.fm),
    8000,
    'heartbeat with fm',
  );
  assert.deepEqual(hb.fm, { freqMHz: 100, rssi: 45 });

  r.sim.model.line('short');
  const lf = await r.waitHw('hw.fault', 'line', 'line_short');
  assert.equal(lf.itemId, 'vov1');
  assert.equal(lf.docId, 'doc');
  assert.equal(typeof lf.occurrence, 'string');

  r.sim.model.fmSignal(true);
  await r.waitHw('hw.fault', 'fm', 'no_signal');
  const fo = await r.centre.waitUntil(() => r.events('play.failover')[0], 8000, 'play.failover to the fallback');
  assert.deepEqual({ from: fo.from, to: fo.to }, { from: 'fm', to: 'fallback:line' });
  await r.centre.waitUntil(
    () => (r.sim.model.state().input === 'line' ? true : undefined),
    5000,
    'input switched to line',
  );
  await r.agent.playback.stopAll('stopped');
  await r.close();
});

test('an ad-hoc FM play (not pre-warmed): the station is tuned before its input is selected and the amplifier opens', async () => {
  const r = await rig();
  const from = r.sim.model.log.length;
  r.agent.playback.fire(occ('adhoc-fm', { kind: 'fm', freqMHz: 101.5 }, 3000, { priority: 75 }), 0);
  await r.centre.waitUntil(() => r.events('play.started')[0], 8000, 'fm play.started');
  const log = r.sim.model.log.slice(from);
  const at = (p: (c: (typeof log)[number]) => boolean, what: string) => {
    const i = log.findIndex(p);
    assert.ok(i >= 0, `${what} sent: ${JSON.stringify(log)}`);
    return i;
  };
  const tune = at((c) => c.cmd === 'fm-tune' && c.freq === 10_150, 'FM_TUNE 101.5');
  const input = at((c) => c.cmd === 'select-input' && c.input === 'fm', 'SELECT_INPUT fm');
  const amp = at((c) => c.cmd === 'set-amp' && c.on, 'SET_AMP 1');
  assert.ok(
    tune < input && tune < amp,
    `tuned first (the previous station never on air): ${JSON.stringify(log.map((c) => c.cmd))}`,
  );
  await r.agent.playback.stopAll('stopped');
  await r.close();
});

test(
  'a stream whose amplifier the board refuses (fault latched): play.failed hardware, never play.started',
  { skip: noAudio },
  async () => {
    const r = await rig();
    r.sim.model.ampFault('overcurrent');
    await r.waitHw('hw.fault', 'amp', 'overcurrent');
    r.agent.playback.fire(occ('relay', { kind: 'stream', url: streamUrl }, 5000), 0);
    const failed = await r.centre.waitUntil(() => r.events('play.failed')[0], 10_000, 'play.failed');
    assert.equal(failed.reason, 'hardware');
    assert.match(String(failed.message), /refused to switch it on/);
    assert.equal(r.events('play.started').length, 0, 'no proof of play for audio into a refused amplifier');
    r.sim.model.ampFault(null);
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

test('FM signal loss without a fallback: the relay stays on FM and the fault tells the centre', async () => {
  const r = await rig();
  r.agent.playback.fire(occ('vov2', { kind: 'fm', freqMHz: 97.0 }, 20_000), 0);
  await r.centre.waitUntil(() => r.events('play.started')[0], 8000, 'fm play.started');
  r.sim.model.fmSignal(true);
  await r.waitHw('hw.fault', 'fm', 'no_signal');
  await new Promise((res) => setTimeout(res, 500));
  assert.equal(r.events('play.failover').length, 0);
  assert.equal(r.events('play.failed').length, 0);
  assert.equal(r.sim.model.state().input, 'fm');
  assert.equal(r.agent.playback.playing()?.itemId, 'vov2');
  await r.agent.playback.stopAll('stopped');
  await r.close();
});

/** JSON log lines as the agent writes them (pino to a stream, as on stdout under journald). */
function capturedLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { log: pino({ base: undefined, level: 'debug' }, out), lines };
}

test('an fm item whose amplifier the board refuses fails with reason hardware (no false play.started); hw_fault recovers with the fault', async () => {
  const r = await rig();
  r.sim.model.ampFault('overcurrent');
  await r.waitHw('hw.fault', 'amp', 'overcurrent');
  r.agent.playback.fire(occ('vov3', { kind: 'fm', freqMHz: 99.0 }, 20_000), 0);
  const failed = await r.centre.waitUntil(() => r.events('play.failed')[0], 8000, 'play.failed');
  assert.equal(failed.reason, 'hardware');
  assert.match(String(failed.message), /amplifier is off/);
  assert.equal(r.events('play.started').length, 0, 'no proof of play for audio that was not out');
  assert.equal(r.sim.model.state().amp, false);
  await r.waitHw('hw.fault', 'amp', 'hw_fault');
  r.sim.model.ampFault(null);
  await r.waitHw('hw.recovered', 'amp', 'overcurrent');
  const rec = await r.waitHw('hw.recovered', 'amp', 'hw_fault');
  assert.match(String(rec.message), /cleared/);
  await r.close();
});

test('an FM item: the input is selected once, at the warm-up, not again when the audio starts', async () => {
  const r = await rig();
  const o = occ('vov4', { kind: 'fm', freqMHz: 101.0 }, 2000);
  r.agent.playback.prepare(o);
  await r.centre.waitUntil(() => (r.sim.model.state().amp ? true : undefined), 5000, 'warm-up: amp on');
  const switches = r.sim.model.state().inputSwitches;
  r.agent.playback.fire(o, 0);
  await r.centre.waitUntil(() => r.events('play.started')[0], 8000, 'fm play.started');
  assert.equal(
    r.sim.model.state().inputSwitches,
    switches,
    'no second select (a muting firmware would clip the start)',
  );
  assert.equal(r.sim.model.log.filter((c) => c.cmd === 'select-input' && c.input === 'fm').length, 1);
  await r.agent.playback.stopAll('stopped');
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
  await new Promise((res) => setTimeout(res, 1500));
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
