// The agent with the `mcu` board, in process, for mcu-agent.test.ts (faults, the link) and
// mcu-playback.test.ts (what plays through the board): the board simulator behind
// serialport's mock binding, the file's real Mosquitto and centre watcher, real mpg123
// with paced output, and a local HTTP stream. Registers the file's broker and stream.
import { before, after } from 'node:test';
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
import type { Logger } from '../../agent/log.js';

const tools = audioTools();
export const noAudio =
  tools.mpg123 && tools.sox && tools.lame ? false : 'needs mpg123, sox and lame (apt-get install mpg123 sox lame)';
if (noAudio && process.env.CI === 'true') throw new Error(String(noAudio));

let broker: TestBroker;
let server: Server;
export let streamUrl = '';
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
export async function rig(
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

export function occ(itemId: string, source: Source, durationMs: number, over: Partial<Occurrence> = {}): Occurrence {
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

/** JSON log lines as the agent writes them (pino to a stream, as on stdout under journald). */
export function capturedLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { log: pino({ base: undefined, level: 'debug' }, out), lines };
}
