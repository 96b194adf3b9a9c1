// Proof of sound over a real pseudo-terminal (issue 29's tests not in mcu-pty-playback):
// the board simulator as its own process on a socat pty pair, an agent, Mosquitto. On a
// protocol 1.2 board: an amplifier that draws no current, a stream of digital silence
// (dead air on the IP input: the next URL), the speaker line opened and shorted while
// idle (hw.fault line at the centre), and the serial bytes the LEVELS add while playing.
// On a 1.1 board: the same play is reported `measured: false`, nothing else changes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { DEFAULT_ROOT, deviceFilter, topicsFor, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { makeKey, sign } from '../helpers/signer.js';
import { commandDoc, publishOnce } from '../helpers/box.js';
import { SOCAT, openPort, startSim, startSocat, stopProc } from '../helpers/pty-board.js';
import { base as mediaBase } from '../helpers/scripted-http.js';
import { parseConfig } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import { Agent } from '../../agent/compose/agent.js';
import { McuBoard } from '../../agent/adapters/mcu-board.js';

const key = makeKey('centre-2026');

/** One box on its own pty board of protocol 1.`minor`; `bytes` counts the serial traffic both ways. */
async function box(broker: TestBroker, minor: number) {
  const deviceId = `sound-pty-1${minor}`;
  const T = topicsFor(DEFAULT_ROOT, deviceId, []);
  const dir = tempDir(`sound-pty-${minor}`);
  const socat = await startSocat(dir);
  const sim = startSim(dir, 1, ['--minor', String(minor)]);
  await sim.ready();
  const log = createLogger({ level: 'silent', pretty: false });
  const bytes = { rx: 0, tx: 0 };
  const config = parseConfig({
    deviceId,
    mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1' },
    trustedKeys: [{ kid: key.kid, publicKey: key.publicKey }],
    stateDir: join(dir, 'state'),
    cacheDir: join(dir, 'cache'),
    heartbeatS: 5,
    hardware: { board: 'mcu', ampWarmUpMs: 300, ampHoldMs: 0, faultRecoverS: 1 },
    audio: { player: 'stand-in' },
    relay: { deadAirS: 5 },
  });
  const board = new McuBoard({
    open: async () => counted(await openPort(join(dir, 'host')), bytes),
    watchdogS: 10,
    log,
    fmPollMs: 500,
    bridge: { pingMs: 1000, backoff: { minMs: 100, maxMs: 1000 } },
  });
  const centre = await Watcher.connect(broker.url, [deviceFilter(DEFAULT_ROOT, deviceId)]);
  const agent = new Agent({ config, log, board });
  await agent.start();
  await centre.waitFor(
    (m) => m.topic === T.heartbeat && (m.json().mcu as { up?: boolean } | undefined)?.up === true,
    20_000,
    'a heartbeat with the board up',
  );
  const event = (type: string, pred: (e: Record<string, unknown>) => boolean, ms: number, what: string) =>
    centre
      .waitFor((m) => m.topic === T.events && m.json().type === type && pred(m.json()), ms, what)
      .then((m) => m.json());
  return {
    sim,
    bytes,
    event,
    centre,
    T,
    async send(action: string, args: Record<string, unknown>): Promise<string> {
      const cmd = commandDoc(deviceId, action, args);
      await publishOnce(broker.url, T.deviceCmd, await sign(cmd, key, { typ: 'loa-command+json' }));
      return cmd.id;
    },
    async stop(): Promise<void> {
      await agent.stop();
      await centre.close();
      await stopProc(sim.proc as ChildProcess);
      await stopProc(socat);
    },
  };
}

function counted(port: Duplex, bytes: { rx: number; tx: number }): Duplex {
  port.on('data', (b: Buffer) => (bytes.rx += b.length));
  const write = port.write.bind(port) as (chunk: Buffer, ...rest: unknown[]) => boolean;
  (port as unknown as { write: typeof write }).write = (chunk: Buffer, ...rest: unknown[]) => {
    bytes.tx += chunk.length;
    return write(chunk, ...rest);
  };
  return port;
}

type Box = Awaited<ReturnType<typeof box>>;

/** A 6 s FM play; the serial bytes per second both ways while it sounded. */
async function fmPlay(b: Box): Promise<{ finished: Record<string, unknown>; bytesPerS: number }> {
  const id = await b.send('play', { source: { kind: 'fm', freqMHz: 98.5 }, durationS: 6, priority: 75 });
  await b.event('play.started', (e) => e.cmdId === id, 20_000, 'play.started');
  const from = { ...b.bytes, t: performance.now() };
  const finished = await b.event('play.finished', (e) => e.cmdId === id, 20_000, 'play.finished');
  const s = (performance.now() - from.t) / 1000;
  return { finished, bytesPerS: (b.bytes.rx - from.rx + b.bytes.tx - from.tx) / s };
}

describe('proof of sound on pty boards', { skip: SOCAT ? false : 'socat not installed', timeout: 240_000 }, () => {
  let broker: TestBroker;
  let b12: Box;
  let b11: Box;

  before(async () => {
    broker = await startBroker();
    [b12, b11] = await Promise.all([box(broker, 2), box(broker, 1)]);
  });

  after(async () => {
    await b12?.stop();
    await b11?.stop();
    await broker?.close();
  });

  test('a 1.1 board: the play is reported measured: false, and the serial link carries what LEVELS add on 1.2', async () => {
    const [p11, p12] = await Promise.all([fmPlay(b11), fmPlay(b12)]);
    assert.deepEqual(p11.finished.output, { measured: false }, JSON.stringify(p11.finished));
    assert.equal(typeof p11.finished.playedMs, 'number');
    assert.deepEqual(p12.finished.output, { measured: true, levelDb: -8, silentMs: 0 });
    const added = p12.bytesPerS - p11.bytesPerS;
    process.stdout.write(
      `# serial bytes/s while playing: 1.1 ${p11.bytesPerS.toFixed(1)}, 1.2 ${p12.bytesPerS.toFixed(1)} (+${added.toFixed(1)})\n`,
    );
    // One LEVELS frame a second (PROTOCOL.md §5.2) and its acknowledgement: tens of bytes,
    // against 11,520 bytes/s of a 115,200 baud link.
    assert.ok(added < 200, `LEVELS add ${added} bytes/s`);
  });

  test('an amplifier that draws no current while playing: hw.fault output no_output within 7 s of play.started', async () => {
    await b12.sim.script('output no-current');
    try {
      const id = await b12.send('play', { source: { kind: 'fm', freqMHz: 98.5 }, durationS: 20, priority: 75 });
      const started = await b12.event('play.started', (e) => e.cmdId === id, 20_000, 'play.started');
      const fault = await b12.event(
        'hw.fault',
        (e) => e.component === 'output' && e.code === 'no_output',
        15_000,
        'hw.fault output no_output',
      );
      const ms = Date.parse(fault.ts as string) - Date.parse(started.ts as string);
      process.stdout.write(`# no current: hw.fault output ${ms} ms after play.started\n`);
      assert.ok(ms <= 7_000, `${ms} ms`);
      await b12.send('stop', {});
      await b12.event('play.interrupted', (e) => e.cmdId === id, 15_000, 'stopped');
    } finally {
      await b12.sim.script('output ok');
    }
  });

  test('a stream of digital silence: dead air on the IP input moves to the next URL with play.degraded within relay.deadAirS + 2 s', async () => {
    await b12.sim.script('input ip silent');
    try {
      const urls = [`${mediaBase}/silent.mp3`, `${mediaBase}/second.mp3`];
      const id = await b12.send('play', { source: { kind: 'stream', urls }, durationS: 30, priority: 75 });
      const started = await b12.event('play.started', (e) => e.cmdId === id, 20_000, 'play.started');
      const moved = await b12.event('play.degraded', (e) => e.cmdId === id, 15_000, 'play.degraded');
      assert.deepEqual([moved.from, moved.to, moved.reason], [urls[0], urls[1], 'dead-air']);
      const ms = Date.parse(moved.ts as string) - Date.parse(started.ts as string);
      process.stdout.write(`# digital silence -> next URL ${ms} ms after play.started (relay.deadAirS 5)\n`);
      assert.ok(ms <= 7_000, `${ms} ms`);
      await b12.send('stop', {});
      await b12.event('play.interrupted', (e) => e.cmdId === id, 15_000, 'stopped');
    } finally {
      await b12.sim.script('input ip -18');
    }
  });

  test('the speaker line cut while an item plays: hw.fault line names the play it affected', async () => {
    const id = await b12.send('play', { source: { kind: 'fm', freqMHz: 98.5 }, durationS: 20, priority: 75 });
    await b12.event('play.started', (e) => e.cmdId === id, 20_000, 'play.started');
    try {
      await b12.sim.script('line open');
      const fault = await b12.event(
        'hw.fault',
        (e) => e.component === 'line' && e.code === 'line_open' && e.itemId === id,
        20_000,
        'hw.fault line_open during the play',
      );
      assert.equal(fault.itemId, id);
    } finally {
      await b12.sim.script('line ok');
    }
    await b12.event('hw.recovered', (e) => e.component === 'line' && e.code === 'line_open', 20_000, 'recovered');
    await b12.send('stop', {});
    await b12.event('play.interrupted', (e) => e.cmdId === id, 15_000, 'stopped');
  });

  test('the speaker line opened, then shorted, while idle: hw.fault line at the centre, and recovered', async () => {
    for (const state of ['open', 'short'] as const) {
      const at = Date.now();
      await b12.sim.script(`line ${state}`);
      const fault = await b12.event(
        'hw.fault',
        (e) => e.component === 'line' && e.code === `line_${state}` && Date.parse(e.ts as string) >= at - 1000,
        20_000,
        `hw.fault line_${state}`,
      );
      const ms = Date.parse(fault.ts as string) - at;
      process.stdout.write(`# line ${state} while idle -> hw.fault at the centre: ${ms} ms after the fault\n`);
      await b12.sim.script('line ok');
      await b12.event(
        'hw.recovered',
        (e) => e.component === 'line' && e.code === `line_${state}` && Date.parse(e.ts as string) >= at - 1000,
        20_000,
        `hw.recovered line_${state}`,
      );
    }
  });
});
