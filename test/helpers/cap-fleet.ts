// `noc cap` in front of real boxes: a centre key made by `noc keys`, a local HTTP server
// for the alerting authority's audio and for `--media-dir` (served at `--media-base-url`),
// real agent processes (mpg123 decoding at real-time rate, output "paced") subscribed to
// their groups on a real Mosquitto, and a watcher of their events and command results.
// `noc cap` runs in-process (noc/cli.ts main), as bench/cap.ts runs it. No node:test
// hooks here: bench/cap-agents.ts uses it too.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../noc/cli.js';
import { memoryIo } from '../../noc/io.js';
import type { TestBroker } from './broker.js';
import { boxConfig } from './box.js';
import { spawnAgent, writeConfig, type AgentProcess } from './agent-process.js';
import { DEFAULT_ROOT, topicsFor, Watcher, type Received } from './watcher.js';
import { tempDir } from './tmp.js';

export const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

export interface CapBox {
  deviceId: string;
  groups: string[];
  topics: ReturnType<typeof topicsFor>;
  agent: AgentProcess;
}

export type PlayEvent = Record<string, unknown> & {
  type: string;
  ts: string;
  capId?: string;
  repeat?: number;
  cmdId?: string;
  reason?: string;
};

export interface CapFleet {
  dir: string;
  /** Base URL of the local HTTP server (the authority's audio: `serve`; the media dir under /media/). */
  base: string;
  boxes: CapBox[];
  watcher: Watcher;
  /** Serve bytes at `path` (e.g. "/audio/lu.mp3"). */
  serve(path: string, body: Buffer): void;
  /** `noc cap FILE` in-process with the fleet's mapping, key, broker and media dir; its exit code and printed lines. */
  cap(name: string, xml: string, extra?: string[]): Promise<{ code: number; out: string; ms: number }>;
  /** play.* events of one box, optionally only those naming `capId`. */
  events(box: CapBox, type?: string, capId?: string): PlayEvent[];
  /** The result a box published for command `cmdId`. */
  result(box: CapBox, cmdId: string, ms: number): Promise<Record<string, unknown>>;
  /** Commands `noc cap` published on group topics (g/+/cmd), as received. */
  published(): Received[];
  close(): Promise<void>;
}

export async function startCapFleet(
  broker: TestBroker,
  o: { mapping: unknown; boxes: { name: string; groups: string[] }[]; minRepeatS: number },
): Promise<CapFleet> {
  const dir = tempDir('cap-fleet');
  const keyIo = memoryIo();
  if ((await main(['keys', '--kid', 'centre-2026', '--out', dir], keyIo)) !== 0)
    throw new Error(keyIo.stderr.join('\n'));
  const pub = JSON.parse(keyIo.stdout.join('\n')) as { kid: string; publicKey: string };
  writeFileSync(join(dir, 'mapping.json'), JSON.stringify(o.mapping));

  const routes = new Map<string, Buffer>();
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const media = path.startsWith('/media/') ? join(dir, 'media', path.slice(7).replace(/[/\\]/g, '')) : undefined;
    const body = routes.get(path) ?? (media && existsSync(media) ? readFileSync(media) : undefined);
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  const boxes: CapBox[] = [];
  const all = o.boxes.map((b) => topicsFor(DEFAULT_ROOT, `cap-${b.name}`, b.groups));
  const watcher = await Watcher.connect(broker.url, [
    ...all.flatMap((t) => [t.events, t.cmdResult, t.status]),
    `${DEFAULT_ROOT}/g/+/cmd`,
  ]);
  try {
    for (const [i, b] of o.boxes.entries()) {
      const deviceId = `cap-${b.name}`;
      const bdir = tempDir(deviceId);
      const cfg = writeConfig(
        bdir,
        boxConfig(broker, pub, deviceId, bdir, {
          groups: b.groups,
          schedule: { minRepeatS: o.minRepeatS, graceS: 1 },
          audio: { player: 'mpg123', output: 'paced' },
        }),
      );
      const since = watcher.messages.length;
      const agent = spawnAgent(['--config', cfg]);
      boxes.push({ deviceId, groups: b.groups, topics: all[i]!, agent });
      await watcher.waitUntil(
        () => watcher.messages.slice(since).find((m) => m.topic === all[i]!.status && m.json().online === true),
        30_000,
        `${deviceId} online`,
      );
    }
  } catch (err) {
    await Promise.all(boxes.map((b) => b.agent.term()));
    throw err;
  }

  const capArgs = [
    '--mapping',
    join(dir, 'mapping.json'),
    '--allow-private',
    '--key',
    join(dir, 'centre-2026.key.pem'),
    '--broker',
    broker.url,
    '--state',
    join(dir, 'cap-state.json'),
  ];
  const mediaArgs = [
    '--media-dir',
    join(dir, 'media'),
    '--media-base-url',
    `${base}/media/`,
    '--min-repeat-s',
    String(o.minRepeatS),
  ];
  return {
    dir,
    base,
    boxes,
    watcher,
    serve: (path, body) => void routes.set(path, body),
    async cap(name, xml, extra = []) {
      const f = join(dir, `${name}.xml`);
      writeFileSync(f, xml);
      const io = memoryIo();
      const t0 = performance.now();
      const code = await main(['cap', f, ...capArgs, ...mediaArgs, ...extra], io);
      return { code, out: [...io.stdout, ...io.stderr].join('\n'), ms: performance.now() - t0 };
    },
    events: (box, type, capId) =>
      watcher.messages
        .filter((m) => m.topic === box.topics.events)
        .map((m) => m.json<PlayEvent>())
        .filter(
          (e) =>
            (type === undefined ? e.type.startsWith('play.') : e.type === type) &&
            (capId === undefined || e.capId === capId),
        ),
    result: async (box, cmdId, ms) =>
      (
        await watcher.waitFor(
          (m) => m.topic === box.topics.cmdResult && m.json().cmdId === cmdId,
          ms,
          `${box.deviceId}: result of ${cmdId}`,
        )
      ).json(),
    published: () => watcher.messages.filter((m) => /\/g\/[^/]+\/cmd$/.test(m.topic)),
    async close() {
      const codes = await Promise.all(boxes.map((b) => b.agent.term()));
      await watcher.close();
      await new Promise((r) => server.close(r));
      const bad = codes.map((c, i) => [boxes[i]!.deviceId, c] as const).filter(([, c]) => c !== 0);
      if (bad.length) throw new Error(`agents did not exit 0 on SIGTERM: ${JSON.stringify(bad)}`);
    },
  };
}
