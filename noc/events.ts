// `noc events`: the centre's archive of every box's events (SQLite or PostgreSQL), and
// its sub-commands: `export` (the proof of play), `retention` and `migrate` (PostgreSQL).
//
// Delivery: events come with QoS 1 on a persistent session (clean:false, a fixed client
// id, MQTT 5 session expiry), so what the boxes send while this collector is down waits
// in the broker. A message's PUBACK goes back only after the batch holding it is committed
// (events-commit.ts): we own mqtt.js's handleMessage hook, answer it with an error so that
// mqtt.js reads on without acknowledging, and send the PUBACK ourselves on the same
// connection after the commit. A crash between the two makes the broker send it again,
// and the primary key drops the copy. A PUBACK owed to a connection that has since closed
// is not sent: the broker re-sends the message on the new one, where it is a duplicate.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { parseArgs, positionals, required, UsageError } from '../cli-kit/index.js';
import { openArchive } from './archive-open.js';
import { isPostgresUrl } from './events-pg.js';
import { exportCommand } from './events-export.js';
import { migrateCommand, retentionCommand } from './events-admin.js';
import { Committer, puback } from './events-commit.js';
import type { Io } from './io.js';
import { BROKER_HELP, BROKER_SPEC, brokerConfig, closeClient, connect, checkShare, reportConnection } from './mqtt.js';
import { stopSignal } from './signals.js';
import { fleetFilter, sharedFilter } from '../contract/index.js';

const SPEC = {
  ...BROKER_SPEC,
  db: { kind: 'string' },
  share: { kind: 'string' },
  'client-id': { kind: 'string' },
  'session-expiry': { kind: 'number', min: 0 },
  synchronous: { kind: 'string' },
  batch: { kind: 'number', min: 1 },
  inflight: { kind: 'number', min: 1 },
  stats: { kind: 'number', min: 0.1 },
  duration: { kind: 'number', min: 0.1 },
} as const;

export const EVENTS_HELP = `noc events --broker URL --db events.sqlite|postgres://... [--share G] [--client-id ID]
noc events export --db ... --from YYYY-MM-DD --to YYYY-MM-DD [--group G] [--tz Z] [--out F]
noc events retention --db postgres://... --keep-months N [--dry-run]
noc events migrate --db postgres://...

Collect every box's events ({root}/d/+/events, QoS 1) once each: the key is (deviceId from
the topic, epoch, seq). Also keeps each box's newest birth ({root}/d/+/status) for its
groups, and quarantines (keeps whole, with its topic and the reason) an event that cannot
be stored. Each message is acknowledged after the batch holding it is committed. Runs
until Ctrl-C / SIGTERM.

  --db FILE|URL         a SQLite file (WAL, created if missing), or a PostgreSQL URL
                        (postgres://user:password@host:5432/db; the schema is created or
                        migrated at start; see docs/noc.md §9)
  --client-id ID        MQTT client id of the persistent session; keep it fixed across
                        restarts so nothing sent meanwhile is lost (default derived from
                        host name and --db; give each instance its own)
  --session-expiry S    MQTT 5 session expiry (default 604800 = 7 days)
  --share G             subscribe to events as $share/G/...: instances with the same G
                        split the events between them (births are not shared: each
                        instance gets all of them)
  --batch N             at most N messages per commit (default 500)
  --inflight N          MQTT 5 Receive Maximum: messages the broker may send before our
                        acknowledgements (default 1000; MQTT 3.1.1: the broker decides)
  --synchronous normal|full   SQLite durability (default normal: survives a crash of
                        noc; full also a power cut, at one fsync per batch)
  --stats S             every S seconds, a JSON line of counters on standard error
  --duration S          exit after S seconds

${BROKER_HELP}

Run noc events export --help for the proof-of-play export.`;

function defaultClientId(db: string, share: string | undefined): string {
  const where = isPostgresUrl(db) ? db.replace(/:[^:@/]*@/, '@') : resolve(db);
  const h = createHash('sha256')
    .update(`${hostname()}\0${where}\0${share ?? ''}`)
    .digest('hex')
    .slice(0, 10);
  return `noc-events-${h}`;
}

export async function eventsCommand(argv: string[], io: Io): Promise<number> {
  if (argv[0] === 'export') return exportCommand(argv.slice(1), io);
  if (argv[0] === 'retention') return retentionCommand(argv.slice(1), io);
  if (argv[0] === 'migrate') return migrateCommand(argv.slice(1), io);
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc events');
  if (help) return (io.out(EVENTS_HELP), 0);
  positionals(positional, [], 'noc events');
  const cfg = brokerConfig(opts, process.env, io.err);
  const share = checkShare(opts.share);
  const db = required(opts.db, '--db', 'events.sqlite');
  const sync = opts.synchronous ?? 'normal';
  if (sync !== 'normal' && sync !== 'full')
    throw new UsageError(`--synchronous must be normal or full (got "${sync}")`);
  // From here on, Ctrl-C / SIGTERM means "stop cleanly", even while still connecting.
  const stop = stopSignal(opts.duration);
  const archive = await openArchive(db, { synchronous: sync });
  let client: MqttClient | undefined;
  const committer = new Committer({
    archive,
    root: cfg.root,
    say: io.err,
    maxBatch: opts.batch ?? 500,
  });
  const clientId = opts['client-id'] ?? defaultClientId(db, share);
  let statsTimer: NodeJS.Timeout | undefined;
  try {
    client = await connect(
      cfg,
      {
        clientId,
        clean: false,
        reconnectPeriod: 2000,
        ...(cfg.options.protocolVersion === 5
          ? {
              properties: {
                sessionExpiryInterval: opts['session-expiry'] ?? 7 * 86_400,
                receiveMaximum: opts.inflight ?? 1000,
              },
            }
          : {}),
      },
      (c) => {
        // Installed before connecting: a resumed session delivers what it queued right after the CONNACK.
        c.handleMessage = (packet, done) => {
          const stream = c.stream;
          const live = () => c.stream === stream && !stream.destroyed;
          const id = packet.messageId;
          const ack =
            packet.qos > 0 && id !== undefined
              ? () => {
                  if (live()) stream.write(puback(id));
                }
              : undefined;
          const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
          committer.add({ topic: packet.topic, payload, live, ...(ack ? { ack } : {}) });
          // An error makes mqtt.js go on to the next packet without its own PUBACK (ours follows
          // the commit); while too much is held, it goes on later (the broker's in-flight window
          // does not bound what we hold: events-commit.ts).
          committer.afterAdd(() => done(ack ? HELD : undefined));
        };
      },
    );
    reportConnection(client, io.err, 'noc events'); // the broker keeps the session meanwhile
    const filters = [sharedFilter(fleetFilter(cfg.root, 'events'), share), fleetFilter(cfg.root, 'status')];
    await client.subscribeAsync(filters, { qos: 1 });
    io.err(`noc events: collecting ${filters.join(', ')} into ${archive.where} as client ${clientId}`);
    if (opts.stats) {
      let last = { t: performance.now(), stored: 0 };
      statsTimer = setInterval(() => {
        const t = performance.now();
        const c = committer.counts;
        const perS = Math.round(((c.stored - last.stored) / (t - last.t)) * 1000);
        io.err(JSON.stringify({ stats: true, ...c, held: committer.held, perS }));
        last = { t, stored: c.stored };
      }, opts.stats * 1000);
    }
    await stop.done;
  } finally {
    clearInterval(statsTimer);
    stop.dispose();
    // The batch in hand is committed and acknowledged before the connection closes.
    await committer.stop();
    if (client) await closeClient(client);
    await archive.close();
  }
  const c = committer.counts;
  io.err(
    `noc events: stopped; ${c.stored} stored, ${c.duplicate} duplicates dropped, ${c.quarantined} quarantined, ${c.births} births`,
  );
  return 0;
}

const HELD = new Error('acknowledged after the commit');
