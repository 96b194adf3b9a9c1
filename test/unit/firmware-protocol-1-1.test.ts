// The host against the board model on every point PROTOCOL.md 1.1 settles (its §9
// checklist names these tests). In-process over PassThrough pairs, one ManualClock for
// board and bridge (driven by run()/until(), stepped by tickAsync(); no sleep), with a
// board speaking 1.1 or 1.0 (`minor: 0`). Each test fails on the host of 1.0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { once } from 'node:events';
import { BoardModel, type BoardModelDeps } from '../../firmware-bridge/board-model.js';
import { BoardErrorReply, FirmwareBridge, type BridgeDeps } from '../../firmware-bridge/bridge.js';
import { ManualClock, ManualTimers } from '../fakes/manual-clock.js';
import { encodeFrame } from '../../firmware-bridge/frame.js';
import {
  COMMAND_TYPES,
  EVENT_TYPES,
  encodeCommand,
  encodeEvent,
  type BoardEvent,
} from '../../firmware-bridge/messages.js';
import { judge } from '../../firmware-bridge/reconcile.js';
import { bareBoard } from '../helpers/bare-board.js';

const PING_MS = 150;

function rig(board: Partial<Omit<BoardModelDeps, 'timers' | 'send'>> = {}, opts: Partial<BridgeDeps> = {}) {
  const clock = new ManualClock();
  let toHost: PassThrough | undefined;
  const model = new BoardModel({
    timers: new ManualTimers(clock),
    ...board,
    send: (b) => void (toHost && !toHost.destroyed && toHost.write(b)),
  });
  let opens = 0;
  const timers = new ManualTimers(clock);
  const bridge = new FirmwareBridge({
    timers,
    pingMs: PING_MS,
    backoff: { minMs: 10, maxMs: 50 },
    open: async () => {
      opens++;
      const h2b = new PassThrough();
      toHost = new PassThrough();
      h2b.on('data', (b: Buffer) => model.receive(b));
      return Duplex.from({ readable: toHost, writable: h2b });
    },
    ...opts,
  });
  const events: BoardEvent[] = [];
  const warnings: Error[] = [];
  bridge.on('event', (e) => events.push(e));
  bridge.on('warning', (e) => warnings.push(e));
  model.start();
  return {
    model,
    bridge,
    events,
    warnings,
    clock,
    /** Drive the clock until `p` settles (see ManualClock.run). */
    run: <T>(p: Promise<T>) => clock.run(p),
    /** Drive the clock until `cond()` holds, failing after `ms` of clock time; returns the clock ms it took. */
    until: (cond: () => boolean, ms: number, what: string) => clock.until(cond, ms, what),
    opens: () => opens,
    /** Bytes on the board's TX line, as if the board sent them. */
    inject: (b: Buffer) => toHost?.write(b),
    async close() {
      await clock.run(bridge.stop());
      model.stop();
      assert.equal(timers.pending(), 0, 'bridge left timers behind');
    },
  };
}

const onAir = (m: BoardModel) => {
  const s = m.state();
  return s.amp && s.input === 'fm' && s.fmFreq === 9850 && s.watchdogS === 10;
};

async function fmOnAir(r: ReturnType<typeof rig>): Promise<void> {
  await r.run(r.bridge.start());
  await r.run(r.bridge.selectInput('fm'));
  await r.run(r.bridge.fmTune(9850));
  assert.equal(await r.run(r.bridge.setAmp(true)), true);
  assert.ok(onAir(r.model));
}

for (const minor of [1, 0]) {
  test(`a reset whose BOOT frames were all lost is noticed and repaired within one ping period (board ${minor === 1 ? '1.1: boot counter in PING' : '1.0: uptime in GET_STATUS'})`, async () => {
    const r = rig({ minor, bootCount: 40 }); // start() is boot 41
    await fmOnAir(r);
    const resets: number[] = [];
    r.bridge.on('reset', (v) => resets.push(v.bootCount));
    await r.clock.tickAsync(1200); // the 1.0 check compares uptimes in whole seconds
    assert.equal(r.model.state().lastEventSeq, 1, 'the host has seen event SEQ 1 (BOOT) already');
    r.model.loseBoot(1);
    r.model.reset('brown-out');
    assert.equal(r.model.state().lastEventSeq, 1, 'after the reset: SEQ 1 again, nothing for SEQs to tell');
    assert.equal(r.model.state().amp, false);
    const ms = await r.until(() => onAir(r.model), 3000, 'amp, input, tuner and watchdog re-applied');
    assert.ok(ms < 2 * PING_MS + 500, `repaired in ${ms} ms, within one ping period (${PING_MS} ms) and the repair`);
    assert.deepEqual(resets, [42], 'reported as a reset, with the new boot counter');
    assert.equal(r.bridge.stats().resets, 1);
    assert.equal(r.events.filter((e) => e.event === 'boot').length, 0, 'no BOOT frame ever reached the host');
    await r.close();
  });
}

test('a 1.0 board reset within the same second of uptime (not smaller): the drift makes the host ask GET_VERSION, and it is a reset', async () => {
  const r = rig({ minor: 0, bootCount: 7 });
  await fmOnAir(r);
  const reset = once(r.bridge, 'reset');
  r.model.loseBoot(1);
  r.model.reset('mcu-watchdog'); // uptime 0 s before and after
  const [v] = await r.run(reset);
  assert.deepEqual([v.bootCount, v.resetReason], [9, 'mcu-watchdog']);
  await r.until(() => onAir(r.model), 3000, 'state re-applied');
  await r.close();
});

test('drift: an amplifier fault whose events were both lost leaves the amp off; the keep-alive puts it back on', async () => {
  const r = rig();
  await fmOnAir(r);
  r.model.silence(true);
  r.model.ampFault('overcurrent'); // amp off; AMP_FAULT 1 lost
  r.model.ampFault(null); // AMP_FAULT 0 lost
  r.model.silence(false);
  const drift = once(r.bridge, 'drift');
  await r.until(() => r.model.state().amp, 3000, 'amp back on');
  assert.match((await r.run(drift))[0].join(), /amp off, wanted on/);
  assert.equal(r.bridge.stats().resets, 0, 'drift is not a reset');
  await r.close();
});

test('a 1.0 board that latches AMP_FAULT until SET_AMP 0: the host clears the latch once the cause went, then switches on', async () => {
  const r = rig({ minor: 0, ampFaultLatch: true });
  await fmOnAir(r);
  r.model.ampFault('overcurrent');
  await r.until(() => r.events.some((e) => e.event === 'amp-fault' && e.fault), 2000, 'fault event');
  await assert.rejects(r.run(r.bridge.setAmp(true)), /hw_fault/);
  await r.clock.tickAsync(3 * PING_MS);
  assert.equal(r.model.state().amp, false, 'refused while the cause is there');
  r.model.ampFault(null);
  await r.until(() => r.model.state().amp, 3000, 'amp on after the latch cleared');
  assert.ok(
    r.events.some((e) => e.event === 'amp-fault' && !e.fault),
    'the latch cleared with its state-0 event',
  );
  await r.close();
});

test('duplicate replies: the second copy is counted and dropped, never taken for the next request', async () => {
  const r = rig({}, { pingMs: 60_000 });
  await r.run(r.bridge.start());
  r.model.duplicateReplies(true);
  const before = r.model.log.length;
  assert.equal(await r.run(r.bridge.setAmp(true)), true);
  assert.equal(await r.run(r.bridge.selectInput('line')), 'line');
  const st = await r.run(r.bridge.request({ cmd: 'get-status' }));
  assert.deepEqual([st.flags.ampOn, st.input], [true, 'line']);
  assert.deepEqual(
    r.model.log.slice(before).map((c) => c.cmd),
    ['set-amp', 'select-input', 'get-status'],
  );
  await r.until(() => r.bridge.stats().lateReplies === 3, 1000, 'three copies counted');
  assert.equal(r.bridge.stats().retries, 0);
  await r.close();
});

test('a keep-alive is never retried: one PING per period, three missed in a row is no answer', async () => {
  const r = rig({}, { pingMs: 100 });
  await r.run(r.bridge.start());
  await assert.rejects(
    (async () => {
      r.model.silence(true);
      return r.run(r.bridge.request({ cmd: 'ping' }));
    })(),
    (e: Error & { attempts?: number }) => e.attempts === 1,
  );
  const pingsBefore = r.model.log.filter((c) => c.cmd === 'ping').length;
  await r.run(once(r.bridge, 'no-answer'));
  const pings = r.model.log.filter((c) => c.cmd === 'ping').length - pingsBefore;
  assert.ok(pings >= 2 && pings <= 3, `${pings} keep-alive PINGs until no-answer, one per period, none retried`);
  r.model.silence(false);
  await r.close();
});

test('BUSY answers a keep-alive: a long command in progress is not a missing board', async () => {
  const r = rig({}, { pingMs: 60, timeoutMs: { 'line-test': 40 } });
  await r.run(r.bridge.start());
  let noAnswer = false;
  r.bridge.on('no-answer', () => (noAnswer = true));
  r.model.slow(1500); // the board takes 1.5 s over this command: BUSY meanwhile
  await assert.rejects(r.run(r.bridge.request({ cmd: 'line-test' })), /no reply within 40 ms/);
  r.model.slow(0);
  await r.clock.tickAsync(1200);
  assert.equal(r.model.log.filter((c) => c.cmd === 'ping').length, 0, 'the PINGs met BUSY (never executed)');
  await r.clock.tickAsync(600);
  assert.equal(noAnswer, false, 'BUSY counted as answered: no no-answer');
  assert.equal(r.bridge.connected, true);
  assert.equal(r.opens(), 1, 'never reopened');
  await r.close();
});

test('a BOOT of version 1 from a mismatched board ends the mismatch at once, not at the 30 s recheck', async () => {
  const r = rig({ protocol: 2 });
  await assert.rejects(r.run(r.bridge.start()), /protocol 2/);
  assert.equal(r.bridge.versionMismatch, true);
  const connected = once(r.bridge, 'connected');
  r.model.flash(1);
  const ms = await r.until(() => r.bridge.connected && !r.bridge.versionMismatch, 3000, 'handshake after the v1 BOOT');
  assert.equal((await r.run(connected))[0].protocol, 1);
  assert.ok(ms < 2000, `${ms} ms`);
  assert.equal(r.opens(), 1, 'the port stayed open through the mismatch');
  await r.close();
});

test('a board frame of a foreign VER that is not frozen is counted and dropped, never taken as an event', async () => {
  const r = rig({}, { pingMs: 60_000 });
  await r.run(r.bridge.start());
  r.inject(encodeFrame({ seq: 9, ...encodeEvent({ event: 'door', open: true }), version: 2 }));
  r.inject(encodeFrame({ seq: 10, ...encodeEvent({ event: 'door', open: true }), version: 1 }));
  await r.until(() => r.events.some((e) => e.event === 'door'), 1000, 'the v1 event');
  assert.equal(r.events.filter((e) => e.event === 'door').length, 1);
  assert.equal(r.bridge.stats().foreignVersion, 1);
  await r.close();
});

test('the input the board confirmed is not selected again (a firmware muting on every select would clip the audio start)', async () => {
  const r = rig({}, { pingMs: 60_000 });
  await r.run(r.bridge.start());
  const before = r.model.state().inputSwitches;
  await r.run(r.bridge.selectInput('fm')); // warm-up
  await r.run(r.bridge.setAmp(true));
  await r.run(r.bridge.selectInput('fm')); // the audio instant
  assert.equal(r.model.log.filter((c) => c.cmd === 'select-input' && c.input === 'fm').length, 1);
  assert.equal(r.model.state().inputSwitches - before, 1);
  // Shutdown after playback already switched off: nothing more is sent.
  await r.run(r.bridge.setAmp(false));
  await r.run(r.bridge.selectInput('ip'));
  const n = r.model.log.length;
  await r.run(r.bridge.setAmp(false));
  await r.run(r.bridge.selectInput('ip'));
  assert.equal(r.model.log.length, n, 'SET_AMP 0 and SELECT_INPUT ip not sent twice');
  await r.close();
});

test('a 1.0 board: keep-alive is GET_STATUS; LINE_TEST is refused under a 6 s watchdog, allowed on 1.1', async () => {
  const old = rig({ minor: 0 }, { pingMs: 100, watchdogS: 3 });
  await old.run(old.bridge.start());
  assert.equal(old.bridge.boardMinor, 0);
  await old.clock.tickAsync(350);
  assert.ok(old.model.log.filter((c) => c.cmd === 'get-status').length >= 2, 'GET_STATUS every period');
  assert.equal(old.model.log.filter((c) => c.cmd === 'ping').length, 0);
  await assert.rejects(old.run(old.bridge.request({ cmd: 'line-test' })), /line-test refused.*1\.0/);
  await old.close();
  const cur = rig({ minor: 1 }, { pingMs: 100, watchdogS: 3 });
  await cur.run(cur.bridge.start());
  assert.equal(cur.bridge.boardMinor, 1);
  assert.equal((await cur.run(cur.bridge.request({ cmd: 'line-test' }))).result, 'ok');
  await cur.close();
});

test('judge(): the verdicts of PROTOCOL.md §4, as data', () => {
  const flags = {
    ampOn: true,
    ampFault: false,
    doorOpen: false,
    mainsLost: false,
    batteryLow: false,
    lineOpen: false,
    lineShort: false,
    watchdogTripped: false,
    fmNoSignal: false,
  };
  const want = { amp: true, input: 'fm' as const, fmFreq: 9850, watchdogS: 10 };
  const known = { bootCount: 41, uptimeS: 100, lastEventSeq: 1, tripped: false };
  assert.deepEqual(judge(want, known, { flags, lastEventSeq: 1, bootCount: 41, input: 'fm' }), {
    reset: null,
    drift: [],
    lostEvents: false,
  });
  assert.match(
    judge(want, known, { flags: { ...flags, ampOn: false }, lastEventSeq: 1, bootCount: 42, input: 'ip' }).reset ?? '',
    /41 → 42/,
  );
  assert.match(judge(want, known, { flags, lastEventSeq: 1, uptimeS: 2 }).reset ?? '', /uptime 100 s → 2 s/);
  assert.deepEqual(judge(want, known, { flags, lastEventSeq: 3, bootCount: 41 }).lostEvents, true);
  assert.deepEqual(
    judge(want, { ...known, tripped: true }, { flags: { ...flags, watchdogTripped: true }, lastEventSeq: 1 }).drift,
    [],
    'a flag still set is not a new trip',
  );
  assert.deepEqual(
    judge({ ...want, amp: false }, known, { flags: { ...flags, ampOn: false, watchdogTripped: true }, lastEventSeq: 1 })
      .drift,
    ['watchdog tripped'],
  );
  assert.deepEqual(judge(want, known, { flags, lastEventSeq: 1, watchdogS: 10, fmFreq: 0, input: 'fm' }).drift, [
    'tuner off, wanted tuned',
  ]);
});

// ---- the reference board on the rules it must keep (§5.2, §5.3, §7) ----

test('board: BOOT repeats until a frame of its VER (even one answered with an ERROR) or a GET_VERSION of any VER', () => {
  for (const [what, poke] of [
    ['BAD_LENGTH', (b: ReturnType<typeof bareBoard>) => b.send(COMMAND_TYPES['set-amp'])],
    ['UNKNOWN_TYPE', (b: ReturnType<typeof bareBoard>) => b.send(0x3e)],
    [
      'GET_VERSION of VER 2',
      (b: ReturnType<typeof bareBoard>) => b.send(COMMAND_TYPES['get-version'], Buffer.alloc(0), 2),
    ],
  ] as const) {
    const b = bareBoard();
    b.model.start();
    b.timers.advance(2500);
    assert.equal(b.boots(), 3, 'BOOT at 0, 1 and 2 s');
    poke(b);
    b.timers.advance(5000);
    assert.equal(b.boots(), 3, `${what} ends the repeat`);
    b.model.stop();
  }
  const b = bareBoard();
  b.model.start();
  b.send(COMMAND_TYPES.ping, Buffer.alloc(0), 2); // a foreign PING: ERROR VERSION, repeat goes on
  b.timers.advance(3500);
  assert.equal(b.boots(), 4, 'BOOT at 0, 1, 2 and 3 s');
  b.model.stop();
});

test('board: the watchdog runs from power-up, trips once per silence with the amp off too, and any SET_AMP clears the flag', () => {
  const b = bareBoard();
  b.model.start();
  b.send(COMMAND_TYPES['get-status']);
  b.timers.advance(10_500);
  assert.equal(b.frames.filter((f) => f.type === EVENT_TYPES.watchdog).length, 1, 'tripped with the amp off');
  b.timers.advance(60_000);
  assert.equal(b.frames.filter((f) => f.type === EVENT_TYPES.watchdog).length, 1, 'once per silence');
  assert.equal(b.model.state().watchdogTripped, true);
  b.send(COMMAND_TYPES['set-amp'], encodeCommand({ cmd: 'set-amp', on: false }).payload);
  assert.equal(b.model.state().watchdogTripped, false, 'SET_AMP 0 acknowledges the trip (1.1)');
  b.model.stop();
});

test('board: a frame answered with an ERROR (not VERSION) feeds the watchdog; a foreign-VER frame does not', () => {
  const b = bareBoard();
  b.model.start();
  b.send(COMMAND_TYPES['set-watchdog'], encodeCommand({ cmd: 'set-watchdog', seconds: 3 }).payload);
  for (let i = 0; i < 15; i++) {
    b.timers.advance(2000);
    b.send(0x3e); // UNKNOWN_TYPE every 2 s for 30 s
  }
  assert.equal(b.frames.filter((f) => f.type === EVENT_TYPES.watchdog).length, 0);
  for (let i = 0; i < 3; i++) {
    b.timers.advance(1000);
    b.send(COMMAND_TYPES.ping, Buffer.alloc(0), 2);
  }
  b.timers.advance(1);
  assert.equal(b.frames.filter((f) => f.type === EVENT_TYPES.watchdog).length, 1, 'VER 2 frames did not feed it');
  b.model.stop();
});

test('board: a command in progress holds the watchdog (a 2.5 s LINE_TEST against N = 3 s)', () => {
  const b = bareBoard();
  b.model.start();
  b.send(COMMAND_TYPES['set-watchdog'], encodeCommand({ cmd: 'set-watchdog', seconds: 3 }).payload);
  b.model.slow(2500);
  b.send(COMMAND_TYPES['line-test']);
  b.timers.advance(2500); // reply sent: the timer restarts
  b.model.slow(0);
  b.timers.advance(2900);
  assert.equal(
    b.frames.filter((f) => f.type === EVENT_TYPES.watchdog).length,
    0,
    'not tripped 5.4 s after the command arrived',
  );
  b.timers.advance(200);
  assert.equal(b.frames.filter((f) => f.type === EVENT_TYPES.watchdog).length, 1, 'trips 3 s after the reply');
  b.model.stop();
});

test('board: FM_STATUS with the tuner off answers zeros; a failed tuner NOT_READY', async () => {
  const r = rig({}, { pingMs: 60_000 });
  await r.run(r.bridge.start());
  assert.deepEqual(await r.run(r.bridge.request({ cmd: 'fm-status' })), {
    freq: 0,
    rssi: 0,
    snr: 0,
    stereo: false,
    signalOk: false,
  });
  r.model.tuner(true);
  await assert.rejects(
    r.run(r.bridge.request({ cmd: 'fm-status' })),
    (e: unknown) => e instanceof BoardErrorReply && e.error.code === 'not_ready',
  );
  await r.close();
});

test('a SET_AMP 0 that failed (BUSY) leaves the amplifier state unknown: the next SET_AMP 0 is sent, never skipped on a guess', async () => {
  const r = rig({}, { pingMs: 60_000, timeoutMs: { 'line-test': 40 } });
  await r.run(r.bridge.start());
  assert.equal(await r.run(r.bridge.setAmp(true)), true);
  r.model.slow(1000);
  await assert.rejects(r.run(r.bridge.request({ cmd: 'line-test' })), /no reply/);
  await assert.rejects(
    r.run(r.bridge.setAmp(false)),
    (e: unknown) => e instanceof BoardErrorReply && e.error.code === 'busy',
  );
  r.model.slow(0);
  await r.clock.tickAsync(1000);
  assert.equal(r.model.state().amp, true, 'the board never took the SET_AMP 0');
  assert.equal(await r.run(r.bridge.setAmp(false)), false);
  assert.equal(r.model.state().amp, false, 'sent again, and taken');
  await r.close();
});
