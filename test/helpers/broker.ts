// A real MQTT broker for integration tests: Mosquitto from PATH, on a free loopback
// port, with a config generated here, and stop()/start() to cause outages. Where
// Mosquitto is missing the tests fall back to aedes (in-process, MQTT 3.1.1 only) and
// say so; under CI=true a missing Mosquitto fails the run instead.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer as createNetServer, type Server } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { tempDir } from './tmp.js';
import { until } from './wait.js';

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
  requireClientCert: boolean;
}

export interface TestBroker {
  readonly kind: 'mosquitto' | 'aedes';
  readonly port: number;
  readonly url: string;
  readonly supportsV5: boolean;
  /** Start again on the same port after stop(). */
  start(): Promise<void>;
  /** Stop the broker (SIGKILL for mosquitto: an outage, not a goodbye). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

let warned = false;

export function mosquittoPath(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v mosquitto || ls /usr/sbin/mosquitto 2>/dev/null'], { encoding: 'utf8' });
  const p = r.stdout.trim().split('\n')[0];
  return p ? p : undefined;
}

/**
 * A port free now, for a server a test starts (and may stop and start again on the same
 * port). Chosen at random below the kernel's ephemeral range (32768-60999 by default), so
 * no outgoing connection of a concurrent test file can take it meanwhile; the kernel's
 * own choice (port 0) would be in that range, where it could.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  if (typeof a !== 'object' || !a) throw new Error('no port');
  return a.port;
}

async function canListen(port: number): Promise<boolean> {
  const s = createNetServer();
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise<void>((r) => s.close(() => r()));
  return ok;
}

export interface BrokerOptions {
  tls?: TlsFiles;
  /**
   * Keep sessions across stop()/start() (mosquitto persistence, saved on SIGTERM), so a
   * test's watcher with a persistent session misses nothing while the broker is down.
   */
  persistent?: boolean;
}

export async function startBroker(opts: BrokerOptions = {}): Promise<TestBroker> {
  const bin = mosquittoPath();
  if (bin) return startMosquitto(bin, opts);
  if (process.env.CI === 'true') throw new Error('mosquitto not found on PATH; CI must install it (.ci/run does)');
  if (opts.tls) throw new Error('TLS tests need mosquitto');
  if (!warned) {
    warned = true;
    process.stderr.write(
      '# mosquitto not found: falling back to aedes (MQTT 3.1.1 only); install mosquitto for the real thing\n',
    );
  }
  return startAedes();
}

async function startMosquitto(bin: string, opts: BrokerOptions, tries = 3): Promise<TestBroker> {
  const port = await freePort();
  const dir = tempDir('broker');
  const conf = join(dir, 'mosquitto.conf');
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    // Without it every delivery waits for Nagle's delayed ACK (~40 ms): latency numbers would measure the kernel.
    'set_tcp_nodelay true',
    ...(opts.persistent
      ? ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 0']
      : ['persistence false']),
    // Run as root, mosquitto drops to user "mosquitto", which cannot read our temp files.
    `user ${userInfo().username}`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'max_queued_messages 100000',
  ];
  if (opts.tls) {
    lines.push(`cafile ${opts.tls.ca}`, `certfile ${opts.tls.cert}`, `keyfile ${opts.tls.key}`);
    if (opts.tls.requireClientCert) lines.push('require_certificate true');
  }
  writeFileSync(conf, lines.join('\n') + '\n');
  let proc: ChildProcess | undefined;
  let stderr = '';
  const start = async () => {
    stderr = '';
    proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    await waitForPort(port, 10_000, () => (proc?.exitCode !== null ? `mosquitto exited: ${stderr}` : undefined));
  };
  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill(opts.persistent ? 'SIGTERM' : 'SIGKILL');
    await gone;
  };
  try {
    await start();
  } catch (e) {
    // Another test file bound the port between freePort() and mosquitto: take another.
    if (tries > 1 && /Address already in use/i.test(String(e))) return startMosquitto(bin, opts, tries - 1);
    throw e;
  }
  return {
    kind: 'mosquitto',
    port,
    url: `${opts.tls ? 'mqtts' : 'mqtt'}://${opts.tls ? 'localhost' : '127.0.0.1'}:${port}`,
    supportsV5: true,
    start,
    stop,
    close: stop,
  };
}

/** An in-process aedes broker (MQTT 3.1.1 only, like the demo's): the fallback, and the tests of the 5 → 3.1.1 fallback. */
export async function startAedes(): Promise<TestBroker> {
  const { Aedes } = await import('aedes');
  const port = await freePort();
  let broker: Awaited<ReturnType<typeof Aedes.createBroker>> | undefined;
  let server: Server | undefined;
  const sockets = new Set<import('node:net').Socket>();
  const start = async () => {
    broker ??= await Aedes.createBroker();
    const b = broker;
    server = createNetServer((s) => {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      b.handle(s);
    });
    await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
  };
  // An outage drops every connection and stops listening; the broker object (and the
  // sessions it holds in memory) lives on, as mosquitto's persistence would.
  const stop = async () => {
    for (const s of sockets) s.destroy();
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
  };
  const close = async () => {
    await stop();
    if (broker) await new Promise<void>((r) => broker!.close(() => r()));
    broker = undefined;
  };
  await start();
  return { kind: 'aedes', port, url: `mqtt://127.0.0.1:${port}`, supportsV5: false, start, stop, close };
}

async function waitForPort(port: number, timeoutMs: number, failed: () => string | undefined): Promise<void> {
  const { connect } = await import('node:net');
  const listens = async () => {
    const why = failed();
    if (why) throw new Error(why);
    return new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  };
  await until(listens, timeoutMs, `the broker listening on ${port}`, 25);
}
