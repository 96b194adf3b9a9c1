// `noc events`: the centre's archive of every box's events, and (`noc events export`)
// the proof of play drawn from it.
//
// Delivery: events come with QoS 1 on a persistent session (clean:false, a fixed client
// id, MQTT 5 session expiry), so what the boxes send while this collector is down waits
// in the broker. Each message is committed to SQLite BEFORE its PUBACK goes back (we own
// mqtt.js's handleMessage hook, which runs before the ack): a crash between the two
// makes the broker send it again, and the primary key drops the copy.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { IPublishPacket } from 'mqtt';
import { parseArgs, positionals, required, UsageError } from '../cli-kit/index.js';
import { EventStore } from './events-store.js';
import { exportCommand } from './events-export.js';
import type { Io } from './io.js';
import {
  BROKER_HELP,
  BROKER_SPEC,
  brokerConfig,
  closeClient,
  connect,
  checkShare,
  reportConnection,
  type BrokerConfig,
} from './mqtt.js';
import { stopSignal } from './signals.js';
import { fleetFilter, parseDeviceTopic, sharedFilter } from '../contract/index.js';

const SPEC = {
  ...BROKER_SPEC,
  db: { kind: 'string' },
  share: { kind: 'string' },
  'client-id': { kind: 'string' },
  'session-expiry': { kind: 'number', min: 0 },
  synchronous: { kind: 'string' },
  stats: { kind: 'number', min: 0.1 },
  duration: { kind: 'number', min: 0.1 },
} as const;

export const EVENTS_HELP = `noc events --broker URL --db events.sqlite [--share G] [--client-id ID]
noc events export --db events.sqlite --from YYYY-MM-DD --to YYYY-MM-DD [--group G] [--tz Z] [--out F]

Collect every box's events ({root}/d/+/events, QoS 1) into SQLite, once each: the key is
(deviceId from the topic, epoch, seq). Also keeps each box's newest birth ({root}/d/+/status)
for its groups. Runs until Ctrl-C / SIGTERM.

  --db FILE             SQLite database (WAL), created if missing
  --client-id ID        MQTT client id of the persistent session; keep it fixed across
                        restarts so nothing sent meanwhile is lost (default derived from
                        host name and --db; give each instance its own)
  --session-expiry S    MQTT 5 session expiry (default 604800 = 7 days)
  --share G             subscribe to events as $share/G/...: instances with the same G
                        split the events between them (births are not shared: each
                        instance gets all of them)
  --synchronous normal|full   SQLite durability (default normal: survives a crash of
                        noc; full also a power cut, at one fsync per event)
  --stats S             every S seconds, a JSON line of counters on standard error
  --duration S          exit after S seconds

${BROKER_HELP}

Run noc events export --help for the proof-of-play export.`;

function defaultClientId(db: string, share: string | undefined): string {
  const h = createHash('sha256')
    .update(`${hostname()}\0${resolve(db)}\0${share ?? ''}`)
    .digest('hex')
    .slice(0, 10);
  return `noc-events-${h}`;
}

export async function eventsCommand(argv: string[], io: Io): Promise<number> {
  if (argv[0] === 'export') return exportCommand(argv.slice(1), io);
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc events');
  if (help) return (io.out(EVENTS_HELP), 0);
  positionals(positional, [], 'noc events');
  const cfg = brokerConfig(opts, process.env, io.err);
  const share = checkShare(opts.share);
  const dbPath = required(opts.db, '--db', 'events.sqlite');
  const sync = opts.synchronous ?? 'normal';
  if (sync !== 'normal' && sync !== 'full')
    throw new UsageError(`--synchronous must be normal or full (got "${sync}")`);
  const store = new EventStore(dbPath, { synchronous: sync });
  const clientId = opts['client-id'] ?? defaultClientId(dbPath, share);
  // From here on, Ctrl-C / SIGTERM means "stop cleanly", even while still connecting.
  const stop = stopSignal(opts.duration);
  try {
    return await collect({
      io,
      cfg,
      share,
      store,
      clientId,
      sessionExpiryS: opts['session-expiry'] ?? 7 * 86_400,
      statsS: opts.stats,
      stop: stop.done,
    });
  } finally {
    stop.dispose();
    store.close();
  }
}

interface Collect {
  io: Io;
  cfg: BrokerConfig;
  share: string | undefined;
  store: EventStore;
  clientId: string;
  sessionExpiryS: number;
  statsS: number | undefined;
  stop: Promise<unknown>;
}

async function collect({ io, cfg, share, store, clientId, sessionExpiryS, statsS, stop }: Collect): Promise<number> {
  const counts = { stored: 0, duplicate: 0, invalid: 0, births: 0 };
  let warned = 0;

  const handle = (packet: IPublishPacket) => {
    const where = parseDeviceTopic(cfg.root, packet.topic);
    if (!where) return;
    const raw = typeof packet.payload === 'string' ? packet.payload : packet.payload.toString('utf8');
    let body: Record<string, unknown> | undefined;
    try {
      const v: unknown = JSON.parse(raw);
      if (v && typeof v === 'object' && !Array.isArray(v)) body = v as Record<string, unknown>;
    } catch {
      /* counted below */
    }
    const now = Date.now();
    if (where.leaf === 'status') {
      if (body && store.addBirth(where.deviceId, body, now)) counts.births++;
      return;
    }
    if (where.leaf !== 'events') return;
    const r = body ? store.addEvent(where.deviceId, body, now, raw) : 'invalid';
    counts[r]++;
    // Dropping it is the only option (it cannot be de-duplicated), but never silently.
    if (r === 'invalid' && warned++ < 20)
      io.err(`noc events: dropped a message from ${where.deviceId} without epoch/seq/type: ${raw.slice(0, 200)}`);
  };

  const client = await connect(
    cfg,
    {
      clientId,
      clean: false,
      reconnectPeriod: 2000,
      ...(cfg.options.protocolVersion === 5 ? { properties: { sessionExpiryInterval: sessionExpiryS } } : {}),
    },
    (c) => {
      // Runs before mqtt.js sends the PUBACK; an exception (disk full) withholds the ack,
      // so the broker keeps the event and sends it again. Installed before connecting:
      // a resumed session delivers what it queued right after the CONNACK.
      c.handleMessage = (packet, done) => {
        try {
          handle(packet);
          done();
        } catch (err) {
          io.err(`noc events: cannot store ${packet.topic}: ${(err as Error).message}; not acknowledged`);
          done(err as Error);
        }
      };
    },
  );
  reportConnection(client, io.err, 'noc events'); // the broker keeps the session meanwhile
  const filters = [sharedFilter(fleetFilter(cfg.root, 'events'), share), fleetFilter(cfg.root, 'status')];
  await client.subscribeAsync(filters, { qos: 1 });
  io.err(`noc events: collecting ${filters.join(', ')} into ${store.path} as client ${clientId}`);

  let statsTimer: NodeJS.Timeout | undefined;
  if (statsS) {
    let last = { t: performance.now(), stored: 0 };
    statsTimer = setInterval(() => {
      const t = performance.now();
      io.err(
        JSON.stringify({
          stats: true,
          ...counts,
          perS: Math.round(((counts.stored - last.stored) / (t - last.t)) * 1000),
        }),
      );
      last = { t, stored: counts.stored };
    }, statsS * 1000);
  }
  await stop;
  clearInterval(statsTimer);
  await closeClient(client);
  io.err(
    `noc events: stopped; ${counts.stored} stored, ${counts.duplicate} duplicates dropped, ${counts.invalid} invalid, ${counts.births} births`,
  );
  return 0;
}
