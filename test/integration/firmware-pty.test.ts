// The bridge over a real pseudo-terminal pair (socat) to the simulator running as its
// own process: what the box does with a USB-serial board, minus the board.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { once } from 'node:events';
import { FirmwareBridge } from '../../firmware-bridge/bridge.js';
import type { BoardEvent } from '../../firmware-bridge/messages.js';
import { tempDir } from '../helpers/tmp.js';
import { SOCAT, ask, openPort, startSim, startSocat, stopProc, until, withDeadline } from '../helpers/pty-board.js';

/**
 * socat, the simulator process and a bridge (N = 3 s: a keep-alive every second), set up
 * before the tests of the describe it is called in and torn down after them.
 */
function ptyRig(
  tag: string,
  bootCount: number,
  simArgs: string[] = [],
  start: (b: FirmwareBridge) => Promise<void> = (b) => b.start(),
) {
  const dir = SOCAT ? tempDir(tag) : '';
  const r = {} as { socat?: ChildProcess; sim: ReturnType<typeof startSim>; bridge: FirmwareBridge };
  before(async () => {
    r.socat = await startSocat(dir);
    r.sim = startSim(dir, bootCount, simArgs);
    await r.sim.ready();
    r.bridge = new FirmwareBridge({
      open: () => openPort(join(dir, 'host')),
      watchdogS: 3,
      backoff: { minMs: 100, maxMs: 1000 },
    });
    r.bridge.on('warning', () => undefined);
    await start(r.bridge);
  });
  after(async () => {
    await r.bridge?.stop();
    await stopProc(r.sim?.proc);
    await stopProc(r.socat);
  });
  return r;
}

const getStatus = (bridge: FirmwareBridge) => bridge.request({ cmd: 'get-status' });
type Status = Awaited<ReturnType<typeof getStatus>>;

/**
 * The board's status once `ok` holds, asked every 100 ms for up to `ms`; past that the last
 * status, so the assertion after it names what the board had instead. A deadline, not a
 * bound: how soon a repair came is counted in keep-alives (`keepAlivesBefore`).
 */
async function statusOnce(bridge: FirmwareBridge, ok: (st: Status) => boolean, ms = 30_000): Promise<Status> {
  let st: Status | undefined;
  await until(async () => ok((st = await getStatus(bridge))), ms, 'the status wanted', 100).catch(() => undefined);
  return st!;
}

// A timeout so a bridge that never reconnects fails the run instead of hanging it.
const simState = async (sim: ReturnType<typeof startSim>) =>
  JSON.parse((await ask(sim, 'state', 'state ')).slice(6)) as {
    fmFreq: number;
    watchdogS: number;
    amp: boolean;
    watchdogTripped: boolean;
  };
const simCount = async (sim: ReturnType<typeof startSim>, cmd = '') =>
  Number((await ask(sim, `count ${cmd}`.trim(), 'count ')).slice(6));
/**
 * Keep-alive periods (each begins with `first`: PING on 1.1, GET_STATUS on 1.0) before the
 * first command that is not a keep-alive's: where re-applying the wanted state began (it
 * reads GET_STATUS again itself).
 */
const keepAlivesBefore = (log: string[], first: string): number => {
  const repair = log.findIndex((c) => c !== 'ping' && c !== 'get-status');
  return log.slice(0, repair < 0 ? log.length : repair).filter((c) => c === first).length;
};
/** The commands the simulated board executed, in order, from the n-th on. */
const simLog = async (sim: ReturnType<typeof startSim>, from: number) =>
  JSON.parse((await ask(sim, `log ${from}`, 'log ')).slice(4)) as { cmd: string }[];

describe(
  'firmware bridge over a socat pty pair',
  { skip: SOCAT ? false : 'socat not installed', timeout: 120_000 },
  () => {
    const dir = SOCAT ? tempDir('fw-pty') : '';
    let socat: ChildProcess | undefined;
    let sim: ReturnType<typeof startSim> | undefined;
    let bridge: FirmwareBridge;
    const events: BoardEvent[] = [];

    before(async () => {
      socat = await startSocat(dir);
      sim = startSim(dir, 0);
      await sim.ready();
      // watchdog 3 s: pings every 1 s, so a dead link is noticed in ~3 s (generous for CI).
      bridge = new FirmwareBridge({
        open: () => openPort(join(dir, 'host')),
        watchdogS: 3,
        backoff: { minMs: 100, maxMs: 1000 },
      });
      bridge.on('event', (e) => events.push(e));
      bridge.on('warning', () => undefined);
      if (process.env.FW_DEBUG)
        for (const n of ['connected', 'disconnected', 'reset', 'reapplied', 'no-answer'] as const)
          bridge.on(n, (...a: unknown[]) => console.error(Date.now(), n, ...a));
      await bridge.start();
    });

    after(async () => {
      await bridge?.stop();
      await stopProc(sim?.proc);
      await stopProc(socat);
    });

    test('ping round trip and the relay/tuner commands', async () => {
      const ping = await bridge.request({ cmd: 'ping' });
      assert.equal(typeof ping.lastEventSeq, 'number');
      assert.equal(await bridge.selectInput('fm'), 'fm');
      assert.deepEqual(await bridge.fmTune(9850), { freq: 9850, rssi: 45 });
      assert.equal(await bridge.setAmp(true), true);
      const st = await bridge.request({ cmd: 'get-status' });
      assert.deepEqual([st.flags.ampOn, st.input, st.fmFreq, st.watchdogS], [true, 'fm', 9850, 3]);
    });

    test('a reset scripted on the simulator: BOOT seen, desired state re-applied', async () => {
      assert.ok(sim);
      const reset = once(bridge, 'reset');
      const reapplied = once(bridge, 'reapplied');
      await sim.script('reset');
      const [v] = await reset;
      assert.equal(v.bootCount, 2);
      await reapplied;
      const st = await bridge.request({ cmd: 'get-status' });
      assert.deepEqual([st.flags.ampOn, st.input, st.fmFreq, st.watchdogS], [true, 'fm', 9850, 3]);
    });

    test('a reset whose BOOT frames are all lost: found by the next PING (boot counter) and repaired within one ping period', async () => {
      assert.ok(sim);
      const boots = events.filter((e) => e.event === 'boot').length;
      const reset = once(bridge, 'reset');
      const from = await simCount(sim);
      await sim.script('reset-quiet');
      const [v] = await withDeadline(reset, 30_000, 'reset noticed');
      assert.equal(v.bootCount, 3);
      assert.equal(v.resetReason, 'brown-out');
      await until(() => bridge.stats().resets >= 2, 30_000, 'reset counted');
      const st = await statusOnce(bridge, (s) => s.flags.ampOn && s.fmFreq === 9850);
      assert.deepEqual([st.flags.ampOn, st.input, st.fmFreq, st.watchdogS], [true, 'fm', 9850, 3]);
      // Ping period 1 s (N = 3 s): noticed at the next keep-alive, repaired right after;
      // counted in keep-alives from the board's record, not in wall time (a loaded run
      // took 2.6 s where 2.5 s was the bound).
      const log = (await simLog(sim, from)).map((c) => c.cmd);
      const periods = keepAlivesBefore(log, 'ping');
      assert.ok(log.includes('set-amp') && periods <= 2, `repaired after ${periods} keep-alives: ${log.join(' ')}`);
      assert.equal(events.filter((e) => e.event === 'boot').length, boots, 'no BOOT frame reached the host');
    });

    test('every simulator fault produces the matching bridge event', async () => {
      assert.ok(sim);
      const from = events.length;
      const expect: [string, Partial<BoardEvent>][] = [
        ['door open', { event: 'door', open: true }],
        ['mains lost', { event: 'mains', lost: true }],
        ['line open', { event: 'line', state: 'open' }],
        ['line short', { event: 'line', state: 'short' }],
        ['fm loss', { event: 'fm-signal', lost: true }],
        ['door closed', { event: 'door', open: false }],
        ['mains present', { event: 'mains', lost: false }],
      ];
      for (const [cmd, want] of expect) {
        await sim.script(cmd);
        await until(
          () =>
            events
              .slice(from)
              .some((e) => Object.entries(want).every(([k, v]) => (e as Record<string, unknown>)[k] === v)),
          5000,
          `event for "${cmd}"`,
        );
      }
    });

    test('garbage and slow replies on the wire are survived', async () => {
      assert.ok(sim);
      await sim.script('garbage 200');
      await sim.script('slow 100');
      assert.equal(await bridge.setAmp(true), true);
      await sim.script('slow 0');
      assert.ok(bridge.stats().garbageBytes > 0);
    });

    test('replug: socat and the simulator die and come back; the bridge reconnects by itself', async () => {
      const disconnected = once(bridge, 'disconnected');
      await stopProc(sim?.proc);
      await stopProc(socat);
      await withDeadline(disconnected, 15_000, 'disconnected'); // port error/close or three missed pings
      assert.equal(bridge.connected, false);
      const tries = bridge.stats().reconnects;
      await until(() => bridge.stats().reconnects > tries, 5000, 'a reopen tried while unplugged');
      socat = await startSocat(dir);
      sim = startSim(dir, 5);
      const connected = once(bridge, 'connected');
      await sim.ready();
      const [v] = await withDeadline(connected, 30_000, 'reconnect');
      assert.equal(v.bootCount, 6);
      await until(() => bridge.connected, 10_000, 'bridge connected');
      const st = await bridge.request({ cmd: 'get-status' });
      assert.deepEqual(
        [st.flags.ampOn, st.input, st.fmFreq],
        [true, 'fm', 9850],
        'desired state re-applied after replug',
      );
      assert.ok(bridge.stats().reconnects >= 1);
    });
  },
);

describe(
  'a 1.0 board (3-byte PING, no boot counter) over a socat pty pair',
  { skip: SOCAT ? false : 'socat not installed', timeout: 120_000 },
  () => {
    const r = ptyRig('fw-pty10', 10, ['--minor', '0']);

    test('a reset with its BOOT lost is found from GET_STATUS (uptime backwards, amp off) and repaired', async () => {
      assert.ok(r.sim);
      assert.equal(r.bridge.boardMinor, 0);
      await r.bridge.selectInput('line');
      assert.equal(await r.bridge.setAmp(true), true);
      await until(async () => (await getStatus(r.bridge)).uptimeS >= 1, 5000, 'board uptime ≥ 1 s', 100); // so a reset makes it go backwards
      const reset = once(r.bridge, 'reset');
      const from = await simCount(r.sim);
      await r.sim.script('reset-quiet');
      const [v] = await withDeadline(reset, 30_000, 'reset noticed');
      assert.equal(v.bootCount, 12);
      const st = await statusOnce(r.bridge, (s) => s.flags.ampOn);
      assert.deepEqual([st.flags.ampOn, st.input, st.watchdogS], [true, 'line', 3]);
      // Within a keep-alive period or two (1000 ms each), counted from the board's record
      // (as the drift tests below): a 1.0 keep-alive is GET_STATUS, the repair a SET_AMP 1.
      const log = (await simLog(r.sim, from)).map((c) => c.cmd);
      const periods = keepAlivesBefore(log, 'get-status');
      assert.ok(log.includes('set-amp') && periods <= 2, `repaired after ${periods} keep-alives: ${log.join(' ')}`);
    });
  },
);

// Issue [2/8] item 2: what an independent board written from PROTOCOL.md 1.1 showed.
for (const minor of [1, 0] as const) {
  describe(
    `board drift and watchdog trips, protocol 1.${minor}, over a socat pty pair`,
    { skip: SOCAT ? false : 'socat not installed', timeout: 120_000 },
    () => {
      const r = ptyRig(`fw-drift${minor}`, 5, ['--minor', String(minor)]);

      test('a tuner that powered down and a watchdog N that changed by themselves are repaired within one keep-alive period or two', async () => {
        // Counted in keep-alives, from the board's own record of what it executed, not in
        // wall time: a loaded machine once took 3.1 s for what 2.5 s bounded (keep-alive
        // every 1 s), and the periods are what the protocol promises.
        const keepAlive = minor === 1 ? 'ping' : 'get-status';
        await r.bridge.fmTune(10_000);
        assert.equal((await simState(r.sim)).fmFreq, 10_000);
        for (const [drift, ok, what, fix] of [
          ['drift-tuner', (s: { fmFreq: number }) => s.fmFreq === 10_000, 'the tuner re-tuned', 'fm-tune'],
          [
            'drift-watchdog 30',
            (s: { watchdogS: number }) => s.watchdogS === 3,
            'the watchdog set back to 3 s',
            'set-watchdog',
          ],
        ] as const) {
          const t0 = Date.now();
          const from = await simCount(r.sim);
          await r.sim.script(drift);
          let st = await simState(r.sim);
          await until(async () => ok((st = await simState(r.sim)) as never), 30_000, what, 100).catch(() => undefined);
          assert.ok(ok(st as never), `${what}: ${JSON.stringify(st)}`);
          const log = (await simLog(r.sim, from)).map((c) => c.cmd);
          // The keep-alive after the drift finds it; one more may have run between the
          // count and the drift, before there was anything to find.
          const periods = keepAlivesBefore(log, keepAlive);
          assert.ok(
            log.includes(fix) && periods <= 2,
            `${what} after ${periods} keep-alives (at most 2): ${log.join(' ')}`,
          );
          process.stdout.write(
            `# 1.${minor} board ${drift} -> repaired in ${Date.now() - t0} ms, ${periods} keep-alive(s)\n`,
          );
        }
      });

      test('the watchdog trips while idle: one re-apply, not one per keep-alive until the next SET_AMP 1', async () => {
        // What a keep-alive period sends first: PING (1.1) or GET_STATUS (1.0).
        const keepAlive = minor === 1 ? 'ping' : 'get-status';
        const periods = async (n: number, what: string) => {
          const from = await simCount(r.sim, keepAlive);
          await until(async () => (await simCount(r.sim, keepAlive)) >= from + n, n * 1000 + 5000, what, 100);
        };
        await r.bridge.setAmp(false);
        await periods(1, 'a keep-alive after SET_AMP 0');
        const before = await simCount(r.sim);
        await r.sim.script('trip');
        await periods(5, 'five keep-alive periods after the trip'); // what they send is the count
        const sent = (await simCount(r.sim)) - before;
        const selects = await simCount(r.sim, 'select-input');
        // A keep-alive is 1 (1.0: GET_STATUS) or 2 (1.1: PING + GET_STATUS) commands a period;
        // one re-apply adds SET_WATCHDOG, SET_AMP 0, SELECT_INPUT, FM_TUNE (and 1.0's GET_VERSION).
        const perPeriod = minor === 1 ? 2 : 1;
        assert.ok(
          sent <= 6 * perPeriod + 5,
          `${sent} commands in five keep-alive periods after the trip (${selects} SELECT_INPUT in all): the trip re-applied once`,
        );
        assert.equal(
          (await simState(r.sim)).watchdogTripped,
          minor === 0,
          minor === 0 ? 'a 1.0 board keeps the flag until SET_AMP 1' : 'SET_AMP 0 cleared it',
        );
      });
    },
  );
}

describe(
  'a board of another protocol version over a socat pty pair',
  { skip: SOCAT ? false : 'socat not installed', timeout: 120_000 },
  () => {
    // start() rejects for a board of another version (it keeps asking its version meanwhile).
    const r = ptyRig('fw-ver2', 5, ['--protocol', '2'], async (b) => {
      const mismatch = once(b, 'version-mismatch');
      b.start().catch(() => undefined);
      await withDeadline(mismatch, 10_000, 'version-mismatch');
    });

    test('nothing but GET_VERSION is sent to it: an FM_STATUS poll is refused on the host, not sent (checklist row 24)', async () => {
      assert.equal(r.bridge.versionMismatch, true);
      await assert.rejects(
        r.bridge.request({ cmd: 'fm-status' }),
        /fm-status not sent: the IO board speaks another protocol version/,
      );
      // No later frame to wait for (a mismatched board is asked its version every 30 s): half a second for a stray one.
      await new Promise((ok) => setTimeout(ok, 500));
      assert.equal(await simCount(r.sim, 'fm-status'), 0);
    });
  },
);
