// The agent's own numbers, the first rows of `npm run bench` (run.ts): idle RSS, private
// memory and CPU of the built and the tsx agent with the MQTT bytes they put on the wire
// (section idle), start-up to birth (startup), durable outbox inserts (outbox), and how
// fast a backlog of queued events drains once the broker returns (drain). Real agents
// on a real Mosquitto; every number goes to the table through `add`.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { join } from 'node:path';
import { freePort, type TestBroker } from '../test/helpers/broker.js';
import { hashPassword } from '../contract/web-auth.js';
import { Watcher } from '../test/helpers/watcher.js';
import { tempDir } from '../test/helpers/tmp.js';
import { REPO_ROOT, writeConfig } from '../test/helpers/agent-process.js';
import { openDb } from '../agent/adapters/sqlite-db.js';
import { Outbox } from '../agent/adapters/outbox-store.js';
import { systemClock } from '../agent/adapters/clock.js';
import { parseConfig } from '../agent/config.js';
import { createLogger } from '../agent/log.js';
import { Agent } from '../agent/compose/agent.js';
import { DEFAULT_ROOT, deviceTopic, fleetFilter } from '../contract/topics.js';
import type { Add } from './agent-proc.js';
import { size } from './smoke.js';
import { until } from '../test/helpers/wait.js';

export const IDLE_S = size(60, 2, 'BENCH_IDLE_S');
const DIST_MAIN = join(REPO_ROOT, 'dist/agent/main.js');
const TSX_MAIN = join(REPO_ROOT, 'agent/main.ts');

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// The V8 flags systemd/loa-agent.service runs the agent with: a 1 MiB young generation
// and one background V8 thread cut ~10 MB of resident memory on an idle agent.
const PRODUCTION_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1'];

function agentArgs(kind: 'dist' | 'tsx', cfg: string): string[] {
  return kind === 'dist'
    ? [...PRODUCTION_FLAGS, DIST_MAIN, '--config', cfg]
    : ['--import', 'tsx', TSX_MAIN, '--config', cfg];
}

function spawnQuiet(args: string[]): ChildProcess {
  return spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** RSS, its private (anonymous) part (kB) and CPU ticks (utime+stime), from /proc. */
function procSample(pid: number): { rssKb: number; anonKb: number; ticks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const anonKb = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssKb, anonKb, ticks: Number(fields[11]) + Number(fields[12]) };
}

/** A TCP relay that counts the bytes and chunks each way: MQTT bytes on the wire. */
async function countingProxy(targetPort: number): Promise<{
  port: number;
  up: number;
  down: number;
  upChunks: number;
  downChunks: number;
  reset(): void;
  close(): Promise<void>;
  server: Server;
}> {
  const c = { up: 0, down: 0, upChunks: 0, downChunks: 0 };
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    client.on('data', (b) => {
      c.up += b.length;
      c.upChunks++;
      upstream.write(b);
    });
    upstream.on('data', (b) => {
      c.down += b.length;
      c.downChunks++;
      client.write(b);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    server,
    get up() {
      return c.up;
    },
    get down() {
      return c.down;
    },
    get upChunks() {
      return c.upChunks;
    },
    get downChunks() {
      return c.downChunks;
    },
    reset() {
      c.up = c.down = c.upChunks = c.downChunks = 0;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export async function benchIdle(add: Add, broker: TestBroker): Promise<void> {
  const proxy = await countingProxy(broker.port);
  const procs: { kind: 'dist' | 'tsx' | 'dist, page on'; p: ChildProcess }[] = [];
  const w = await Watcher.connect(broker.url, [fleetFilter(DEFAULT_ROOT, 'status')]);
  // The third: dist with the technician's page served (issue 30), logged into once.
  const pagePort = await freePort();
  for (const kind of ['dist', 'tsx', 'dist, page on'] as const) {
    const dir = tempDir(`idle-${kind.replace(/\W+/g, '-')}`);
    const port = kind === 'dist' ? proxy.port : broker.port;
    const cfg = writeConfig(dir, {
      deviceId: `idle-${kind.replace(/\W+/g, '-')}`,
      mqtt: { url: `mqtt://127.0.0.1:${port}` },
      stateDir: join(dir, 'state'),
      cacheDir: join(dir, 'cache'),
      ...(kind === 'dist, page on'
        ? { page: { enabled: true, port: pagePort, interfaces: ['lo'], passwordHash: hashPassword('bench-page') } }
        : {}),
    });
    procs.push({ kind, p: spawnQuiet(agentArgs(kind === 'tsx' ? 'tsx' : 'dist', cfg)) });
  }
  await w.waitUntil(
    () => (w.messages.filter((m) => m.json().online === true).length >= 3 ? true : undefined),
    20_000,
    'the idle agents online',
  );
  // The page listens once the agent has scanned its interfaces, which may come after its
  // birth (CI40: "fetch failed", refused): log in as soon as it answers.
  const login = await until(
    () =>
      fetch(`http://127.0.0.1:${pagePort}/login`, {
        method: 'POST',
        body: 'password=bench-page',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        redirect: 'manual',
      }).catch(() => undefined),
    20_000,
    "the technician's page listening",
  );
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  await (await fetch(`http://127.0.0.1:${pagePort}/`, { headers: { cookie } })).text();
  await w.close();
  await new Promise((r) => setTimeout(r, size(2000, 500))); // let start-up work settle
  proxy.reset();
  const hz = 100; // USER_HZ on Linux
  const start = procs.map(({ p }) => procSample(p.pid!));
  await new Promise((r) => setTimeout(r, IDLE_S * 1000));
  const end = procs.map(({ p }) => procSample(p.pid!));
  procs.forEach(({ kind }, i) => {
    const cpu = ((end[i]!.ticks - start[i]!.ticks) / hz / IDLE_S) * 100;
    const rssMb = end[i]!.rssKb / 1024;
    if (kind === 'dist, page on') {
      const more = rssMb - end[0]!.rssKb / 1024;
      add(`idle RSS (${kind}) - (dist)`, `${more >= 0 ? '+' : ''}${more.toFixed(1)} MB`, '<= +5 MB', more <= 5);
      return;
    }
    add(`idle RSS (${kind})`, `${rssMb.toFixed(1)} MB`, '< 60 MB', rssMb < 60);
    // The rest of RSS is the node binary's file-backed text, shared and reclaimable.
    add(`idle private memory, RssAnon (${kind})`, `${(end[i]!.anonKb / 1024).toFixed(1)} MB`);
    add(`idle CPU over ${IDLE_S} s (${kind})`, `${cpu.toFixed(2)} % of a core`, '< 1 %', cpu < 1);
  });
  // Wire: MQTT bytes both ways in the idle window (heartbeat every 30 s, keepalive 60 s).
  const mqttBytes = proxy.up + proxy.down;
  const perDay = (mqttBytes / IDLE_S) * 86_400;
  add('idle MQTT bytes/day (heartbeatS=30)', `${(perDay / 1e6).toFixed(2)} MB (${mqttBytes} B in ${IDLE_S} s)`);
  // TCP/IPv4 with timestamps adds 52 bytes per segment; each data segment is answered
  // by (at most) one bare ACK. An estimate, not a capture: TLS adds ~29 B per record.
  const segments = proxy.upChunks + proxy.downChunks;
  const withTcp = ((mqttBytes + segments * 52 * 2) / IDLE_S) * 86_400;
  add('idle bytes/day incl. TCP/IP (est.)', `${(withTcp / 1e6).toFixed(2)} MB`);
  for (const { p } of procs) p.kill('SIGTERM');
  await Promise.all(procs.map(({ p }) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
  await proxy.close();
}

export async function benchStartup(
  add: Add,
  broker: TestBroker,
  kind: 'dist' | 'tsx',
  runs = size(5, 1),
): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = tempDir(`start-${kind}`);
    const id = `start-${kind}-${i}`;
    const cfg = writeConfig(dir, {
      deviceId: id,
      mqtt: { url: broker.url },
      stateDir: join(dir, 'state'),
      cacheDir: join(dir, 'cache'),
    });
    const w = await Watcher.connect(broker.url, [deviceTopic(DEFAULT_ROOT, id, 'status')]);
    const t0 = performance.now();
    const p = spawnQuiet(agentArgs(kind, cfg));
    await w.waitFor((m) => m.json().online === true, 20_000, 'birth');
    times.push(performance.now() - t0);
    p.kill('SIGKILL');
    await w.close();
  }
  times.sort((a, b) => a - b);
  const med = pct(times, 50);
  add(
    `start-up to birth (${kind}), median of ${runs}`,
    `${med.toFixed(0)} ms (min ${times[0]!.toFixed(0)}, max ${times.at(-1)!.toFixed(0)})`,
    kind === 'dist' ? '< 1000 ms' : '',
    kind === 'dist' ? med < 1000 : undefined,
  );
}

export function benchOutboxInserts(add: Add): void {
  for (const sync of ['full', 'normal'] as const) {
    const dir = tempDir(`ins-${sync}`);
    const db = openDb(join(dir, 'loa.db'), { synchronous: sync });
    const ob = new Outbox(db, { maxEvents: 200_000, clock: systemClock });
    const n = size(5000, 200);
    const t0 = performance.now();
    for (let i = 0; i < n; i++)
      ob.emit('hw.fault', { component: 'door', code: 'open', message: 'cabinet door opened' });
    const perS = n / ((performance.now() - t0) / 1000);
    add(
      `outbox durable inserts, one commit each (synchronous=${sync})`,
      `${Math.round(perS)} /s`,
      '>= 5000 /s',
      perS >= 5000,
    );
    db.close();
  }
}

export async function benchDrain(add: Add, broker: TestBroker): Promise<void> {
  const n = size(10_000, 500);
  const dir = tempDir('drain');
  const stateDir = join(dir, 'state');
  const db = openDb(join(stateDir, 'loa.db'));
  const ob = new Outbox(db, { maxEvents: 200_000, clock: systemClock });
  db.transaction(() => {
    for (let i = 0; i < n; i++) ob.emit('media.failed', { mediaId: `m${i}`, sha256: 'ab'.repeat(32), reason: 'bench' });
  })();
  db.close();
  const w = await Watcher.connect(broker.url, [deviceTopic(DEFAULT_ROOT, 'drain-box', 'events')], {
    clientId: 'bench-centre',
    clean: false,
    protocolVersion: 4,
  });
  await broker.stop();
  const config = parseConfig({
    deviceId: 'drain-box',
    mqtt: { url: broker.url, reconnect: { minS: 1, maxS: 1 } },
    stateDir,
    cacheDir: join(dir, 'cache'),
  });
  let births = 0;
  const agent = new Agent({ config, log: createLogger({ level: 'silent', pretty: false }), onBirth: () => births++ });
  await agent.start();
  await new Promise((r) => setTimeout(r, 1500));
  await broker.start();
  // Measured from the agent's reconnection (its backoff delay is not drain time).
  const tUp = await w.waitUntil(
    () => (agent.link.connected ? performance.now() : undefined),
    20_000,
    'agent reconnect',
  );
  await w.waitUntil(() => (agent.outbox.size === 0 ? true : undefined), 60_000, 'outbox drained');
  const ms = performance.now() - tUp;
  add(
    `drain ${n.toLocaleString('en')} queued events after the broker returns`,
    `${ms.toFixed(0)} ms (${Math.round(n / (ms / 1000))} events/s)`,
    '< 5000 ms',
    ms < 5000,
  );
  await agent.stop();
  await w.close();
  void births;
}
