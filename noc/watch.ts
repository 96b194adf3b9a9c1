// `noc watch`: the fleet at a glance, from the boxes' status, heartbeat and events.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Opts, parseArgs, positionals, UsageError } from '../cli-kit/index.js';
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
import { fleetFilter, sharedFilter } from '../contract/index.js';
import { FleetModel } from './watch-model.js';
import { blindBanner, changeLine, frame, summary, table } from './watch-format.js';
import { pickLang } from '../contract/messages.js';

const SPEC = {
  ...BROKER_SPEC,
  share: { kind: 'string' },
  once: { kind: 'boolean' },
  settle: { kind: 'number', min: 0 },
  json: { kind: 'boolean' },
  period: { kind: 'number', min: 0.1 },
  stats: { kind: 'number', min: 0.1 },
  duration: { kind: 'number', min: 0.1 },
  'client-id': { kind: 'string' },
  lang: { kind: 'string' },
} as const;

export const WATCH_HELP = `noc watch --broker URL [--root loa/v1] [--share G] [--once [--settle 2]] [--json]

Follow every box on {root}/d/+/status, /heartbeat and /events: online or offline (a
death counts only if its bootId is the latest birth's), heartbeat age and period, state,
what plays, active faults (hw.fault minus hw.recovered), outbox backlog, schedules.
A box silent for three heartbeat periods is STALE: the periodic interval its birth
announces (heartbeatS), or --period S (default 30) for a box whose birth has none.
Extra heartbeats sent on state changes never shorten the period. On a terminal the table is redrawn every second; otherwise one
line per change. What plays: a schedule item by its id, a command as "cmd 5b0c1d9e…", a
CAP alert's play as "CAP <identifier>" (from its play events), each with (source, pN).
When the watcher loses the broker it says so (a "BROKER LOST since …" banner on the
table, a line otherwise) until it is back: the states shown are then the last seen.

  --once          print the table after --settle seconds (default 2) and exit
  --json          JSON: one object per change, or per box with --once
  --share G       subscribe as $share/G/... to split the traffic with other instances
                  (MQTT 5 sends no retained messages on a shared subscription: a
                  broker that follows it shows only live traffic)
  --stats S       every S seconds, a JSON line of counters on standard error
                  (messages/s, heartbeat lag, event-loop delay)
  --duration S    exit after S seconds (default: until Ctrl-C)
  --client-id ID  MQTT client id (default: random)
  --lang vi|en    the table's language (default: from LANG / LC_ALL, else English)

${BROKER_HELP}`;

interface WatchRun {
  opts: Opts<typeof SPEC>;
  io: Io;
  cfg: BrokerConfig;
  share: string | undefined;
  stop: Promise<unknown>;
}

export async function watchCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc watch');
  if (help) return (io.out(WATCH_HELP), 0);
  positionals(positional, [], 'noc watch');
  const cfg = brokerConfig(opts, process.env, io.err);
  const share = checkShare(opts.share);
  if (opts.lang !== undefined && opts.lang !== 'vi' && opts.lang !== 'en')
    throw new UsageError(`--lang must be vi or en (got "${opts.lang}")`);
  // From here on, Ctrl-C / SIGTERM means "stop cleanly", even while still connecting.
  const stop = stopSignal(opts.once ? undefined : opts.duration);
  try {
    return await watch({ opts, io, cfg, share, stop: stop.done });
  } finally {
    stop.dispose();
  }
}

async function watch({ opts, io, cfg, share, stop }: WatchRun): Promise<number> {
  const lang = pickLang(opts.lang, process.env, 'en');
  const model = new FleetModel({ root: cfg.root, defaultPeriodMs: (opts.period ?? 30) * 1000 });
  const live = !opts.once && io.isTTY;
  const stats = { received: 0, heartbeats: 0, lags: [] as number[] };
  const client = await connect(cfg, {
    clean: true,
    reconnectPeriod: 2000,
    ...(opts['client-id'] ? { clientId: opts['client-id'] } : {}),
  });
  client.on('message', (topic, payload, packet) => {
    const now = Date.now();
    stats.received++;
    const changes = model.apply(topic, payload, now, { retain: packet.retain });
    if (topic.endsWith('/heartbeat') && !packet.retain) {
      stats.heartbeats++;
      // The lag of a live heartbeat: its ts is at the start of the payload (§6 order).
      const ts = /"ts":"([^"]+)"/.exec(payload.toString('utf8', 0, 80))?.[1];
      if (ts) stats.lags.push(now - Date.parse(ts));
    }
    if (changes.length === 0 || opts.once || live) return;
    const deviceId = topic.split('/').at(-2)!;
    io.out(
      opts.json
        ? JSON.stringify({ ts: new Date(now).toISOString(), deviceId, changes, row: model.row(deviceId, now) })
        : changeLine(now, deviceId, changes),
    );
  });
  reportConnection(client, io.err, 'noc watch');
  // Blind while the broker is lost: the table says so and stops judging boxes by our silence.
  let stopping = false;
  client.on('close', () => {
    if (stopping || model.blindSince !== null) return;
    const now = Date.now();
    model.brokerLost(now);
    if (live || opts.once) return;
    const every = (client.options.reconnectPeriod ?? 0) / 1000;
    io.out(
      opts.json
        ? JSON.stringify({ ts: new Date(now).toISOString(), broker: 'lost', reconnectS: every })
        : `${new Date(now).toISOString()} BROKER LOST, reconnecting every ${every} s — nothing is heard until it is back; states are as last seen`,
    );
  });
  client.on('connect', () => {
    const since = model.brokerBack();
    if (since === null || live || opts.once) return;
    const now = Date.now();
    const blindS = Math.round((now - since) / 1000);
    io.out(
      opts.json
        ? JSON.stringify({ ts: new Date(now).toISOString(), broker: 'back', blindS })
        : `${new Date(now).toISOString()} broker back after ${blindS} s blind; following again`,
    );
  });
  const filters = [
    fleetFilter(cfg.root, 'status'),
    fleetFilter(cfg.root, 'heartbeat'),
    fleetFilter(cfg.root, 'events'),
  ].map((f) => sharedFilter(f, share));
  await client.subscribeAsync(filters, { qos: 1 });
  if (!live)
    io.err(`noc watch: subscribed to ${filters.join(', ')}${opts.once ? `; table in ${opts.settle ?? 2} s` : ''}`);

  if (opts.once) {
    await Promise.race([new Promise((r) => setTimeout(r, (opts.settle ?? 2) * 1000)), stop]);
    stopping = true;
    await closeClient(client);
    const now = Date.now();
    const rows = model.rows(now);
    const banner = blindBanner(model.blindSince, now, lang);
    if (banner && opts.json) io.err(`noc watch: ${banner}`);
    if (opts.json) for (const r of rows) io.out(JSON.stringify(r));
    else {
      if (banner) io.out(banner);
      io.out(summary(rows, model.blindSince, lang));
      for (const l of table(rows, Infinity, lang)) io.out(l);
    }
    return 0;
  }

  const timers: NodeJS.Timeout[] = [];
  // Stale is a matter of time passing, not of a message: check it every second.
  const lastStatus = new Map<string, string>();
  timers.push(
    setInterval(() => {
      const now = Date.now();
      const rows = model.rows(now);
      if (live) {
        // A terminal that reports no size (0 rows, e.g. under script(1)) gets 40.
        const height = Math.max(5, (process.stdout.rows || 40) - 3);
        io.write(`\x1b[2J\x1b[H${frame(rows, now, model.blindSince, height, lang).join('\n')}\n`);
        return;
      }
      for (const r of rows) {
        const was = lastStatus.get(r.deviceId);
        lastStatus.set(r.deviceId, r.status);
        if (was !== undefined && was !== r.status && (was === 'stale' || r.status === 'stale')) {
          const what =
            r.status === 'stale' ? `stale (silent ${r.silentS} s, period ${r.periodS} s)` : `${r.status} again`;
          io.out(
            opts.json
              ? JSON.stringify({ ts: new Date(now).toISOString(), deviceId: r.deviceId, changes: [what], row: r })
              : changeLine(now, r.deviceId, [what]),
          );
        }
      }
    }, 1000),
  );
  if (opts.stats) timers.push(statsTimer(opts.stats, stats, model, io));
  await stop;
  for (const t of timers) clearInterval(t);
  stopping = true;
  await closeClient(client);
  return 0;
}

/** Counters for sizing (bench/fleet.ts reads them): messages/s, heartbeat lag, event-loop delay. */
function statsTimer(
  everyS: number,
  stats: { received: number; heartbeats: number; lags: number[] },
  model: FleetModel,
  io: Io,
): NodeJS.Timeout {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let last = { t: performance.now(), received: 0 };
  return setInterval(() => {
    const t = performance.now();
    const lags = stats.lags.sort((a, b) => a - b);
    const q = (p: number) => (lags.length ? lags[Math.min(lags.length - 1, Math.floor(p * lags.length))]! : null);
    const rows = model.rows(Date.now());
    io.err(
      JSON.stringify({
        stats: true,
        received: stats.received,
        perS: Math.round(((stats.received - last.received) / (t - last.t)) * 1000),
        heartbeats: stats.heartbeats,
        lagMsP50: q(0.5),
        lagMsP99: q(0.99),
        lagMsMax: lags.at(-1) ?? null,
        boxes: rows.length,
        online: rows.filter((r) => r.status === 'online').length,
        stale: rows.filter((r) => r.status === 'stale').length,
        loopDelayMsP99: Math.round(loop.percentile(99) / 1e6),
      }),
    );
    stats.lags = [];
    loop.reset();
    last = { t, received: stats.received };
  }, everyS * 1000);
}
