// `noc studio`: speak to the boxes from a phone (issue [5/8]). An HTTPS server with a page
// (noc/studio-page.ts) where an operator logs in (noc/studio-auth.ts: scrypt hashes, rate
// limit, sessions, CSRF), picks among the groups they are allowed, holds a button and
// speaks. The page sends 16-bit PCM at 48 kHz; the studio cuts it into 20 ms frames on a
// sample-counting timeline (the first POST fixes where sample 0 was captured) and speaks
// them through a Broadcast, as `noc live` does: signed `live` commands, signed chunks,
// the Ogg Opus record. A session whose page stops sending for 3 s is ended (end chunk).
//
// `noc studio operator --file F --name N --groups g1,g2` adds or replaces an operator,
// reading the password from standard input.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MqttClient } from 'mqtt';
import { EXIT, UsageError, parseArgs, required } from '../cli-kit/index.js';
import { LIVE_LATENCY_MS } from '../contract/command-doc.js';
import { ID_RE } from '../contract/schedule-doc.js';
import { Broadcast, newSessionId } from './broadcast.js';
import { loadSigningKey } from './docs.js';
import type { Io } from './io.js';
import { BROKER_HELP, BROKER_SPEC, brokerConfig, closeClient, connect } from './mqtt.js';
import { Logins, hashPassword, readOperators, type Login, type Operator } from './studio-auth.js';
import { loginPage, studioPage } from './studio-page.js';

const SPEC = {
  ...BROKER_SPEC,
  key: { kind: 'string' },
  'live-key': { kind: 'string' },
  operators: { kind: 'string' },
  'https-cert': { kind: 'string' },
  'https-key': { kind: 'string' },
  listen: { kind: 'string' },
  record: { kind: 'string' },
  latency: { kind: 'number', min: LIVE_LATENCY_MS.min, max: LIVE_LATENCY_MS.max },
  priority: { kind: 'number', min: 0, max: 100 },
  file: { kind: 'string' },
  name: { kind: 'string' },
  groups: { kind: 'string' },
} as const;

export const STUDIO_HELP = `noc studio --broker URL --key cmd.pem --live-key live.pem --operators ops.json
           --https-cert cert.pem --https-key key.pem [--listen HOST:PORT] [--record DIR]
noc studio operator --file ops.json --name NAME --groups g1,g2   (password on stdin)

Serve the live-broadcast page over HTTPS (default --listen 0.0.0.0:8443). An operator logs
in, picks among their groups, holds the button and speaks; every box of those groups plays
it --latency ms (default ${LIVE_LATENCY_MS.default}) after capture, as with noc live, and each
session is recorded in --record DIR (default .) with the operator's name.

${BROKER_HELP}`;

const IDLE_END_MS = 3000;
const MAX_AUDIO_BYTES = 96_000 * 2; // 2 s of 48 kHz s16 per request

export async function studioCommand(argv: string[], io: Io): Promise<number> {
  if (argv[0] === 'operator') return operatorCommand(argv.slice(1), io);
  const { opts, help } = parseArgs(argv, SPEC, 'noc studio');
  if (help) return (io.out(STUDIO_HELP), EXIT.OK);
  const cfg = brokerConfig(opts, process.env, io.err);
  const opsPath = required(opts.operators, '--operators', 'operators.json');
  readOperators(opsPath); // a bad file stops it now, not at the first login
  const commandKey = loadSigningKey(
    required(opts.key ?? process.env.NOC_KEY, '--key', 'centre-2026.key.pem'),
    undefined,
  );
  const liveKey = loadSigningKey(required(opts['live-key'], '--live-key', 'studio-live.key.pem'), undefined);
  const tls = {
    cert: readFileSync(required(opts['https-cert'], '--https-cert', 'studio.crt')),
    key: readFileSync(required(opts['https-key'], '--https-key', 'studio.key')),
  };
  const [host, port] = (opts.listen ?? '0.0.0.0:8443').split(/:(?=\d+$)/);
  if (!host || port === undefined) throw new UsageError('--listen is HOST:PORT');
  const recordDir = opts.record ?? '.';
  mkdirSync(recordDir, { recursive: true });
  const client = await connect(cfg);
  const studio = new Studio(client, io, {
    root: cfg.root,
    operators: () => readOperators(opsPath),
    commandKey,
    liveKey,
    recordDir,
    latencyMs: opts.latency ?? LIVE_LATENCY_MS.default,
    priority: opts.priority ?? 75,
  });
  const server = createServer(tls, (req, res) => void studio.handle(req, res));
  await new Promise<void>((r) => server.listen(Number(port), host, r));
  const addr = server.address() as { port: number };
  io.out(`studio: https://${host === '0.0.0.0' ? 'localhost' : host}:${addr.port}/`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  studio.endAll();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await closeClient(client);
  return EXIT.OK;
}

async function operatorCommand(argv: string[], io: Io): Promise<number> {
  const { opts } = parseArgs(argv, SPEC, 'noc studio operator');
  const file = required(opts.file, '--file', 'operators.json');
  const name = required(opts.name, '--name', 'chu-tich');
  const groups = required(opts.groups, '--groups', 'c26734')
    .split(',')
    .map((g) => g.trim());
  for (const g of groups)
    if (!ID_RE.test(g)) throw new UsageError(`--groups: ${JSON.stringify(g)} is not a group name`);
  const password = readFileSync(0, 'utf8').split('\n')[0] ?? '';
  if (password.length < 10) throw new UsageError('the password (on standard input) must be at least 10 characters');
  const ops: Operator[] = existsSync(file) ? readOperators(file) : [];
  const next = [...ops.filter((o) => o.name !== name), { name, groups, hash: hashPassword(password) }];
  writeFileSync(file, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
  io.out(`${name}: may speak to ${groups.join(', ')} (${file})`);
  return EXIT.OK;
}

interface Live {
  b: Broadcast;
  owner: string;
  pending: Int16Array;
  /** Capture instant of the next frame (the sample-counting timeline). */
  nextT: number | null;
  idle: NodeJS.Timeout;
}

class Studio {
  private readonly logins: Logins;
  private readonly sessions = new Map<string, Live>();

  constructor(
    private readonly client: MqttClient,
    private readonly io: Io,
    private readonly o: {
      root: string;
      operators: () => Operator[];
      commandKey: ReturnType<typeof loadSigningKey>;
      liveKey: ReturnType<typeof loadSigningKey>;
      recordDir: string;
      latencyMs: number;
      priority: number;
    },
  ) {
    this.logins = new Logins(o.operators);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.route(req, res);
    } catch (err) {
      if (!res.headersSent) json(res, 500, { error: (err as Error).message });
      else res.end();
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://studio');
    const token = cookie(req, 'loa_studio');
    const login = this.logins.get(token);
    const nonce = randomBytes(16).toString('base64');
    if (req.method === 'GET' && url.pathname === '/')
      return html(res, nonce, login ? studioPage(nonce, login) : loginPage(nonce));
    if (req.method === 'POST' && url.pathname === '/login') return this.login(req, res, nonce);
    if (req.method !== 'GET' && req.method !== 'POST') return json(res, 405, { error: 'method not allowed' });
    if (!login) return json(res, 401, { error: 'log in first' });
    if (req.method === 'POST') {
      // Every state change carries the session's CSRF token (a header from the page's script, a field from its form).
      const body = url.pathname === '/logout' ? new URLSearchParams(await text(req, 4096)).get('csrf') : null;
      if ((req.headers['x-csrf-token'] ?? body) !== login.csrf) return json(res, 403, { error: 'bad CSRF token' });
    }
    const id = url.searchParams.get('session') ?? '';
    switch (`${req.method} ${url.pathname}`) {
      case 'POST /logout':
        this.logins.logout(token);
        res.writeHead(303, {
          location: '/',
          'set-cookie': 'loa_studio=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict',
        });
        return void res.end();
      case 'POST /api/start':
        return this.start(req, res, login);
      case 'POST /api/audio':
        return this.audio(req, res, login, id);
      case 'POST /api/end': {
        const s = this.owned(id, login);
        if (!s) return json(res, 404, { error: 'no such session of yours' });
        return json(res, 200, this.finish(id));
      }
      case 'GET /api/status': {
        const s = this.owned(id, login);
        if (!s) return json(res, 404, { error: 'no such session of yours' });
        return json(res, 200, {
          listening: [...s.b.listening].map(([deviceId, a]) => ({ deviceId, ...a })),
          refused: [...s.b.refused].map(([deviceId, why]) => ({ deviceId, why })),
          level: Math.round(s.b.levelDb()),
          seconds: s.b.seconds,
        });
      }
    }
    return json(res, 404, { error: 'not found' });
  }

  private async login(req: IncomingMessage, res: ServerResponse, nonce: string): Promise<void> {
    const addr = req.socket.remoteAddress ?? '?';
    const wait = this.logins.begin(addr);
    if (wait > 0) {
      res.writeHead(429, {
        'retry-after': String(wait),
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': csp(nonce),
      });
      return void res.end(
        loginPage(nonce, `Quá nhiều lần sai; thử lại sau ${wait} giây (too many failures; wait ${wait} s)`),
      );
    }
    const form = new URLSearchParams(await text(req, 4096).catch(() => ''));
    const ok = await this.logins.login(addr, form.get('name') ?? '', form.get('password') ?? '');
    if (!ok) {
      this.io.err(`studio: failed login for ${JSON.stringify((form.get('name') ?? '').slice(0, 40))} from ${addr}`);
      res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp(nonce) });
      return void res.end(loginPage(nonce, 'Sai tên hoặc mật khẩu (wrong name or password)'));
    }
    this.io.err(`studio: ${ok.login.name} logged in from ${addr}`);
    res.writeHead(303, {
      location: '/',
      'set-cookie': `loa_studio=${ok.token}; Max-Age=28800; Path=/; HttpOnly; Secure; SameSite=Strict`,
    });
    res.end();
  }

  private async start(req: IncomingMessage, res: ServerResponse, login: Login): Promise<void> {
    const body = JSON.parse((await text(req, 4096)) || '{}') as { groups?: unknown };
    const groups = Array.isArray(body.groups) ? body.groups.filter((g): g is string => typeof g === 'string') : [];
    if (groups.length === 0) return json(res, 400, { error: 'pick at least one group' });
    const foreign = groups.filter((g) => !login.groups.includes(g));
    if (foreign.length > 0) return json(res, 403, { error: `not allowed to speak to ${foreign.join(', ')}` });
    const sessionId = newSessionId();
    const b = new Broadcast(this.client, {
      root: this.o.root,
      targets: groups.map((group) => ({ group })),
      sessionId,
      commandKey: this.o.commandKey,
      liveKey: this.o.liveKey,
      rate: 48_000,
      bitrate: 24_000,
      chunkPackets: 10,
      recordDir: this.o.recordDir,
      operator: login.name,
      args: { priority: this.o.priority, latencyMs: this.o.latencyMs, maxDurationS: 3600 },
      say: (line) => this.io.err(`studio ${sessionId}: ${line}`),
    });
    await b.open(this.io);
    this.sessions.set(sessionId, {
      b,
      owner: login.name,
      pending: new Int16Array(0),
      nextT: null,
      idle: setTimeout(() => this.finishQuietly(sessionId), IDLE_END_MS * 5),
    });
    this.io.err(`studio: ${login.name} speaks to ${groups.join(', ')} (session ${sessionId})`);
    json(res, 200, { sessionId });
  }

  private async audio(req: IncomingMessage, res: ServerResponse, login: Login, id: string): Promise<void> {
    const s = this.owned(id, login);
    if (!s) return json(res, 404, { error: 'no such session of yours' });
    const body = await bytes(req, MAX_AUDIO_BYTES);
    const pcm = new Int16Array(body.buffer, body.byteOffset, body.length >> 1);
    // The first audio fixes the timeline: its first sample was captured its length ago.
    s.nextT ??= Date.now() - (pcm.length / 48_000) * 1000;
    const all = new Int16Array(s.pending.length + pcm.length);
    all.set(s.pending);
    all.set(pcm, s.pending.length);
    const f = s.b.frameSize;
    let o = 0;
    for (; o + f <= all.length; o += f) {
      s.b.frame(all.slice(o, o + f), s.nextT);
      s.nextT += 20;
    }
    s.pending = all.slice(o);
    clearTimeout(s.idle);
    s.idle = setTimeout(() => this.finishQuietly(id), IDLE_END_MS);
    json(res, 200, { ok: true });
  }

  private owned(id: string, login: Login): Live | undefined {
    const s = this.sessions.get(id);
    return s && s.owner === login.name ? s : undefined;
  }

  private finish(id: string): Record<string, unknown> {
    const s = this.sessions.get(id);
    if (!s) return {};
    clearTimeout(s.idle);
    this.sessions.delete(id);
    const rec = s.b.end();
    this.io.err(`studio: session ${id} ended, ${s.b.seconds.toFixed(1)} s, ${s.b.listening.size} listening`);
    return { sessionId: id, seconds: rec.seconds, listening: s.b.listening.size };
  }

  /** From a timer: a record that cannot be written is said, never a crash of the studio. */
  private finishQuietly(id: string): void {
    try {
      this.finish(id);
    } catch (err) {
      this.io.err(`studio: session ${id}: ${(err as Error).message}`);
    }
  }

  endAll(): void {
    for (const id of [...this.sessions.keys()]) this.finishQuietly(id);
  }
}

function csp(nonce: string): string {
  return `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;
}

function html(res: ServerResponse, nonce: string, body: string): void {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': csp(nonce),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, v] = part.trim().split('=');
    if (k === name) return v;
  }
  return undefined;
}

async function bytes(req: IncomingMessage, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) throw new Error(`request body over ${max} bytes`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

async function text(req: IncomingMessage, max: number): Promise<string> {
  return (await bytes(req, max)).toString('utf8');
}
