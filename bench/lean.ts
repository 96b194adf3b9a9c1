// `npm run bench -- memory wear` (issue [4/8], items 5 and 6): the built agent next to
// its anchor, bench/bare.mjs (a node process that only connects mqtt.js and logs with
// pino), both with the production V8 flags, against the same Mosquitto, in the same run.
// The agent: sim board, mpg123 in paced mode (no sound card here), log level info, a
// 30 s heartbeat (the defaults of a box), and a signed schedule of a few daily items
// whose media it downloads from a local HTTP server before the windows start.
// - memory: RSS (VmRSS) and its private part (RssAnon) of both, the median of samples
//   taken once a second after the agent settled; the agent's RSS over the bare one's.
// - wear: /proc/<pid>/io `write_bytes` (to the block device) and `wchar` (every write(),
//   sockets and stdout included) over an idle window, then over a window in which a 3 s
//   item plays every 10 s; each extrapolated to a day. The bytes written to stdout (what
//   journald would store) are counted apart. mpg123 is a child of its own: its I/O is not
//   in the agent's figures (it only reads the file).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { startBroker, type TestBroker } from '../test/helpers/broker.js';
import { Watcher } from '../test/helpers/watcher.js';
import { tempDir } from '../test/helpers/tmp.js';
import { makeKey, sign, scheduleDoc, type TestKey } from '../test/helpers/signer.js';
import { REPO_ROOT, writeConfig } from '../test/helpers/agent-process.js';
import { boxConfig, publishOnce } from '../test/helpers/box.js';
import {
  type Add,
  type DistAgent,
  spawnDist,
  spawnNode,
  waitBirth,
  memMb,
  procIo,
  median,
  sleep,
} from './agent-proc.js';
import { DEFAULT_ROOT, deviceTopic } from '../contract/topics.js';
import { size } from './smoke.js';

const DEVICE = 'bench-lean';
const BARE = join(REPO_ROOT, 'bench/bare.mjs');
const SETTLE_S = size(25, 1, 'BENCH_SETTLE_S');
const WINDOW_S = size(60, 2, 'BENCH_WEAR_S');
/** The wear window's repeating item, in two hours of the day: every 10 s is 720 a day (smoke: every 6 s, 1,200), both within contract §3's 1,440 with the three bulletins. */
const EVERY_S = size(10, 6);
/** The target: idle RSS within 1.15x of the bare process. */
const RSS_RATIO = 1.15;

interface Rig {
  broker: TestBroker;
  key: TestKey;
  w: Watcher;
  cdn: Server;
  chime: { id: string; url: string; sha256: string; bytes: number; durationMs: number };
  agent: DistAgent;
  bare: DistAgent;
  /** The bare process with mqtt.js's writeCache off, as the agent runs it (memory only). */
  bareLean: DistAgent | undefined;
  version: number;
  /** The items of the idle schedule: three bulletins a day. */
  daily: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Broker, media server, both processes started; the agent online with its schedule accepted and its media cached. */
async function startRig(tag: string, opts: { bareLean?: boolean } = {}): Promise<Rig> {
  const broker = await startBroker();
  const key = makeKey('bench-centre');
  const body = readFileSync(join(REPO_ROOT, 'agent/demo-assets/chime.mp3'));
  const cdn = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': body.length }).end(body),
  );
  await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
  const chime = {
    id: 'chime',
    url: `http://127.0.0.1:${(cdn.address() as { port: number }).port}/chime.mp3`,
    sha256: createHash('sha256').update(body).digest('hex'),
    bytes: body.length,
    durationMs: 3000,
  };
  const w = await Watcher.connect(broker.url, [
    deviceTopic(DEFAULT_ROOT, DEVICE, 'status'),
    deviceTopic(DEFAULT_ROOT, DEVICE, 'events'),
  ]);
  const dir = tempDir(`lean-${tag}`);
  const cfg = writeConfig(
    dir,
    boxConfig(broker, key, DEVICE, dir, {
      heartbeatS: 30,
      audio: { player: 'mpg123', output: 'paced' },
      log: { level: 'info' },
    }),
  );
  const bare = spawnNode([BARE, broker.url, `bench-bare-${tag}`, '30']);
  const bareLean = opts.bareLean
    ? spawnNode([BARE, broker.url, `bench-bare-lean-${tag}`, '30', 'no-write-cache'])
    : undefined;
  const agent = spawnDist(cfg);
  const rig: Rig = {
    broker,
    key,
    w,
    cdn,
    chime,
    agent,
    bare,
    bareLean,
    version: 0,
    // Three bulletins a day (Vietnam's time, UTC+7), at hours that do not fall in a bench run.
    daily: [5, 11, 17].map((h, i) => ({
      id: `bulletin-${i}`,
      source: { kind: 'file', media: ['chime'] },
      cron: `0 ${(localHour() + h) % 24} * * *`,
      priority: 40,
    })),
    async close() {
      await Promise.all([agent.stop(), bare.stop(), bareLean?.stop()]);
      await w.close();
      await broker.close();
      await new Promise((r) => cdn.close(r));
    },
  };
  try {
    await waitBirth(w, DEVICE, agent);
    await publishSchedule(rig, rig.daily);
    await w.waitFor((m) => m.topic.endsWith('/events') && m.json().type === 'media.cached', 20_000, 'the media cached');
  } catch (err) {
    await rig.close();
    throw err;
  }
  return rig;
}

/** The hour now in Asia/Ho_Chi_Minh (UTC+7, no daylight saving), the documents' zone. */
const localHour = () => (new Date().getUTCHours() + 7) % 24;

async function publishSchedule(rig: Rig, items: Record<string, unknown>[]): Promise<void> {
  const version = ++rig.version;
  const doc = scheduleDoc({
    id: 'lean-day',
    version,
    timezone: 'Asia/Ho_Chi_Minh',
    target: { devices: [DEVICE] },
    media: [rig.chime],
    items,
  });
  await publishOnce(rig.broker.url, deviceTopic(DEFAULT_ROOT, DEVICE, 'schedule'), await sign(doc, rig.key), true);
  await rig.w.waitFor(
    (m) => m.topic.endsWith('/events') && m.json().type === 'schedule.accepted' && m.json().version === version,
    20_000,
    `schedule v${version} accepted`,
  );
}

function alive(p: DistAgent, what: string): number {
  if (p.proc.exitCode !== null) throw new Error(`${what} exited ${p.proc.exitCode}: ${p.stderr().slice(-2000)}`);
  return p.proc.pid!;
}

export async function benchMemory(add: Add): Promise<void> {
  const rig = await startRig('mem', { bareLean: true });
  try {
    await sleep(SETTLE_S * 1000);
    const procs = [rig.agent, rig.bare, rig.bareLean!];
    const samples: { rss: number; anon: number }[][] = procs.map(() => []);
    for (let i = 0; i < size(5, 2); i++) {
      procs.forEach((p, k) => samples[k]!.push(memMb(alive(p, k === 0 ? 'the agent' : 'a bare process'))));
      await sleep(1000);
    }
    const [agent, bare, lean] = samples.map((xs) => ({
      rss: median(xs.map((x) => x.rss)),
      anon: median(xs.map((x) => x.anon)),
    }));
    const ratio = agent!.rss / bare!.rss;
    add(
      `idle RSS after ${SETTLE_S} s, built agent vs bare mqtt.js+pino (same flags, broker, run)`,
      `${agent!.rss.toFixed(1)} MB vs ${bare!.rss.toFixed(1)} MB: ${ratio.toFixed(2)}x`,
      `<= ${RSS_RATIO}x`,
      ratio <= RSS_RATIO,
    );
    add(
      'idle private memory (RssAnon), agent vs bare',
      `${agent!.anon.toFixed(1)} MB vs ${bare!.anon.toFixed(1)} MB (${agent!.anon >= bare!.anon ? '+' : ''}${(agent!.anon - bare!.anon).toFixed(1)} MB)`,
    );
    // The agent turns mqtt.js's writeCache off (6 MB of heap): the same bare process with it off too.
    add(
      'idle RSS, agent vs bare with writeCache off as the agent (stricter anchor)',
      `${agent!.rss.toFixed(1)} MB vs ${lean!.rss.toFixed(1)} MB: ${(agent!.rss / lean!.rss).toFixed(2)}x`,
    );
    // With NODE_OPTIONS=--require <a memory probe>, what each process said on stderr.
    if (process.env.BENCH_SHOW_STDERR) {
      procs.forEach((p, k) =>
        process.stderr.write(
          `${['agent', 'bare', 'bare, writeCache off'][k]}: stderr:\n${p.stderr()}\nmappings by RSS (kB): ${JSON.stringify(rssByMapping(p.proc.pid!).slice(0, 8))}\n`,
        ),
      );
    }
  } finally {
    await rig.close();
  }
}

/** RSS per mapped file (anonymous mappings under ''), largest first, kB. */
function rssByMapping(pid: number): [string, number][] {
  const by = new Map<string, number>();
  let name = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) name = m[1]!;
    else if (line.startsWith('Rss:')) by.set(name, (by.get(name) ?? 0) + Number(line.split(/\s+/)[1]));
  }
  return [...by].sort((a, b) => b[1] - a[1]);
}

interface Window {
  writeBytes: number;
  wchar: number;
  stdout: number;
}

/** What each process wrote over `s` seconds. */
async function measureWindow(procs: DistAgent[], s: number): Promise<Window[]> {
  const before = procs.map((p) => ({ io: procIo(alive(p, 'a process')), out: p.stdoutBytes() }));
  await sleep(s * 1000);
  return procs.map((p, i) => {
    const io = procIo(alive(p, 'a process'));
    return {
      writeBytes: io.writeBytes - before[i]!.io.writeBytes,
      wchar: io.wchar - before[i]!.io.wchar,
      stdout: p.stdoutBytes() - before[i]!.out,
    };
  });
}

const perDay = (bytes: number, s: number) => (bytes / s) * 86_400;
const human = (b: number) =>
  b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : b >= 1e3 ? `${(b / 1e3).toFixed(1)} kB` : `${Math.round(b)} B`;
const fmt = (x: Window, s: number) =>
  `disk ${human(perDay(x.writeBytes, s))}/day (${x.writeBytes} B), wchar ${human(perDay(x.wchar, s))}/day, stdout ${human(perDay(x.stdout, s))}/day`;

export async function benchWear(add: Add): Promise<void> {
  const rig = await startRig('wear');
  try {
    await sleep(size(10_000, 500)); // start-up and the first heartbeats are not the idle state
    const [idle, bareIdle] = await measureWindow([rig.agent, rig.bare], WINDOW_S);
    const idleDisk = perDay(idle!.writeBytes, WINDOW_S);
    add(`idle writes over ${WINDOW_S} s -> per day, agent`, fmt(idle!, WINDOW_S), 'disk < 1 MB/day', idleDisk < 1e6);
    add(`idle writes over ${WINDOW_S} s -> per day, bare anchor`, fmt(bareIdle!, WINDOW_S));
    // Playing: the 3 s chime every EVERY_S, on top of the three bulletins.
    const started = () =>
      rig.w.messages.filter((m) => m.topic.endsWith('/events') && m.json().type === 'play.started').length;
    // In this hour and the next only (the run may cross the hour).
    const h = localHour();
    await publishSchedule(rig, [
      ...rig.daily,
      {
        id: 'repeat',
        source: { kind: 'file', media: ['chime'] },
        cron: `*/${EVERY_S} * ${h},${(h + 1) % 24} * * *`,
        priority: 50,
      },
    ]);
    const n0 = started();
    await rig.w.waitUntil(() => (started() > n0 ? true : undefined), 20_000, 'the first play');
    const k0 = started();
    const [playing, barePlaying] = await measureWindow([rig.agent, rig.bare], WINDOW_S);
    const plays = started() - k0;
    add(
      `writes while playing (3 s item every ${EVERY_S} s: ${plays} plays in ${WINDOW_S} s) -> per day, agent`,
      fmt(playing!, WINDOW_S),
    );
    add(`writes in the same window -> per day, bare anchor`, fmt(barePlaying!, WINDOW_S));
  } finally {
    await rig.close();
  }
}
