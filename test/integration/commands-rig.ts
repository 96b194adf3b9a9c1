// The rig of the signed-command tests (commands.test.ts, commands-play.test.ts): the
// file's Mosquitto, the centre's and a stranger's keys, a local HTTP server of a tone,
// signed command documents, and an in-process agent with its centre watcher. Registers
// the file's hooks.
import { before, after } from 'node:test';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { mqtt } from '../../cli-kit/mqtt-lib.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { DEFAULT_ROOT, deviceFilter, deviceTopic, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { makeKey, sign, type TestKey } from '../helpers/signer.js';
import { audioTools, makeTone } from '../helpers/audio.js';
import { parseConfig, type ConfigInput } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import { Agent } from '../../agent/compose/agent.js';
import { SimBoard } from '../../agent/adapters/sim-board.js';

export const tools = audioTools();
export const noAudio =
  tools.mpg123 && tools.sox && tools.lame ? false : 'needs mpg123, sox and lame (apt-get install mpg123 sox lame)';
if (noAudio && process.env.CI === 'true') throw new Error(String(noAudio));

export const centreKey = makeKey('centre-2026');
export const strangerKey = makeKey('stranger');
export let broker: TestBroker;
export let server: Server;
export let base = '';
export let tone: Buffer = Buffer.alloc(0);
before(async () => {
  broker = await startBroker();
  if (!noAudio) tone = readFileSync(makeTone({ seconds: 3 }));
  server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': tone.length });
    res.end(tone);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  await broker.close();
  server.close();
});

export function command(
  deviceId: string,
  action: string,
  args: Record<string, unknown> = {},
  over: Record<string, unknown> = {},
) {
  return {
    type: 'command',
    id: randomUUID(),
    issuedAt: new Date(Date.now() - 1000).toISOString(),
    expiresAt: new Date(Date.now() + 300_000).toISOString(),
    target: { devices: [deviceId] },
    action,
    args,
    ...over,
  };
}

let n = 0;
/** A device id of its own for each box of the file. */
export const nextBox = (prefix: string): string => `${prefix}-${++n}`;
export function configFor(dir: string, deviceId: string, over: Partial<ConfigInput> = {}): ConfigInput {
  return {
    deviceId,
    groups: ['c26734'],
    mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1', reconnect: { minS: 1, maxS: 2 } },
    trustedKeys: [{ kid: centreKey.kid, publicKey: centreKey.publicKey }],
    stateDir: join(dir, 'state'),
    cacheDir: join(dir, 'cache'),
    heartbeatS: 5,
    hardware: { ampWarmUpMs: 500, ampHoldMs: 300 },
    audio: { player: noAudio ? 'stand-in' : 'mpg123', output: 'paced' },
    outbox: { synchronous: 'normal' },
    ...over,
  };
}

export async function rig() {
  const deviceId = nextBox('cmd-box');
  const dir = tempDir('cmd');
  const board = new SimBoard();
  const config = parseConfig(configFor(dir, deviceId));
  const agent = new Agent({ config, log: createLogger({ level: 'silent', pretty: false }), board });
  const centre = await Watcher.connect(broker.url, [deviceFilter(DEFAULT_ROOT, deviceId)]);
  await agent.start();
  await centre.waitFor((m) => m.topic.endsWith('/status') && m.json().online === true, 10_000, 'birth');
  const pub = mqtt.connect(broker.url);
  await new Promise((r) => pub.once('connect', r));
  const send = async (
    doc: Record<string, unknown> | string,
    key: TestKey = centreKey,
    topic = deviceTopic(DEFAULT_ROOT, deviceId, 'cmd'),
  ) => {
    const payload = typeof doc === 'string' ? doc : await sign(doc, key, { typ: 'loa-command+json' });
    await pub.publishAsync(topic, payload, { qos: 1 });
  };
  const results = () =>
    centre.messages.filter((m) => m.topic === deviceTopic(DEFAULT_ROOT, deviceId, 'cmd/result')).map((m) => m.json());
  const result = (cmdId: string, ms = 10_000) =>
    centre.waitUntil(() => results().find((r) => r.cmdId === cmdId), ms, `result of ${cmdId}`);
  const events = (type: string) =>
    centre.messages
      .filter((m) => m.topic.endsWith('/events'))
      .map((m) => m.json())
      .filter((e) => e.type === type);
  return {
    deviceId,
    dir,
    agent,
    board,
    centre,
    send,
    result,
    results,
    events,
    config,
    async close(stopAgent = true) {
      if (stopAgent) await agent.stop();
      await pub.endAsync();
      await centre.client.endAsync();
    },
  };
}
