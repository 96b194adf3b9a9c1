// `npm start`: the agent on its embedded default, with no setup. An in-process MQTT
// broker (aedes, MQTT 3.1.1) on 127.0.0.1, the simulated board, a state directory
// under the system temp dir, and a "centre" that prints what the box sends, so a
// newcomer sees birth, heartbeats and events scroll by. It says first what you will hear
// on this machine (sound.ts). The centre also archives the events as `noc events` does,
// and once the box is up prints the tour of the centre (tour.ts): three `noc` commands to
// run from another terminal, printed again when the first minute is over and on Enter.
// Ctrl-C removes the box's state but keeps the archive, which the tour's export reads.
import { createServer, type Server } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { generateKeyPairSync, createHash } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Aedes } from 'aedes';
import { mqtt } from '../cli-kit/mqtt-lib.js';
import { EventStore } from '../noc/events-store.js';
import { parseConfig, type Config } from '../agent/config.js';
import { SCHEDULE_TYP, allDevicesFilter, groupTopic, parseDeviceTopic, publishTo, signDoc } from '../contract/index.js';
import { LoaError } from '../agent/errors.js';
import type { Logger } from '../agent/log.js';
import type { TerminalText } from './terminal.js';
import { afterDemo, nocLauncher, onEnter, tour, type TourFacts } from './tour.js';
import { probeSound, soundPlan, type SoundProbe } from './sound.js';

export interface Demo {
  config: Config;
  stop(): Promise<void>;
}

/** LOA_DEMO_PORT picks the broker's port (0: any free one); default 1883, or a free one if taken. */
export function demoPort(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.LOA_DEMO_PORT;
  if (raw === undefined || raw === '') return 1883;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new LoaError('DEMO_BROKER', `LOA_DEMO_PORT "${raw}" is not a TCP port (0 to 65535; 0 = any free port)`);
  return n;
}

export interface DemoOptions {
  port?: number;
  /** What the machine has for sound (default: probed). */
  sound?: SoundProbe;
  /** Where the demo's own text goes (the tour, what you will hear). */
  out?: TerminalText;
  /** Read for Enter, which prints the tour again. */
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
}

export async function startDemo(log: Logger, opts: DemoOptions = {}): Promise<Demo> {
  const port = opts.port ?? demoPort();
  const out = opts.out ?? process.stdout;
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
  // Where `noc send --key` finds it (the kid is the file name, as noc keys writes it).
  const keyFile = join(stateDir, `${kid}.key.pem`);
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  // Audio for the file items, served by a local HTTP server as a CDN would.
  const chime = readFileSync(demoAsset('chime.mp3'));
  const chimeSha = createHash('sha256').update(chime).digest('hex');
  const cdn = createHttpServer((req, res) => {
    if (req.url === '/chime.mp3')
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': chime.length }).end(chime);
    else res.writeHead(404).end();
  });
  const cdnPort = await listen(cdn as unknown as Server, 0);
  const sound = soundPlan(opts.sound ?? probeSound());
  out.write(sound.text);
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
    audio: { player: 'auto', output: sound.output },
  });
  // A signed schedule, retained on the commune's group topic: a bulletin (a file, fetched
  // and verified first), an FM relay, and an emergency that preempts the relay, which
  // then resumes; then the bulletin again every two minutes (every minute plus the three
  // one-off items would pass contract v1.1's 1,440 occurrences a day).
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
    media: [
      {
        id: 'chime',
        url: `http://127.0.0.1:${cdnPort}/chime.mp3`,
        sha256: chimeSha,
        bytes: chime.length,
        durationMs: 3000,
      },
    ],
    items: [
      { id: 'morning-bulletin', source: { kind: 'file', media: ['chime'] }, at: at(12), priority: 50, volume: 80 },
      { id: 'vov1-relay', source: { kind: 'fm', freqMHz: 100.0 }, at: at(22), durationS: 30, priority: 50 },
      { id: 'typhoon-warning', source: { kind: 'file', media: ['chime'] }, at: at(32), priority: 100, volume: 100 },
      {
        id: 'bulletin-every-2-min',
        source: { kind: 'file', media: ['chime'] },
        cron: '30 */2 * * * *',
        priority: 40,
        from: at(5),
      },
    ],
  };
  const jws = signDoc(doc, { key: privateKey, kid }, SCHEDULE_TYP);
  // The tour's emergency: the chime again, as an ad-hoc play command at priority 100.
  const warningFile = join(stateDir, 'emergency-play.json');
  writeFileSync(
    warningFile,
    JSON.stringify(
      {
        type: 'command',
        action: 'play',
        args: {
          source: { kind: 'file', media: ['warning'] },
          media: [{ id: 'warning', url: doc.media[0]!.url, sha256: chimeSha, bytes: chime.length, durationMs: 3000 }],
          priority: 100,
          volume: 100,
        },
      },
      null,
      2,
    ) + '\n',
  );
  // The centre's archive, as `noc events` keeps it: what the tour's export reads.
  const eventsDb = join(stateDir, 'events.sqlite');
  const store = new EventStore(eventsDb);
  const brokerUrl = `mqtt://127.0.0.1:${actualPort}`;
  const centre = mqtt.connect(brokerUrl, { clientId: 'demo-centre', protocolVersion: 4 });
  const clog = log.child({ mod: 'centre' });
  // The log and these blocks share one synchronous channel (demo/main.ts, createTerminal),
  // so a block never comes before the lines that led to it (CI41 and CI42 printed the first
  // minute's tour before the relay's play.finished under load when they did not).
  const say = (text: string): void => {
    out.write(text);
  };
  centre.on('connect', () => {
    centre.subscribe(allDevicesFilter(config.topicRoot), { qos: 1 });
    publishTo(centre, 'schedule', groupTopic(config.topicRoot, 'c26734', 'schedule'), jws).catch((err: unknown) =>
      clog.warn({ err }, 'the demo schedule was not published'),
    );
  });
  const facts: TourFacts = {
    noc: nocLauncher(),
    brokerUrl,
    deviceId: config.deviceId,
    keyFile,
    warningFile,
    eventsDb,
    heartbeatS: config.heartbeatS,
    sound: sound.summary,
    since: now,
  };
  // The log scrolls the tour away within seconds: Enter prints it again (when standard
  // input can be read), and so does the end of the schedule's first minute.
  const stopEnter = onEnter(opts.input ?? process.stdin, () =>
    say(tour({ ...facts, heading: 'The tour of the centre, again' })),
  );
  facts.enter = stopEnter !== undefined;
  let toured = false;
  let minuteOver = false;
  // The centre's log shows the box's clean shutdown (its retained death) before it closes.
  let sawDeath: () => void = () => undefined;
  const death = new Promise<void>((r) => (sawDeath = r));
  centre.on('message', (topic, payload) => {
    clog.info({ topic: topic.split('/').slice(-1)[0] }, describe(topic, payload));
    const where = parseDeviceTopic(config.topicRoot, topic);
    const body = parseObject(payload);
    if (!where || !body) return;
    const ours = where.deviceId === config.deviceId;
    if (where.leaf === 'events') {
      store.addEvent(where.deviceId, body, Date.now(), payload.toString('utf8'));
      // The relay ends the scripted minute (bulletin, relay, typhoon warning, relay again).
      if (ours && body.itemId === 'vov1-relay' && /^play\.(finished|failed)$/.test(String(body.type)) && !minuteOver) {
        minuteOver = true;
        say(
          tour({ ...facts, heading: 'The first minute is over (bulletin, FM relay, typhoon warning). The tour again' }),
        );
      }
    }
    if (where.leaf === 'status') {
      store.addBirth(where.deviceId, body, Date.now());
      if (ours && body.online === false && body.reason === 'shutdown') sawDeath();
      // Once the box is up: what a NOC operator would try next against it.
      if (ours && body.online === true && !toured) {
        toured = true;
        say(tour(facts));
      }
    }
  });
  log.info(
    { port: actualPort, stateDir },
    `demo broker on ${brokerUrl}; watch with: mosquitto_sub -p ${actualPort} -t '${config.topicRoot}/#' -v (apt-get install mosquitto-clients)`,
  );
  return {
    config,
    async stop() {
      stopEnter?.();
      cdn.close();
      // The agent has published its death (QoS 1, acknowledged) before it stopped; the
      // centre's copy is on its way through the same process's broker and arrives in
      // milliseconds. The bound only guards a centre that lost its connection: a second
      // was too short on a loaded machine (the demo said it stopped before its centre had
      // logged the death, stop 39).
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([death, new Promise((r) => (bound = setTimeout(r, 10_000)))]);
      clearTimeout(bound);
      await centre.endAsync();
      store.close();
      // The box's state goes (a fresh box every run); the centre's archive stays, for the
      // tour's export after Ctrl-C.
      for (const f of ['state', 'cache', `${kid}.key.pem`, 'emergency-play.json'])
        rmSync(join(stateDir, f), { recursive: true, force: true });
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
      say(afterDemo({ noc: facts.noc, eventsDb, dir: stateDir, since: now }));
    },
  };
}

function parseObject(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(payload.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
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

/** Demo audio ships in agent/demo-assets (found from demo/ under tsx and from dist/demo/). */
function demoAsset(name: string): string {
  for (const rel of [`../agent/demo-assets/${name}`, `../../agent/demo-assets/${name}`]) {
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
  const pick = (...keys: string[]) =>
    keys
      .filter((k) => m[k] !== undefined && m[k] !== null)
      .map((k) => `${k}=${typeof m[k] === 'object' ? JSON.stringify(m[k]) : String(m[k])}`)
      .join(' ');
  if (topic.endsWith('/events'))
    return `event #${String(m.seq)} ${String(m.type)} ${pick('itemId', 'docId', 'version', 'reason', 'lateMs', 'playedMs', 'resumed', 'mediaId', 'from', 'to', 'message')}`;
  if (topic.endsWith('/status')) return m.online ? `birth ${pick('bootId', 'schedule')}` : `death ${pick('reason')}`;
  if (topic.endsWith('/heartbeat')) {
    const p = m.playing as { itemId?: string } | null;
    const amp = m.amp as { on?: boolean } | null;
    return `heartbeat state=${String(m.state)} playing=${p?.itemId ?? '-'} amp=${amp?.on ? 'on' : 'off'} ${pick('next', 'outbox')}`;
  }
  return JSON.stringify(m).slice(0, 160);
}
