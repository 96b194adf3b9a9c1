// Fleet numbers for the centre (noc): how many boxes one Mosquitto and one `noc watch`
// follow without falling behind, and how fast one `noc events` archives events.
//
// Everything runs on this machine: Mosquitto (test/helpers/broker.ts), `noc simulate`
// and `noc watch` / `noc events` as separate processes, as they would be deployed.
// Time is compressed: a fixed number of connections beats faster than the default 30 s,
// so R heartbeats/s stand for R x 30 boxes at the default period (heartbeats are most
// of a fleet's traffic; births, events and results are rare next to them). A separate
// phase holds many connections at the real 30 s period, for the per-connection costs.
// CPU is read from /proc/<pid>/stat (utime+stime), so the numbers say which process
// saturates first. Runtime about 2.5 minutes.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import mqtt from 'mqtt';
import { startBroker, type TestBroker } from '../test/helpers/broker.js';
import { tempDir } from '../test/helpers/tmp.js';
import { REPO_ROOT } from '../test/helpers/agent-process.js';
import { DEFAULT_ROOT, deviceTopic } from '../contract/topics.js';
import { SMOKE, size } from './smoke.js';

type Add = (metric: string, value: string, target?: string, ok?: boolean) => void;

const NOC = join(REPO_ROOT, 'noc/cli.ts');
const HZ = 100; // USER_HZ
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Proc {
  p: ChildProcess;
  /** Parsed `{"stats":true,...}` lines from stderr, with their arrival time. */
  stats: { at: number; s: Record<string, number> }[];
  err: () => string;
}

function noc(args: string[]): Proc {
  const p = spawn(process.execPath, ['--import', 'tsx', NOC, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stats: Proc['stats'] = [];
  let err = '';
  let buf = '';
  p.stderr!.setEncoding('utf8');
  p.stderr!.on('data', (b: Buffer) => {
    err += b.toString();
    if (err.length > 100_000) err = err.slice(-50_000);
    buf += b.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('{"stats":true'))
        stats.push({ at: performance.now(), s: JSON.parse(line) as Record<string, number> });
    }
  });
  return { p, stats, err: () => err };
}

async function waitErr(proc: Proc, re: RegExp, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!re.test(proc.err())) {
    if (proc.p.exitCode !== null) throw new Error(`process exited: ${proc.err().slice(-1000)}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${re}: ${proc.err().slice(-1000)}`);
    await sleep(50);
  }
}

async function stop(proc: Proc, ms = 60_000): Promise<void> {
  if (proc.p.exitCode !== null || proc.p.signalCode !== null) return;
  const gone = new Promise((r) => proc.p.once('exit', r));
  proc.p.kill('SIGINT');
  const t = setTimeout(() => proc.p.kill('SIGKILL'), ms);
  await gone;
  clearTimeout(t);
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
}

/** The Mosquitto that startBroker() spawned: our child named mosquitto. */
function brokerPid(): number {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (comm === 'mosquitto' && ppid === process.pid) return Number(d);
    } catch {
      /* gone */
    }
  }
  throw new Error('mosquitto child not found (is mosquitto installed?)');
}

/** Busy and total ticks of the whole machine (all cores), from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + (f[4] ?? 0); // idle + iowait
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** CPU % of a core per process over a window, and `machine`: % of all cores busy (kernel and softirq included). */
async function cpuOver(pids: Record<string, number>, ms: number): Promise<Record<string, number>> {
  const a = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuTicks(p)]));
  const m0 = machineTicks();
  await sleep(ms);
  const m1 = machineTicks();
  const out = Object.fromEntries(
    Object.entries(pids).map(([k, p]) => [k, ((cpuTicks(p) - a[k]!) / HZ / (ms / 1000)) * 100]),
  );
  out.machine = ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100;
  return out;
}

/** Rate of a cumulative counter between the first and last stats lines inside [t0, t1]. */
function rate(proc: Proc, key: string, t0: number, t1: number): number {
  const inside = proc.stats.filter((x) => x.at >= t0 && x.at <= t1);
  if (inside.length < 2) return NaN;
  const a = inside[0]!;
  const b = inside[inside.length - 1]!;
  return ((b.s[key]! - a.s[key]!) / (b.at - a.at)) * 1000;
}

function maxOf(proc: Proc, key: string, t0: number, t1: number): number {
  return Math.max(...proc.stats.filter((x) => x.at >= t0 && x.at <= t1).map((x) => x.s[key] ?? 0));
}

const pct = (n: number) => `${n.toFixed(0)} %`;

interface Level {
  boxes: number;
  heartbeatS: number;
}

/** Fixed connections, faster beats: 1,000 to 32,000 heartbeats/s = 30,000 to 960,000 boxes at 30 s, until one falls behind (smoke: one small level). */
const LEVELS: Level[] = SMOKE
  ? [{ boxes: 100, heartbeatS: 0.5 }]
  : [
      { boxes: 2000, heartbeatS: 2 },
      { boxes: 2000, heartbeatS: 1 },
      { boxes: 2000, heartbeatS: 0.5 },
      { boxes: 2000, heartbeatS: 0.25 },
      { boxes: 4000, heartbeatS: 0.25 },
      { boxes: 4000, heartbeatS: 0.125 },
    ];

async function rateLevel(
  broker: TestBroker,
  watch: Proc,
  mosq: number,
  l: Level,
  add: Add,
): Promise<{ keptUp: boolean; line: string }> {
  const sim = noc([
    'simulate',
    '--broker',
    broker.url,
    '--boxes',
    String(l.boxes),
    '--heartbeat',
    String(l.heartbeatS),
    '--play-every',
    '0',
    '--ramp',
    '1000',
    '--stats',
    '1',
    '--session-expiry',
    '0',
  ]);
  try {
    await waitErr(sim, /ready: \d+ of \d+ boxes connected/, 60_000);
    await sleep(size(2000, 500) + l.heartbeatS * 1000); // every box past its jittered first beat
    const t0 = performance.now();
    // Smoke: still long enough for two of the 1 s stats lines that rate() needs.
    const cpu = await cpuOver({ mosquitto: mosq, simulate: sim.p.pid!, watch: watch.p.pid! }, size(8000, 2000));
    const t1 = performance.now();
    await sleep(1200); // the last stats lines of the window
    const sent = rate(sim, 'heartbeats', t0 - 500, t1 + 1100);
    const received = rate(watch, 'heartbeats', t0 - 500, t1 + 1100);
    const lagP99 = maxOf(watch, 'lagMsP99', t0, t1 + 1100);
    const lagMax = maxOf(watch, 'lagMsMax', t0, t1 + 1100);
    const ratio = received / sent;
    const keptUp = ratio > 0.98 && lagP99 < 1000;
    const target = l.boxes / l.heartbeatS;
    // CPU time per heartbeat: what one core would carry at 100 % (mosquitto: one in, one out).
    const us = (cpuPct: number) => ((cpuPct / 100) * 1e6) / received;
    const line =
      `${Math.round(sent)}/s sent (asked ${Math.round(target)}/s = ${Math.round(target * 30).toLocaleString('en')} boxes at 30 s), ` +
      `${Math.round(received)}/s received (${(ratio * 100).toFixed(1)} %), lag p99 ${lagP99} ms max ${lagMax} ms; ` +
      `CPU mosquitto ${pct(cpu.mosquitto!)}, simulate ${pct(cpu.simulate!)}, watch ${pct(cpu.watch!)}, machine ${pct(cpu.machine!)} of ${cpus().length} cores; ` +
      `per heartbeat: watch ${us(cpu.watch!).toFixed(0)} µs, mosquitto ${us(cpu.mosquitto!).toFixed(0)} µs, simulate ${us(cpu.simulate!).toFixed(0)} µs`;
    add(`fleet: ${l.boxes} connections, heartbeat ${l.heartbeatS} s`, line, 'received >= 98 %, lag p99 < 1 s', keptUp);
    return { keptUp, line };
  } finally {
    await stop(sim);
  }
}

async function connectionsPhase(broker: TestBroker, mosq: number, add: Add): Promise<void> {
  const n = size(10_000, 200);
  const before = rssMb(mosq);
  const sim = noc([
    'simulate',
    '--broker',
    broker.url,
    '--boxes',
    String(n),
    '--prefix',
    'conn-',
    '--heartbeat',
    '30',
    '--play-every',
    '0',
    '--ramp',
    '1000',
    '--session-expiry',
    '0',
  ]);
  try {
    const t0 = performance.now();
    await waitErr(sim, new RegExp(`ready: ${n} of ${n} boxes connected`), 90_000);
    const ramp = (performance.now() - t0) / 1000;
    await sleep(size(2000, 200));
    const cpu = await cpuOver({ mosquitto: mosq, simulate: sim.p.pid! }, size(10_000, 1000));
    const mosqMb = rssMb(mosq) - before;
    const simMb = rssMb(sim.p.pid!);
    add(
      `fleet: ${n.toLocaleString('en')} connections at heartbeat 30 s`,
      `connected in ${ramp.toFixed(1)} s (ramp 1000/s); mosquitto +${mosqMb.toFixed(0)} MB (${((mosqMb * 1024) / n).toFixed(1)} kB/connection), CPU ${pct(cpu.mosquitto!)}; simulate RSS ${simMb.toFixed(0)} MB (${((simMb * 1024) / n).toFixed(0)} kB/box), CPU ${pct(cpu.simulate!)}`,
    );
  } finally {
    await stop(sim, 90_000);
  }
}

async function eventsPhase(broker: TestBroker, add: Add): Promise<void> {
  const db = join(tempDir('bench-events'), 'events.sqlite');
  const ev = noc(['events', '--broker', broker.url, '--db', db, '--client-id', 'bench-events', '--stats', '1']);
  const publishers = 4;
  const each = size(10_000, 250);
  try {
    await waitErr(ev, /collecting/, 30_000);
    const clients = await Promise.all(
      Array.from({ length: publishers }, (_, i) => mqtt.connectAsync(broker.url, { clientId: `bench-pub-${i}` })),
    );
    const t0 = performance.now();
    const c0 = cpuTicks(ev.p.pid!);
    await Promise.all(
      clients.map(async (c, i) => {
        const pending: Promise<unknown>[] = [];
        for (let s = 1; s <= each; s++) {
          const body = JSON.stringify({
            epoch: `bench-${i}`,
            seq: s,
            ts: new Date().toISOString(),
            type: 'play.finished',
            itemId: 'news',
            docId: 'daily',
            docVersion: 1,
            occurrence: new Date().toISOString(),
            lateMs: 3,
            source: 'file',
            priority: 50,
            playedMs: 1000,
          });
          pending.push(c.publishAsync(deviceTopic(DEFAULT_ROOT, `bench-${i}`, 'events'), body, { qos: 1 }));
          if (pending.length >= 200) await Promise.all(pending.splice(0));
        }
        await Promise.all(pending);
      }),
    );
    const total = publishers * each;
    const end = Date.now() + 120_000;
    while ((ev.stats.at(-1)?.s.stored ?? 0) < total && Date.now() < end) await sleep(100);
    const s = (performance.now() - t0) / 1000;
    const cpu = ((cpuTicks(ev.p.pid!) - c0) / HZ / s) * 100;
    const stored = ev.stats.at(-1)?.s.stored ?? 0;
    add(
      `noc events: archive ${total.toLocaleString('en')} QoS 1 events (SQLite WAL, synchronous=normal)`,
      `${Math.round(stored / s)} events/s (${stored} in ${s.toFixed(1)} s), CPU of noc events ${pct(cpu)}`,
      'all stored',
      stored === total,
    );
    await Promise.all(clients.map((c) => c.endAsync()));
  } finally {
    await stop(ev);
  }
}

export async function benchFleet(add: Add): Promise<void> {
  const broker = await startBroker();
  if (broker.kind !== 'mosquitto') {
    add('fleet', 'skipped: needs mosquitto on PATH');
    await broker.close();
    return;
  }
  const mosq = brokerPid();
  // Stale after 3 periods of the fastest level would flag boxes between levels; --period only sets the default.
  const watch = noc(['watch', '--broker', broker.url, '--json', '--stats', '1']);
  try {
    await waitErr(watch, /subscribed/, 30_000);
    await connectionsPhase(broker, mosq, add);
    for (const l of LEVELS) {
      const r = await rateLevel(broker, watch, mosq, l, add);
      if (!r.keptUp) break;
    }
    const boxes = watch.stats.at(-1)?.s.boxes ?? 0;
    add(
      'noc watch memory',
      `${rssMb(watch.p.pid!).toFixed(0)} MB RSS with ${boxes.toLocaleString('en')} boxes in its table`,
    );
    await eventsPhase(broker, add);
  } finally {
    await stop(watch);
    await broker.close();
  }
}

// `node --import tsx bench/fleet.ts` runs this bench alone.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/bench\//, '/bench/'))) {
  const t0 = performance.now();
  benchFleet((metric, value, target, ok) =>
    console.log(`${metric}: ${value}${target ? `  [target ${target}: ${ok ? 'yes' : 'NO'}]` : ''}`),
  ).then(
    () => {
      console.log(`(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
