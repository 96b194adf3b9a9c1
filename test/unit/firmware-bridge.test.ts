// The bridge against the board model, in-process over a pair of PassThrough streams.
// Behaviour at the port only: what the bridge returns and emits, what the board did.
// Board and bridge share one ManualClock: a test drives it with run()/until() (timer to
// timer, I/O settled in between) or steps it with tickAsync(), and never sleeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { once } from 'node:events';
import { BoardModel } from '../../firmware-bridge/board-model.js';
import { BoardErrorReply, BridgeTimeoutError, FirmwareBridge, type BridgeDeps } from '../../firmware-bridge/bridge.js';
import { ManualClock, ManualTimers } from '../fakes/manual-clock.js';
import { encodeFrame, type Frame } from '../../firmware-bridge/frame.js';
import { FrameParser } from '../../firmware-bridge/parser.js';
import { decodeEvent, encodeCommand, type BoardEvent } from '../../firmware-bridge/messages.js';

/** A seeded PRNG so garbage is the same on every run. */
function lcg(seed = 7): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
}

/** A board and a bridge wired through fresh PassThroughs on every open() (a "replug"). */
function rig(opts: Partial<BridgeDeps> = {}) {
  const clock = new ManualClock();
  let toHost: PassThrough | undefined;
  let current: Duplex | undefined;
  const board = new BoardModel({
    timers: new ManualTimers(clock),
    random: lcg(),
    send: (b) => {
      if (toHost && !toHost.destroyed) toHost.write(b);
    },
  });
  let opens = 0;
  const timers = new ManualTimers(clock);
  const bridge = new FirmwareBridge({
    timers,
    pingMs: 60_000,
    backoff: { minMs: 10, maxMs: 50 },
    open: async () => {
      opens++;
      const h2b = new PassThrough();
      const b2h = new PassThrough();
      h2b.on('data', (b: Buffer) => board.receive(b));
      toHost = b2h;
      current = Duplex.from({ readable: b2h, writable: h2b });
      return current;
    },
    ...opts,
  });
  const events: BoardEvent[] = [];
  bridge.on('event', (e) => events.push(e));
  board.start();
  return {
    board,
    bridge,
    events,
    timers,
    clock,
    /** Drive the clock until `p` settles (see ManualClock.run). */
    run: <T>(p: Promise<T>) => clock.run(p),
    /** Drive the clock until `cond()` holds, failing after `ms` of clock time. */
    until: (cond: () => boolean, ms: number, what: string) => clock.until(cond, ms, what),
    opens: () => opens,
    port: () => current,
    async close() {
      await clock.run(bridge.stop());
      board.stop();
      assert.equal(timers.pending(), 0, 'bridge left timers behind');
    },
  };
}

test('request/response: handshake, then replies decoded and matched by SEQ', async () => {
  const r = rig();
  await r.run(r.bridge.start());
  assert.equal(r.bridge.connected, true);
  const ping = await r.run(r.bridge.request({ cmd: 'ping' }));
  assert.equal(ping.flags.ampOn, false);
  assert.equal(await r.run(r.bridge.setAmp(true)), true);
  assert.equal(await r.run(r.bridge.selectInput('fm')), 'fm');
  assert.deepEqual(await r.run(r.bridge.fmTune(9850)), { freq: 9850, rssi: 45 });
  const st = await r.run(r.bridge.request({ cmd: 'get-status' }));
  assert.equal(st.flags.ampOn, true);
  assert.equal(st.input, 'fm');
  assert.equal(st.fmFreq, 9850);
  assert.equal(st.watchdogS, 10);
  await r.close();
});

test('one request in flight: concurrent callers are queued, the board never answers BUSY', async () => {
  const r = rig();
  await r.run(r.bridge.start());
  r.board.slow(20);
  const before = r.board.log.length;
  const results = await r.run(
    Promise.all([
      r.bridge.setAmp(true),
      r.bridge.selectInput('line'),
      r.bridge.request({ cmd: 'ping' }),
      r.bridge.setAmp(false),
    ]),
  );
  assert.deepEqual(results.slice(0, 2), [true, 'line']);
  assert.equal(results[3], false);
  assert.deepEqual(
    r.board.log.slice(before).map((c) => c.cmd),
    ['set-amp', 'select-input', 'ping', 'set-amp'],
  );
  assert.equal(r.bridge.stats().retries, 0);
  await r.close();
});

test('timeouts name the command and seq; idempotent commands are retried, line-test is not', async () => {
  const r = rig({ timeoutMs: { 'set-amp': 40, 'line-test': 40 } });
  await r.run(r.bridge.start());
  r.board.silence(true);
  const before = r.board.log.length;
  await assert.rejects(r.run(r.bridge.setAmp(true)), (e: unknown) => {
    assert.ok(e instanceof BridgeTimeoutError);
    assert.equal(e.command, 'set-amp');
    assert.equal(e.attempts, 3);
    assert.equal(e.retryable, true);
    assert.match(e.message, /^set-amp \(seq \d+\) got no reply within 40 ms after 3 attempt/);
    return true;
  });
  // Silence cuts the board's TX only: it executed every attempt, each with a new SEQ.
  assert.deepEqual(
    r.board.log.slice(before).map((c) => c.cmd),
    ['set-amp', 'set-amp', 'set-amp'],
  );
  assert.equal(r.bridge.stats().retries, 2);
  await assert.rejects(r.run(r.bridge.request({ cmd: 'line-test' })), (e: unknown) => {
    assert.ok(e instanceof BridgeTimeoutError);
    assert.equal(e.command, 'line-test');
    assert.equal(e.attempts, 1);
    return true;
  });
  assert.equal(r.board.log.filter((c) => c.cmd === 'line-test').length, 1);
  assert.equal(r.bridge.stats().retries, 2);
  assert.equal(r.bridge.stats().timeouts, 4);
  r.board.silence(false);
  assert.equal(await r.run(r.bridge.setAmp(false)), false);
  await r.close();
});

test('board errors are not retried and say whether to retry', async () => {
  const r = rig();
  await r.run(r.bridge.start());
  r.board.tuner(true); // 1.1: a tuner merely off answers zeros; a failed one NOT_READY
  await assert.rejects(r.run(r.bridge.request({ cmd: 'fm-status' })), (e: unknown) => {
    assert.ok(e instanceof BoardErrorReply);
    assert.equal(e.error.code, 'not_ready');
    assert.equal(e.retryable, true);
    assert.match(e.message, /fm-status \(seq \d+\)/);
    return true;
  });
  await r.close();
});

test('every scripted sensor fault arrives as a typed event', async () => {
  const r = rig();
  await r.run(r.bridge.start());
  r.board.door(true);
  r.board.mains(true);
  r.board.line('open');
  r.board.line('short');
  r.board.fmSignal(true);
  r.board.door(false);
  await r.until(() => r.events.filter((e) => e.event !== 'boot').length >= 6, 2000, 'events');
  assert.deepEqual(
    r.events.filter((e) => e.event !== 'boot'),
    [
      { event: 'door', open: true },
      { event: 'mains', lost: true, batteryMv: 12_600 },
      { event: 'line', state: 'open', impedance: 0xffff },
      { event: 'line', state: 'short', impedance: 0 },
      { event: 'fm-signal', lost: true, rssi: 6 },
      { event: 'door', open: false },
    ],
  );
  await r.close();
});

test('a board reset is detected from BOOT and the desired state is re-applied, amp last', async () => {
  const r = rig();
  await r.run(r.bridge.start());
  await r.run(r.bridge.selectInput('fm'));
  await r.run(r.bridge.fmTune(9850));
  await r.run(r.bridge.setAmp(true));
  const reset = once(r.bridge, 'reset');
  const reapplied = once(r.bridge, 'reapplied');
  const from = r.board.log.length;
  r.board.reset('brown-out');
  const [v] = await r.run(reset);
  assert.equal(v.bootCount, 2);
  assert.equal(v.resetReason, 'brown-out');
  await r.run(reapplied);
  const s = r.board.state();
  assert.deepEqual([s.amp, s.input, s.fmFreq], [true, 'fm', 9850]);
  assert.deepEqual(
    r.board.log.slice(from).map((c) => c.cmd),
    ['set-watchdog', 'select-input', 'fm-tune', 'set-amp'],
  );
  assert.equal(r.bridge.stats().resets, 1);
  await r.close();
});

test('garbage on the line is counted and the link recovers', async () => {
  const r = rig();
  await r.run(r.bridge.start());
  for (let i = 0; i < 5; i++) {
    r.board.garbage(100);
    assert.equal(await r.run(r.bridge.setAmp(i % 2 === 0)), i % 2 === 0);
  }
  // A false candidate can swallow a reply (PROTOCOL §2.2), so a retry is allowed; a failure is not.
  const s = r.bridge.stats();
  assert.ok(s.garbageBytes > 100, `garbageBytes ${s.garbageBytes}`);
  assert.ok(s.frames >= 6);
  await r.close();
});

test('slow replies within the timeout succeed; slower ones time out, late replies are counted', async () => {
  const r = rig({ timeoutMs: { 'get-status': 60 } });
  await r.run(r.bridge.start());
  r.board.slow(150);
  assert.equal(await r.run(r.bridge.setAmp(true)), true); // 150 ms < 500 ms
  r.board.slow(250);
  await assert.rejects(r.run(r.bridge.request({ cmd: 'get-status' })));
  await r.until(() => r.bridge.stats().lateReplies >= 1, 2000, 'a late reply');
  r.board.slow(0);
  await r.clock.tickAsync(300); // let the board finish its busy command
  assert.equal((await r.run(r.bridge.request({ cmd: 'get-status' }))).flags.ampOn, true);
  await r.close();
});

test('a closed port or unanswered pings make the bridge reconnect by itself', async () => {
  const r = rig({ pingMs: 40, timeoutMs: { ping: 40 }, maxMissedPings: 3 });
  await r.run(r.bridge.start());
  await r.run(r.bridge.setAmp(true));
  r.port()?.destroy();
  await r.until(() => r.opens() >= 2 && r.bridge.connected, 3000, 'reconnect after close');
  const noAnswer = once(r.bridge, 'no-answer');
  r.board.silence(true);
  await r.run(noAnswer);
  r.board.silence(false);
  await r.until(() => r.opens() >= 3 && r.bridge.connected, 3000, 'reconnect after silence');
  assert.equal(r.board.state().amp, true, 'desired amp re-applied after reconnect');
  assert.ok(r.bridge.stats().missedPings >= 3);
  await r.close();
});

test('board watchdog: pings keep the amp on; host silence turns it off and raises WATCHDOG', () => {
  const timers = new ManualTimers();
  const out = new FrameParser();
  const frames: Frame[] = [];
  out.on('data', (f: Frame) => frames.push(f));
  const board = new BoardModel({ timers, send: (b) => out.write(b) });
  board.start();
  let seq = 0;
  const cmd = (c: Parameters<typeof encodeCommand>[0]) =>
    board.receive(encodeFrame({ seq: ++seq, ...encodeCommand(c) }));
  cmd({ cmd: 'set-amp', on: true });
  for (let t = 0; t < 30; t += 3) {
    timers.advance(3000);
    cmd({ cmd: 'ping' });
  }
  assert.equal(board.state().amp, true);
  timers.advance(9_999);
  assert.equal(board.state().amp, true);
  timers.advance(2);
  assert.equal(board.state().amp, false);
  assert.equal(board.state().watchdogTripped, true);
  const last = frames.at(-1);
  assert.ok(last);
  assert.deepEqual(decodeEvent(last.type, last.payload), { event: 'watchdog', seconds: 10 });
  board.stop();
  assert.equal(timers.pending(), 0);
});

test('with a real bridge: amp stays on while it pings, goes off after stop()', async () => {
  const r = rig({ watchdogS: 3, pingMs: undefined }); // pings every N/3 = 1 s
  await r.run(r.bridge.start());
  await r.run(r.bridge.setAmp(true));
  await r.clock.tickAsync(4500);
  assert.equal(r.board.state().amp, true);
  await r.run(r.bridge.stop());
  await r.until(() => !r.board.state().amp, 6000, 'watchdog trip');
  assert.equal(r.board.state().watchdogTripped, true);
  await r.close();
});

test('an event lost on the wire is noticed from the ping and caught up with GET_STATUS', async () => {
  const r = rig({ pingMs: 50 });
  await r.run(r.bridge.start());
  await r.clock.tickAsync(150); // first pings settle the board's last event SEQ (its BOOT)
  const status = once(r.bridge, 'status');
  r.board.silence(true);
  r.board.door(true); // sent into the void
  r.board.silence(false);
  const [st] = await r.run(status);
  assert.equal(st.flags.doorOpen, true);
  assert.equal(
    r.events.some((e) => e.event === 'door'),
    false,
  );
  await r.close();
});

test('a board speaking another protocol version is reported, never driven', async () => {
  const clock = new ManualClock();
  const timers = new ManualTimers(clock);
  let toHost: PassThrough | undefined;
  const board = new BoardModel({
    timers,
    protocol: 2,
    send: (b) => void (toHost && !toHost.destroyed && toHost.write(b)),
  });
  board.start();
  let opens = 0;
  const bridge = new FirmwareBridge({
    timers,
    backoff: { minMs: 1000, maxMs: 1000 },
    open: async () => {
      opens++;
      const h2b = new PassThrough();
      toHost = new PassThrough();
      h2b.on('data', (b: Buffer) => board.receive(b));
      return Duplex.from({ readable: toHost, writable: h2b });
    },
  });
  const mismatch = once(bridge, 'version-mismatch');
  await assert.rejects(clock.run(bridge.start()), /protocol 2/);
  assert.deepEqual(await clock.run(mismatch), [2]);
  assert.equal(bridge.versionMismatch, true);
  // §6: only GET_VERSION, every 30 s; the 1 s backoff must not apply.
  await clock.tickAsync(2500);
  assert.equal(opens, 1, 'no reopen within 2.5 s (the recheck is every 30 s)');
  assert.deepEqual(board.log, [], 'no command executed by a mismatched board');
  await clock.run(bridge.stop());
  board.stop();
  assert.equal(timers.pending(), 0);
});
