// `npm start`: the agent on its embedded default, with no setup. An in-process MQTT
// broker (aedes, MQTT 3.1.1) on 127.0.0.1, the simulated board, a state directory
// under the system temp dir, and a "centre" that prints what the box sends, so a
// newcomer sees birth, heartbeats and events scroll by.
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { generateKeyPairSync, createHash } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { CompactSign } from 'jose';
import { parseConfig, type Config } from './config.js';
import { LoaError } from './errors.js';
import type { Logger } from './log.js';

export interface Demo {
  config: Config;
  stop(): Promise<void>;
}

export async function startDemo(log: Logger, port = 1883): Promise<Demo> {
  const broker = await Aedes.createBroker();
  const server = createServer((socket) => {
    socket.setNoDelay(true); // FINDINGS: aedes answers in 88 ms per round trip without it
    broker.handle(socket);
  });
  const actualPort = await listen(server, port).catch(() => listen(server, 0));
  // A fresh box every run: yesterday's demo schedule would otherwise be "missed" today.
  const stateDir = mkdtempSync(join(tmpdir(), 'loa-demo-'));
  // The demo is its own centre: a signing key made now, trusted by the box's config.
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const kid = 'demo-centre';
  // Audio for the file items, served by a local HTTP server as a CDN would.
  const chime = readFileSync(demoAsset('chime.mp3'));
  const chimeSha = createHash('sha256').update(chime).digest('hex');
  const cdn = createHttpServer((req, res) => {
    if (req.url === '/chime.mp3') res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': chime.length }).end(chime);
    else res.writeHead(404).end();
  });
  const cdnPort = await listen(cdn as unknown as Server, 0);
  const hasCard = existsSync('/proc/asound/cards') && !/no soundcards/i.test(readFileSync('/proc/asound/cards', 'utf8'));
  const config = parseConfig({
    deviceId: 'demo-box-01',
    groups: ['all', 'p79', 'c26734'],
    site: { communeName: 'Demo commune', communeCode: '26734', lat: 10.7769, lon: 106.7009, installer: 'npm start' },
    mqtt: { url: `mqtt://127.0.0.1:${actualPort}`, version: '3.1.1', reconnect: { minS: 1, maxS: 10 } },
    stateDir: join(stateDir, 'state'),
    cacheDir: join(stateDir, 'cache'),
    heartbeatS: 10,
    trustedKeys: [{ kid, publicKey: publicKey.export({ format: 'jwk' }).x! }],
    hardware: { board: 'sim', ampWarmUpMs: 1500, ampHoldMs: 4000 },
    // The real player where mpg123 is installed (on the sound card if there is one,
    // else decoded in real time and discarded); the stand-in otherwise, said plainly.
    audio: { player: 'auto', output: hasCard ? 'alsa' : 'paced' },
  });
  // A signed schedule, retained on the commune's group topic: a bulletin (a file, fetched
  // and verified first), an FM relay, and an emergency that preempts the relay, which
  // then resumes; then the bulletin again every minute.
  const now = Date.now();
  const at = (s: number) => new Date(Math.ceil((now + s * 1000) / 1000) * 1000).toISOString();
  const doc = {
    type: 'schedule',
    id: 'demo-c26734',
    version: Math.floor(now / 1000), // newer on every run: the box's anti-replay accepts it
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 86_400_000).toISOString(),
    target: { groups: ['c26734'] },
    timezone: 'Asia/Ho_Chi_Minh',
    media: [{ id: 'chime', url: `http://127.0.0.1:${cdnPort}/chime.mp3`, sha256: chimeSha, bytes: chime.length, durationMs: 3000 }],
    items: [
      { id: 'morning-bulletin', source: { kind: 'file', media: ['chime'] }, at: at(12), priority: 50, volume: 80 },
      { id: 'vov1-relay', source: { kind: 'fm', freqMHz: 100.0 }, at: at(22), durationS: 30, priority: 50 },
      { id: 'typhoon-warning', source: { kind: 'file', media: ['chime'] }, at: at(32), priority: 100, volume: 100 },
      { id: 'bulletin-every-minute', source: { kind: 'file', media: ['chime'] }, cron: '30 * * * * *', priority: 40, from: at(5) },
    ],
  };
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(doc)))
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'loa-schedule+json' })
    .sign(privateKey);
  const centre = mqtt.connect(`mqtt://127.0.0.1:${actualPort}`, { clientId: 'demo-centre', protocolVersion: 4 });
  const clog = log.child({ mod: 'centre' });
  centre.on('connect', () => {
    centre.subscribe(`${config.topicRoot}/d/#`);
    centre.publish(`${config.topicRoot}/g/c26734/schedule`, jws, { qos: 1, retain: true });
  });
  centre.on('message', (topic, payload) => clog.info({ topic: topic.split('/').slice(-1)[0] }, describe(topic, payload)));
  log.info(
    { port: actualPort, stateDir },
    `demo broker on mqtt://127.0.0.1:${actualPort}; watch with: mosquitto_sub -p ${actualPort} -t '${config.topicRoot}/#' -v`,
  );
  return {
    config,
    async stop() {
      cdn.close();
      rmSync(stateDir, { recursive: true, force: true });
      await centre.endAsync();
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(new LoaError('DEMO_BROKER', `cannot listen on 127.0.0.1:${port}: ${err.message}`, { cause: err }));
    };
    const onListening = () => {
      server.off('error', onError);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, '127.0.0.1');
  });
}

/** Demo audio ships in agent/demo-assets (found from agent/ under tsx and from dist/agent/). */
function demoAsset(name: string): string {
  for (const rel of [`./demo-assets/${name}`, `../../agent/demo-assets/${name}`]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new LoaError('DEMO_BROKER', `demo asset ${name} not found`);
}

/** One readable line for what the centre received. */
function describe(topic: string, payload: Buffer): string {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(payload.toString()) as Record<string, unknown>;
  } catch {
    return `${payload.length} bytes`;
  }
  const pick = (...keys: string[]) => keys.filter((k) => m[k] !== undefined && m[k] !== null).map((k) => `${k}=${typeof m[k] === 'object' ? JSON.stringify(m[k]) : String(m[k])}`).join(' ');
  if (topic.endsWith('/events')) return `event #${String(m.seq)} ${String(m.type)} ${pick('itemId', 'docId', 'version', 'reason', 'lateMs', 'playedMs', 'resumed', 'mediaId', 'from', 'to', 'message')}`;
  if (topic.endsWith('/status')) return m.online ? `birth ${pick('bootId', 'schedule')}` : `death ${pick('reason')}`;
  if (topic.endsWith('/heartbeat')) {
    const p = m.playing as { itemId?: string } | null;
    const amp = m.amp as { on?: boolean } | null;
    return `heartbeat state=${String(m.state)} playing=${p?.itemId ?? '-'} amp=${amp?.on ? 'on' : 'off'} ${pick('next', 'outbox')}`;
  }
  return JSON.stringify(m).slice(0, 160);
}
