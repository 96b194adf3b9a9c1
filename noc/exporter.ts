// `noc exporter`: the fleet for Prometheus. Follows {root}/d/+/status, /heartbeat,
// /events and /cmd/result, and the centre's commands on {root}/d/+/cmd and {root}/g/+/cmd
// (for emergencies sent and not played), and serves /metrics (exporter-render.ts) over
// node:http. The model is exporter-model.ts; the alert rules and the dashboard that read
// these metrics are in noc/prometheus/ and noc/grafana/ (docs/noc.md §6).
//
// With --share G, events and command results (the counters) are taken through the shared
// subscription $share/G/...: instances split them, and Prometheus sums the counters over
// instances. Status, heartbeats and commands are never shared: every instance needs
// every box's retained birth and latest heartbeat for its gauges (and MQTT 5 sends no
// retained message on a shared subscription), and every emergency sent. So two
// instances give the same gauges (redundancy) and half of the counters each.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Failure, parseArgs, positionals, UsageError } from '../cli-kit/index.js';
import { fleetFilter, sharedFilter } from '../contract/index.js';
import { KeyRing } from '../contract/verify.js';
import { DEFAULT_MAX_BOX_SERIES, DEFAULT_MAX_BOXES, DEFAULT_MAX_SERIES, ExporterModel } from './exporter-model.js';
import { renderParts, type ExporterHealth } from './exporter-render.js';
import type { Io } from './io.js';
import { BROKER_HELP, BROKER_SPEC, brokerConfig, checkShare, closeClient, connect, reportConnection } from './mqtt.js';
import { stopSignal } from './signals.js';
import { parseTrust } from './simulate.js';

const SPEC = {
  ...BROKER_SPEC,
  listen: { kind: 'string' },
  share: { kind: 'string' },
  'per-group': { kind: 'boolean' },
  'group-match': { kind: 'string' },
  period: { kind: 'number', min: 0.1 },
  'emergency-grace': { kind: 'number', min: 0 },
  'emergency-window': { kind: 'number', min: 1 },
  trust: { kind: 'list' },
  'trust-file': { kind: 'string' },
  'client-id': { kind: 'string' },
  duration: { kind: 'number', min: 0.1 },
  'max-boxes': { kind: 'number', min: 1 },
  'max-box-series': { kind: 'number', min: 1 },
  'max-series': { kind: 'number', min: 1 },
  'max-connections': { kind: 'number', min: 2 },
} as const;

/** HTTP bounds: a slow or idle client must not hold a socket (a file descriptor) for long. */
export const HTTP_LIMITS = {
  /** Whole request (line and headers) within this, else 408 and closed. */
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  /** An idle keep-alive connection between two requests is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** A socket with no traffic either way for this long is destroyed. */
  idleTimeoutMs: 15_000,
  /** Open connections; a new one beyond closes the oldest that has no request in progress. */
  maxConnections: 64,
} as const;

export const DEFAULT_LISTEN = '127.0.0.1:9723';

export const EXPORTER_HELP = `noc exporter --broker URL [--listen ${DEFAULT_LISTEN}] [--per-group] [--group-match RE] [--share G]

Serve the fleet's state on http://LISTEN/metrics in the Prometheus text format: per box
online, heartbeat age and period, state, what plays, amplifier, FM, cache, outbox,
disk, CPU temperature, clock, serial link, emergencies not played, and counters of
plays by outcome and reason, hardware faults by component and rejections by reason,
from {root}/d/+/status, /heartbeat, /events, /cmd/result and the commands on
{root}/d/+/cmd and {root}/g/+/cmd. The exporter's own health is exported too.

  --listen HOST:PORT      where to serve /metrics (default ${DEFAULT_LISTEN}; 0.0.0.0:9723
                          for a Prometheus on another host)
  --per-group             one set of series per group instead of per box (bounded
                          series count for very large fleets)
  --group-match RE        with --per-group, only groups matching RE (e.g. '^p[0-9]+$');
                          per box, only boxes with a group matching RE (e.g. '^p79$':
                          one province's exporter)
  --share G               take events and command results as $share/G/... (several
                          instances split the counters; gauges come from every instance)
  --period S              heartbeat period for boxes whose birth has no heartbeatS (30)
  --emergency-grace S     an emergency not seen playing after S seconds counts as
                          unplayed (default 60)
  --emergency-window S    and is forgotten (counted missed) after S seconds (3600)
  --trust kid=KEY         count only emergencies whose signature verifies (repeatable)
  --trust-file F          the same keys from a JSON list [{"kid","publicKey"}]
  --client-id ID          MQTT client id (default: random)
  --duration S            exit after S seconds (default: until Ctrl-C / SIGTERM)
  --max-boxes N           keep at most N device ids; messages of others are dropped
                          (default ${DEFAULT_MAX_BOXES})
  --max-box-series N      at most N counter label sets (outcome/reason, component, ...)
                          and N active fault keys per box; a rogue box's further ones
                          are dropped (default ${DEFAULT_MAX_BOX_SERIES})
  --max-series N          at most N counter label sets over all boxes (${DEFAULT_MAX_SERIES})
  --max-connections N     open HTTP connections; a new one closes the oldest idle one
                          (default ${HTTP_LIMITS.maxConnections})
                          Drops count in loa_exporter_dropped_total{reason}.

${BROKER_HELP}`;

export function parseListen(v: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]*):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535)
    throw new UsageError(`--listen "${v}" must be HOST:PORT, e.g. --listen ${DEFAULT_LISTEN} or --listen 0.0.0.0:9723`);
  return { host: m[1] === '' ? '0.0.0.0' : m[1]!.replace(/^\[|\]$/g, ''), port };
}

function groupMatch(v: string): RegExp {
  try {
    return new RegExp(v);
  } catch (err) {
    throw new UsageError(`--group-match "${v}": ${(err as Error).message}`);
  }
}

export async function exporterCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc exporter');
  if (help) return (io.out(EXPORTER_HELP), 0);
  positionals(positional, [], 'noc exporter');
  const cfg = brokerConfig(opts, process.env, io.err);
  const share = checkShare(opts.share);
  const listen = parseListen(opts.listen ?? DEFAULT_LISTEN);
  const match = opts['group-match'] === undefined ? undefined : groupMatch(opts['group-match']);
  const perGroup = opts['per-group'] ? (match ?? /(?:)/) : undefined;
  const render = perGroup ? { perGroup } : match ? { onlyBoxesIn: match } : {};
  const trusted = parseTrust(opts.trust ?? [], opts['trust-file']);
  const model = new ExporterModel({
    root: cfg.root,
    defaultPeriodMs: (opts.period ?? 30) * 1000,
    graceMs: (opts['emergency-grace'] ?? 60) * 1000,
    windowMs: (opts['emergency-window'] ?? 3600) * 1000,
    ...(trusted.length ? { keys: new KeyRing(trusted) } : {}),
    maxBoxes: opts['max-boxes'] ?? DEFAULT_MAX_BOXES,
    maxBoxSeries: opts['max-box-series'] ?? DEFAULT_MAX_BOX_SERIES,
    maxSeries: opts['max-series'] ?? DEFAULT_MAX_SERIES,
  });
  const health: ExporterHealth = {
    connected: false,
    mode: perGroup ? 'group' : 'box',
    share: share ?? '',
    scrapes: 0,
    lastRenderS: null,
    loopDelayP99S: null,
    startedAt: Date.now() - process.uptime() * 1000,
  };
  const stop = stopSignal(opts.duration);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return void res.writeHead(405, { allow: 'GET, HEAD' }).end('only GET\n');
    if (path === '/metrics') {
      const t0 = performance.now();
      health.scrapes++;
      health.loopDelayP99S = loop.count ? loop.percentile(99) / 1e9 : null;
      loop.reset();
      const parts = renderParts(model, Date.now(), health, render);
      health.lastRenderS = (performance.now() - t0) / 1000;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      if (req.method !== 'HEAD') {
        res.cork();
        for (const p of parts) res.write(p);
        res.uncork();
      }
      return void res.end();
    }
    if (path === '/')
      return void res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end('<html><body><h1>noc exporter</h1><p><a href="/metrics">/metrics</a></p></body></html>\n');
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
  });
  boundConnections(server, {
    ...HTTP_LIMITS,
    ...(opts['max-connections'] ? { maxConnections: opts['max-connections'] } : {}),
  });
  try {
    await listenOn(server, listen);
    const client = await connect(cfg, {
      clean: true,
      reconnectPeriod: 2000,
      ...(opts['client-id'] ? { clientId: opts['client-id'] } : {}),
    });
    health.connected = true;
    client.on('connect', () => (health.connected = true));
    client.on('close', () => (health.connected = false));
    client.on('message', (topic, payload, packet) => model.apply(topic, payload, Date.now(), packet.retain));
    reportConnection(client, io.err, 'noc exporter');
    const { root } = cfg;
    const filters = [
      fleetFilter(root, 'status'),
      fleetFilter(root, 'heartbeat'),
      sharedFilter(fleetFilter(root, 'events'), share),
      sharedFilter(fleetFilter(root, 'cmd/result'), share),
      fleetFilter(root, 'cmd'),
      `${root}/g/+/cmd`,
    ];
    await client.subscribeAsync(filters, { qos: 1 });
    const a = server.address();
    const where =
      typeof a === 'object' && a ? `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` : String(a);
    io.err(
      `noc exporter: serving http://${where}/metrics (${health.mode === 'group' ? 'per group' : 'per box'}); subscribed to ${filters.join(', ')}`,
    );
    await stop.done;
    await closeClient(client);
    return 0;
  } finally {
    stop.dispose();
    loop.disable();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

/**
 * Idle or slow clients cannot starve the exporter of sockets (file descriptors): the
 * request must arrive within headersTimeoutMs, a keep-alive connection idle between
 * requests closes after keepAliveTimeoutMs, any socket silent for idleTimeoutMs is
 * destroyed, and beyond maxConnections open connections a new one closes the oldest
 * that has no request in progress (so ~1,000 idle sockets never reach a 1,024 fd limit,
 * and a scrape arriving after them is served at once).
 */
export function boundConnections(
  server: Server,
  l: {
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    idleTimeoutMs: number;
    maxConnections: number;
  },
): void {
  server.headersTimeout = l.headersTimeoutMs;
  server.requestTimeout = l.requestTimeoutMs;
  server.keepAliveTimeout = l.keepAliveTimeoutMs;
  server.setTimeout(l.idleTimeoutMs, (socket) => socket.destroy());
  /** Open sockets, oldest first; the value: a request is in progress. */
  const open = new Map<Socket, boolean>();
  server.on('connection', (socket: Socket) => {
    open.set(socket, false);
    socket.once('close', () => open.delete(socket));
    if (open.size <= l.maxConnections) return;
    for (const [s, busy] of open) {
      if (open.size <= l.maxConnections) break;
      if (!busy && s !== socket) {
        open.delete(s);
        s.destroy();
      }
    }
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    if (open.has(socket)) open.set(socket, true);
    res.once('finish', () => open.has(socket) && open.set(socket, false));
  });
}

async function listenOn(server: Server, l: { host: string; port: number }): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Failure(
          `--listen ${l.host}:${l.port}: ${err.code === 'EADDRINUSE' ? 'the port is in use (another exporter?)' : err.message}`,
        ),
      ),
    );
    server.listen(l.port, l.host, () => resolve());
  });
}
