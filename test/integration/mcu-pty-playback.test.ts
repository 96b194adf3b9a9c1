// The agent driving an IO board over a real pseudo-terminal (socat) with the board
// simulator as its own process, the commands arriving signed over Mosquitto (issue [2/8]
// item 2): the FM station is tuned before its input is selected and the amplifier opens,
// on the command path and the scheduled path; and audio into an amplifier the board
// refuses gets play.failed `hardware`, never play.started, on every source kind. The
// order is the board's own log of what it executed (sim-cli `log`), not the host's.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { DEFAULT_ROOT, deviceFilter, topicsFor, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { makeKey, sign, scheduleDoc } from '../helpers/signer.js';
import { commandDoc, publishOnce } from '../helpers/box.js';
import { SOCAT, ask, openPort, simLog, startSim, startSocat, stopProc } from '../helpers/pty-board.js';
import { base as mediaBase, files as mediaFiles } from '../helpers/scripted-http.js';
import { parseConfig } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import { Agent } from '../../agent/compose/agent.js';
import { McuBoard } from '../../agent/adapters/mcu-board.js';
import { until } from '../helpers/wait.js';

const key = makeKey('centre-2026');
const deviceId = 'mcu-pty-01';
const T = topicsFor(DEFAULT_ROOT, deviceId, []);
const simState = async (sim: ReturnType<typeof startSim>) =>
  JSON.parse((await ask(sim, 'state', 'state ')).slice(6)) as { input: string; amp: boolean };

describe(
  'the agent on an IO board over a socat pty pair',
  { skip: SOCAT ? false : 'socat not installed', timeout: 180_000 },
  () => {
    const dir = SOCAT ? tempDir('mcu-pty') : '';
    let broker: TestBroker;
    let socat: ChildProcess | undefined;
    let sim: ReturnType<typeof startSim>;
    let agent: Agent | undefined;
    let centre: Watcher;

    before(async () => {
      broker = await startBroker();
      socat = await startSocat(dir);
      sim = startSim(dir, 3);
      await sim.ready();
      const log = createLogger({ level: 'silent', pretty: false });
      const config = parseConfig({
        deviceId,
        groups: ['c26734'],
        mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1' },
        trustedKeys: [{ kid: key.kid, publicKey: key.publicKey }],
        stateDir: join(dir, 'state'),
        cacheDir: join(dir, 'cache'),
        heartbeatS: 5,
        // The shipped hold (5 s): the amplifier stays on between items, silent.
        hardware: { board: 'mcu', ampWarmUpMs: 300, ampHoldMs: 5000, faultRecoverS: 1 },
        audio: { player: 'stand-in' },
        relay: { deadAirS: 5 },
      });
      const board = new McuBoard({
        open: () => openPort(join(dir, 'host')),
        watchdogS: 10,
        log,
        fmPollMs: 500,
        bridge: { pingMs: 1000, backoff: { minMs: 100, maxMs: 1000 } },
      });
      centre = await Watcher.connect(broker.url, [deviceFilter(DEFAULT_ROOT, deviceId)]);
      agent = new Agent({ config, log, board });
      await agent.start();
      await centre.waitFor((m) => m.topic === T.status && m.json().online === true, 15_000, 'birth');
      await centre.waitFor(
        (m) => m.topic === T.heartbeat && (m.json().mcu as { up?: boolean } | undefined)?.up === true,
        20_000,
        'a heartbeat with the board up',
      );
    });

    after(async () => {
      await agent?.stop();
      await centre?.close();
      await stopProc(sim?.proc);
      await stopProc(socat);
      await broker?.close();
    });

    const event = (type: string, pred: (e: Record<string, unknown>) => boolean, ms: number, what: string) =>
      centre
        .waitFor((m) => m.topic === T.events && m.json().type === type && pred(m.json()), ms, what)
        .then((m) => m.json());
    const events = (type: string, cmdId: string) =>
      centre.messages.filter((m) => m.topic === T.events && m.json().type === type && m.json().cmdId === cmdId);

    async function send(action: string, args: Record<string, unknown>): Promise<string> {
      const cmd = commandDoc(deviceId, action, args);
      await publishOnce(broker.url, T.deviceCmd, await sign(cmd, key, { typ: 'loa-command+json' }));
      return cmd.id;
    }

    /** A 30 s FM relay with a line fallback, started. */
    async function fmWithFallback(): Promise<{ relay: string; started: Record<string, unknown> }> {
      const relay = await send('play', {
        source: { kind: 'fm', freqMHz: 98.5, fallback: { kind: 'line' } },
        durationS: 30,
        priority: 75,
      });
      return {
        relay,
        started: await event('play.started', (e) => e.cmdId === relay, 20_000, 'the relay play.started'),
      };
    }

    /**
     * The board's log replayed: the FM input and the amplifier are never on together while
     * the tuner is on another station than `freq`, and the play does put `freq` on air.
     * (Not "the first SET_AMP 1 after the tune": an amplifier held on over the IP input,
     * re-applied after the board's watchdog tripped under load, is no station on air.)
     */
    function assertTunedFirst(log: { cmd: string; [k: string]: unknown }[], freq: number): void {
      let tuned: unknown;
      let input: unknown;
      let amp = true; // held on from the play before, for all this log says
      let onAir = false;
      for (const [i, c] of log.entries()) {
        if (c.cmd === 'fm-tune') tuned = c.freq;
        if (c.cmd === 'select-input') input = c.input;
        if (c.cmd === 'set-amp') amp = c.on === true;
        if (input === 'fm' && amp) {
          assert.equal(
            tuned,
            freq,
            `the previous station (${String(tuned)}) on air at command ${i}: ${JSON.stringify(log)}`,
          );
          onAir = true;
        }
      }
      assert.ok(onAir, `${freq} never on air (FM input and amplifier on): ${JSON.stringify(log)}`);
    }

    /** After an FM item ends, its station leaves the air at once, though the amplifier is held on. */
    async function offAirAfter(what: string): Promise<number> {
      const t0 = Date.now();
      let s = await simState(sim);
      const off = async () => {
        s = await simState(sim);
        return s.input !== 'fm' || !s.amp;
      };
      await until(off, 2000, 'the station off air', 20).catch(() => undefined);
      assert.ok(
        s.input !== 'fm' || !s.amp,
        `${what}: the FM station still on the held amplifier after 2 s (${JSON.stringify(s)})`,
      );
      return Date.now() - t0;
    }

    test("an ad-hoc FM play and a scheduled FM item: the station is tuned before SELECT_INPUT fm and SET_AMP 1, in the board's own log", async () => {
      // A station on air before, so a late tune would put it on the speakers.
      const first = await send('play', { source: { kind: 'fm', freqMHz: 98.5 }, durationS: 1, priority: 75 });
      await event('play.finished', (e) => e.cmdId === first, 15_000, 'the first FM play.finished');
      const offMs = await offAirAfter('the first FM play');

      let from = (await simLog(sim)).length;
      const adhoc = await send('play', { source: { kind: 'fm', freqMHz: 101.5 }, durationS: 1, priority: 75 });
      await event('play.started', (e) => e.cmdId === adhoc, 15_000, 'the ad-hoc FM play.started');
      assertTunedFirst(await simLog(sim, from), 10_150);
      await event('play.finished', (e) => e.cmdId === adhoc, 15_000, 'the ad-hoc FM play.finished');

      from = (await simLog(sim)).length;
      const at = Math.ceil((Date.now() + 4000) / 1000) * 1000;
      const doc = scheduleDoc({
        id: 'pty-fm',
        target: { devices: [deviceId] },
        items: [{ id: 'vov1', source: { kind: 'fm', freqMHz: 99.9 }, at: new Date(at).toISOString(), durationS: 1 }],
      });
      await publishOnce(broker.url, T.deviceSchedule, await sign(doc, key), true);
      await event('play.started', (e) => e.itemId === 'vov1', 20_000, 'the scheduled FM play.started');
      assertTunedFirst(await simLog(sim, from), 9990);
      await event('play.finished', (e) => e.itemId === 'vov1', 15_000, 'the scheduled FM play.finished');
      await offAirAfter('the scheduled FM item');
      process.stdout.write(`# FM play.finished -> station off the air (amplifier held 5 s): ${offMs} ms\n`);
    });

    test('proof of sound (contract v1.2 §9, a 1.2 board): an FM play reports the level the board measured and no silence; with its output stage dead the silence is counted', async () => {
      const healthy = await send('play', { source: { kind: 'fm', freqMHz: 98.5 }, durationS: 4, priority: 75 });
      const ok = await event('play.finished', (e) => e.cmdId === healthy, 20_000, 'the healthy play.finished');
      const out = ok.output as { measured: boolean; levelDb: number; silentMs: number };
      // The simulator's FM input is at -20 dBFS and its amplifier gains 12 dB: -8 dB of the rated output.
      assert.deepEqual(out, { measured: true, levelDb: -8, silentMs: 0 }, JSON.stringify(ok));
      await sim.script('output dead');
      try {
        const dead = await send('play', { source: { kind: 'fm', freqMHz: 98.5 }, durationS: 4, priority: 75 });
        const d = await event('play.finished', (e) => e.cmdId === dead, 20_000, 'the dead play.finished');
        const o = d.output as { measured: boolean; levelDb: number; silentMs: number };
        assert.equal(o.measured, true, JSON.stringify(d));
        assert.ok(o.levelDb <= -60, `the line carried ${o.levelDb} dB`);
        assert.ok(o.silentMs >= 2000, `silent ${o.silentMs} ms of a 4 s play whose input carried signal`);
      } finally {
        await sim.script('output ok');
      }
    });

    test('no output (contract v1.2 §9): hw.fault output within 7 s, the fallback within 10 s; an emergency with every path spent (the amplifier re-initialised) plays on to its end and fails no-output; the fault recovers when the line sounds again', async () => {
      await sim.script('output dead');
      let recovered = false;
      try {
        const { relay, started } = await fmWithFallback();
        const fault = await event(
          'hw.fault',
          (e) => e.component === 'output' && e.code === 'no_output',
          15_000,
          'hw.fault output',
        );
        const moved = await event('play.failover', (e) => e.cmdId === relay, 15_000, 'play.failover');
        assert.equal(moved.to, 'fallback:line');
        const ms = (e: Record<string, unknown>) => Date.parse(e.ts as string) - Date.parse(started.ts as string);
        assert.ok(ms(fault) <= 7_000, `hw.fault ${ms(fault)} ms after play.started`);
        assert.ok(ms(moved) <= 10_000, `the fallback ${ms(moved)} ms after play.started`);
        await send('stop', {});
        await event('play.interrupted', (e) => e.cmdId === relay, 15_000, 'the relay stopped');

        const from = (await simLog(sim)).length;
        const alarm = await send('play', { source: { kind: 'line' }, durationS: 16, priority: 100 });
        const on = await event('play.started', (e) => e.cmdId === alarm, 20_000, 'the emergency play.started');
        const failed = await event('play.failed', (e) => e.cmdId === alarm, 40_000, 'the emergency play.failed');
        assert.equal(failed.reason, 'no-output', JSON.stringify(failed));
        const gaveUp = Date.parse(failed.ts as string) - Date.parse(on.ts as string);
        process.stdout.write(
          `# no output: hw.fault ${ms(fault)} ms and the fallback ${ms(moved)} ms after play.started; an emergency with no other path played on, unheard, and failed no-output at its end, ${gaveUp} ms after its play.started\n`,
        );
        // Every path spent by about 10 s; it plays on to its 16 s end: a board that measures
        // wrong must not silence a warning.
        assert.ok(gaveUp >= 15_000, `the emergency played on to its end: failed ${gaveUp} ms after play.started`);
        const log = await simLog(sim, from);
        const off = log.findIndex((c) => c.cmd === 'set-amp' && c.on === false);
        assert.ok(
          off >= 0 && log.slice(off + 1).some((c) => c.cmd === 'set-amp' && c.on === true),
          `the amplifier re-initialised before the emergency gave up: ${JSON.stringify(log)}`,
        );
        await sim.script('output ok');
        recovered = true;
        const again = await send('play', { source: { kind: 'line' }, durationS: 3, priority: 75 });
        await event('play.started', (e) => e.cmdId === again, 20_000, 'a play after the repair');
        await event('hw.recovered', (e) => e.component === 'output', 20_000, 'hw.recovered output');
        await event('play.finished', (e) => e.cmdId === again, 20_000, 'the play after the repair ends');
      } finally {
        if (!recovered) await sim.script('output ok');
      }
    });

    test('the commissioning level (issue 29 item 3): an amplifier at half its commissioned gain is hw.fault output weak; at full gain again it recovers; the last reading is kept for loa-provision show', async () => {
      const state = join(dir, 'state');
      // What `loa-provision check --tone` records on this board: the simulator's 12 dB gain.
      const baseline = {
        at: new Date().toISOString(),
        gainDb: 12,
        levelDb: -6,
        lineOhms: 16,
        volumePct: 50,
        windows: 3,
      };
      writeFileSync(join(state, 'sound-baseline.json'), JSON.stringify(baseline));
      await sim.script('output weak 6');
      let repaired = false;
      try {
        const weak = await send('play', { source: { kind: 'fm', freqMHz: 98.5 }, durationS: 5, priority: 75 });
        await event('play.finished', (e) => e.cmdId === weak, 20_000, 'the weak play.finished');
        const fault = await event(
          'hw.fault',
          (e) => e.component === 'output' && e.code === 'weak',
          10_000,
          'hw.fault output weak',
        );
        assert.match(
          fault.message as string,
          /delivers 50 % of its commissioned output \(gain 6 dB, commissioned 12 dB/,
        );
        const last = JSON.parse(readFileSync(join(state, 'sound-last.json'), 'utf8')) as Record<string, unknown>;
        assert.deepEqual([last.itemId, last.gainDb, last.levelDb, last.percent], [weak, 6, -14, 50]);
        await sim.script('output ok');
        repaired = true;
        const ok = await send('play', { source: { kind: 'fm', freqMHz: 98.5 }, durationS: 5, priority: 75 });
        await event('play.finished', (e) => e.cmdId === ok, 20_000, 'the repaired play.finished');
        await event(
          'hw.recovered',
          (e) => e.component === 'output' && e.code === 'weak',
          10_000,
          'hw.recovered output weak',
        );
      } finally {
        if (!repaired) await sim.script('output ok');
        rmSync(join(state, 'sound-baseline.json'), { force: true });
      }
    });

    test('dead air (contract v1.2 §9): an FM station that sends nothing moves to its fallback with play.degraded within relay.deadAirS + 2 s, no output fault raised', async () => {
      await sim.script('input fm silent');
      try {
        const { relay, started } = await fmWithFallback();
        const degraded = await event('play.degraded', (e) => e.cmdId === relay, 15_000, 'play.degraded');
        assert.equal(degraded.to, 'fallback:line');
        assert.equal(degraded.reason, 'dead-air');
        const ms = Date.parse(degraded.ts as string) - Date.parse(started.ts as string);
        assert.ok(ms <= 7_000, `dead air: the fallback ${ms} ms after play.started (relay.deadAirS 5)`);
        await send('stop', {});
        const end = await event('play.interrupted', (e) => e.cmdId === relay, 15_000, 'the relay stopped');
        const out = end.output as { measured: boolean; silentMs: number };
        assert.equal(out.silentMs, 0, `dead air is not a silent output: ${JSON.stringify(end)}`);
        // The fallback continues the segment: one play.started (a relay fallback once sent a second).
        assert.equal(events('play.started', relay).length, 1);
        assert.ok((end.playedMs as number) > 5000, `playedMs from the FM start: ${JSON.stringify(end)}`);
        process.stdout.write(`# dead air -> fallback: ${ms} ms after play.started (relay.deadAirS 5)\n`);
      } finally {
        await sim.script('input fm -20');
      }
    });

    test('an amplifier the board refuses (fault latched): play.failed hardware and no play.started, for fm, line, stream and file', async () => {
      const body = randomBytes(16_000);
      mediaFiles.set('/pty-alert.mp3', body);
      const media = {
        id: 'alert',
        url: `${mediaBase}/pty-alert.mp3`,
        sha256: createHash('sha256').update(body).digest('hex'),
        bytes: body.length,
        durationMs: 1000,
      };
      await sim.script('amp-fault overcurrent');
      await event(
        'hw.fault',
        (e) => e.component === 'amp' && e.code === 'overcurrent',
        10_000,
        'hw.fault amp overcurrent',
      );
      const kinds: [string, Record<string, unknown>][] = [
        ['fm', { source: { kind: 'fm', freqMHz: 99.0 }, durationS: 2 }],
        ['line', { source: { kind: 'line' }, durationS: 2 }],
        ['stream', { source: { kind: 'stream', url: `${mediaBase}/live.mp3` }, durationS: 2 }],
        ['file', { source: { kind: 'file', media: ['alert'] }, media: [media] }],
      ];
      for (const [kind, args] of kinds) {
        const id = await send('play', { ...args, priority: 100 });
        const failed = await event('play.failed', (e) => e.cmdId === id, 20_000, `${kind}: play.failed`);
        assert.equal(failed.reason, 'hardware', `${kind}: ${JSON.stringify(failed)}`);
        assert.equal(
          events('play.started', id).length,
          0,
          `${kind}: no proof of play for audio into a refused amplifier`,
        );
      }
      await sim.script('amp-fault clear');
      await event(
        'hw.recovered',
        (e) => e.component === 'amp' && e.code === 'overcurrent',
        10_000,
        'hw.recovered amp overcurrent',
      );
      // Cleared: the same file plays.
      const ok = await send('play', { source: { kind: 'file', media: ['alert'] }, media: [media], priority: 100 });
      await event('play.started', (e) => e.cmdId === ok, 20_000, 'play.started once the fault cleared');
    });
  },
);
