// `npm run bench -- exporter`: memory of `noc exporter` and the time of a /metrics scrape
// for 10,000 and 50,000 boxes, next to anchors measured in the same run.
//
// 1. Through a real Mosquitto: `noc simulate` with 10,000 boxes (heartbeat 30 s) and the
//    built `noc exporter` (dist/, as production runs it), scraped five times.
// 2. Through the model directly (bench/exporter-feed.mjs, a child process; 50,000 MQTT
//    connections are beyond this machine): 10,000 and 50,000 boxes per box, 50,000 per
//    group (63 provinces), each scraped five times.
// Anchors: a bare node:http process answering a body of the same size from memory (the
// cost of sending the bytes: what the exporter adds is the building), and the RSS of an
// idle node process.
// Prometheus's own memory over ten minutes is too long for this table: bench/prometheus-soak.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startBroker } from '../test/helpers/broker.js';
import { REPO_ROOT } from '../test/helpers/agent-process.js';
import { terminate } from '../test/helpers/terminate.js';
import { size } from './smoke.js';

type Add = (metric: string, value: string, target?: string, ok?: boolean) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
const DIST = join(REPO_ROOT, 'dist');
/** The simulated boxes' heartbeat period: the scrape waits one full period after all are seen. */
const HEARTBEAT_S = size(30, 2);
/** Boxes over Mosquitto; fed straight into the model; and per group. */
const OVER_MQTT = size(10_000, 100);
const FED = [size(10_000, 100), size(50_000, 500)];
const PER_GROUP = size(50_000, 500);

interface Scrape {
  /** CPU the serving process spent per scrape (utime+stime from /proc): robust on a shared machine. */
  cpuMs: number;
  medianMs: number;
  maxMs: number;
  bytes: number;
  series: number;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** One GET on a fresh connection (fetch's keep-alive reuse raced the server's idle close). */
function getBody(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    }).on('error', reject);
  });
}

async function scrape(port: number, pid: number, times = 5): Promise<Scrape> {
  const ms: number[] = [];
  let body = '';
  const ticks0 = cpuTicks(pid);
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    body = await getBody(port);
    ms.push(performance.now() - t0);
  }
  const cpuMs = ((cpuTicks(pid) - ticks0) * 10) / times; // USER_HZ 100
  ms.sort((a, b) => a - b);
  const series = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  return { cpuMs, medianMs: ms[Math.floor(ms.length / 2)]!, maxMs: ms.at(-1)!, bytes: Buffer.byteLength(body), series };
}

function spawnNode(args: string[]): ChildProcess {
  return spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
}

async function waitLine(p: ChildProcess, re: RegExp, ms: number): Promise<RegExpMatchArray> {
  let out = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms: ${out.slice(-500)}`)), ms);
    p.stdout!.setEncoding('utf8');
    p.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = re.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    });
    // A feeder that dies (a broken import) fails the section now, not after the whole wait.
    p.once('exit', (code, signal) => {
      clearTimeout(t);
      reject(new Error(`the feeder exited (${signal ?? code}) before printing ${re}: ${out.slice(-500)}`));
    });
  });
}

const stop = (p: ChildProcess) => terminate(p, 15_000);

/** A feeder child: mode box | group | static. */
async function fed(mode: string, n: number): Promise<{ rss: number; s: Scrape; ingestMs: number }> {
  const port = await freePort();
  const p = spawnNode([join(REPO_ROOT, 'bench/exporter-feed.mjs'), mode, String(n), String(port)]);
  try {
    const m = await waitLine(p, /ready \d+ (\d+)/, 300_000);
    const s = await scrape(port, p.pid!);
    return { rss: rssMB(p.pid!), s, ingestMs: Number(m[1]) };
  } finally {
    await stop(p);
  }
}

const fmt = (s: Scrape) =>
  `${s.medianMs.toFixed(0)} ms median, ${s.maxMs.toFixed(0)} max, ${s.cpuMs.toFixed(0)} ms CPU, ${(s.bytes / 1e6).toFixed(1)} MB, ${s.series.toLocaleString('en')} series`;

async function overMqtt(add: Add, n: number): Promise<void> {
  const broker = await startBroker();
  const port = await freePort();
  const sim = spawnNode([
    join(DIST, 'noc/cli.js'),
    'simulate',
    '--broker',
    broker.url,
    '--boxes',
    String(n),
    '--heartbeat',
    String(HEARTBEAT_S),
    '--ramp',
    '1000',
    '--play-every',
    '600',
    '--mqtt-version',
    '5',
  ]);
  const exp = spawnNode([
    join(DIST, 'noc/cli.js'),
    'exporter',
    '--broker',
    broker.url,
    '--listen',
    `127.0.0.1:${port}`,
    '--mqtt-version',
    '5',
  ]);
  try {
    // Every box known and beating: wait for loa_exporter_boxes, then one full period.
    const deadline = Date.now() + 180_000;
    for (;;) {
      const body = await fetch(`http://127.0.0.1:${port}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
      if (Number(/^loa_exporter_boxes (\d+)/m.exec(body)?.[1]) >= n) break;
      if (Date.now() > deadline) throw new Error(`exporter did not see ${n} boxes within 180 s`);
      await sleep(size(2000, 200));
    }
    await sleep(HEARTBEAT_S * 1000);
    const s = await scrape(port, exp.pid!);
    add(`exporter, ${n.toLocaleString('en')} boxes over Mosquitto: RSS`, `${rssMB(exp.pid!).toFixed(0)} MB`);
    add(`exporter, ${n.toLocaleString('en')} boxes over Mosquitto: /metrics`, fmt(s));
    add(`exporter, ${n.toLocaleString('en')} boxes: series per box`, (s.series / n).toFixed(1));
  } finally {
    await stop(exp);
    await stop(sim);
    await broker.close();
  }
}

export async function benchExporter(add: Add): Promise<void> {
  const idle = spawnNode(['-e', 'setInterval(() => {}, 1000); process.stdout.write("ready 0\\n")']);
  await waitLine(idle, /ready/, 10_000);
  await sleep(500);
  add('anchor: idle node process RSS', `${rssMB(idle.pid!).toFixed(0)} MB`);
  await stop(idle);
  await overMqtt(add, OVER_MQTT);
  for (const n of FED) {
    const box = await fed('box', n);
    add(`exporter model, ${n.toLocaleString('en')} boxes (fed directly): RSS`, `${box.rss.toFixed(0)} MB`);
    add(`exporter model, ${n.toLocaleString('en')} boxes: /metrics`, fmt(box.s));
    if (n === FED[0]) {
      // Issue [3/8]: one rogue box must not cost the fleet its scrape (before: 242 s to ingest, 47 s a scrape).
      const rogue = await fed('rogue', n);
      add(
        `exporter model, ${n.toLocaleString('en')} boxes + a rogue box of 20,000 fault components: ingest of its 20,000 events`,
        `${rogue.ingestMs} ms`,
        'before the per-box bounds: 242 s',
      );
      add(
        `exporter model, ${n.toLocaleString('en')} boxes + the rogue box: /metrics`,
        fmt(rogue.s),
        `beside the clean fleet above: max ${(rogue.s.maxMs / box.s.maxMs).toFixed(2)}x`,
        rogue.s.maxMs < 10_000,
      );
    }
    const anchor = await fed('static', n);
    add(
      `anchor: node:http sending the same ${(anchor.s.bytes / 1e6).toFixed(1)} MB from memory`,
      `${anchor.s.medianMs.toFixed(0)} ms median, ${anchor.s.maxMs.toFixed(0)} max, ${anchor.s.cpuMs.toFixed(0)} ms CPU`,
    );
  }
  const group = await fed('group', PER_GROUP);
  const boxes = PER_GROUP.toLocaleString('en');
  add(`exporter --per-group (63 provinces), ${boxes} boxes: RSS`, `${group.rss.toFixed(0)} MB`);
  add(`exporter --per-group (63 provinces), ${boxes} boxes: /metrics`, fmt(group.s));
}

if (process.argv[1]?.endsWith('bench/exporter.ts') || process.argv[1]?.endsWith('bench/exporter.js')) {
  benchExporter((metric, value) => console.log(`${metric}: ${value}`)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
