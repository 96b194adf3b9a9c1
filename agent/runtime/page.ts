// The technician's page on the box (issue [7/8] item 1), the way Barix, Axis and 2N boxes
// have one: what the box is doing and why, in Vietnamese or English, and the few things a
// technician on the roof needs to do while the agent runs (the self-test, a test tone
// arbitrated like any item, the commissioning level, the site).
//
// Security, for a page on a commune's LAN or the box's service Wi-Fi (never the 4G bearer:
// adapters/page-http.ts binds only the configured interfaces and checks each request's
// local address): one per-box password, stored as an scrypt hash (loa-provision
// page-password); failed logins limited per address (cli-kit/web-auth.ts: 5 in 5 min, then
// 429); sessions in an HttpOnly SameSite=Strict cookie that expire (page.sessionMin); every
// POST carries the session's CSRF token and, when the browser sends one, an Origin of this
// host; no file is ever served (no path can reach the disk); a strict CSP (nonces, no
// external resource, no framing). Nothing secret is shown: no key, no password, no token.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Logins } from '../../contract/web-auth.js';
import { t, type Lang } from '../../contract/messages.js';
import { loginPage, statusPage, type Flash, type PageModel, type SiteFields } from '../domain/page-view.js';
import type { Logger } from '../log.js';

/** What the page shows, gathered from the services at each request (compose/page.ts). */
export type PageFacts = Omit<PageModel, 'lang' | 'csrf' | 'nonce' | 'flash' | 'selftest' | 'site'>;

export type ToneResult =
  { kind: 'started'; seconds: number; level: number } | { kind: 'busy' } | { kind: 'failed'; why: string };
export type BaselineResult =
  | { kind: 'recorded'; gainDb: number }
  | { kind: 'compared'; percent: number; weak: boolean }
  | { kind: 'unmeasured' }
  | { kind: 'failed'; why: string };

export interface PageDeps {
  log: Logger;
  deviceId: string;
  now: () => number;
  passwordHash: string;
  sessionMs: number;
  facts(): Promise<PageFacts>;
  site(): SiteFields;
  setSite(s: SiteFields): { ok: true } | { ok: false; why: string };
  selftest(): Promise<NonNullable<PageModel['selftest']>>;
  tone(level: number, seconds: number): Promise<ToneResult>;
  baseline(replace: boolean): Promise<BaselineResult>;
}

interface Session {
  lang: Lang;
  flash: Flash[];
  selftest: PageModel['selftest'];
}

const MAX_BODY = 4096;
const COOKIE = 'loa_session';

export class BoxPage {
  private readonly logins: Logins;
  private readonly state = new Map<string, Session>();

  constructor(private readonly d: PageDeps) {
    this.logins = new Logins(() => [{ name: 'technician', groups: [], hash: d.passwordHash }], d.sessionMs);
  }

  /** The HTTP handler (adapters/page-http.ts calls it for requests on allowed interfaces only). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.route(req, res).catch((err: unknown) => {
      this.d.log.error({ code: 'INTERNAL', err }, 'page request failed');
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error', '');
      else res.destroy();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://box');
    const path = url.pathname;
    const addr = req.socket.remoteAddress ?? '?';
    const nonce = randomBytes(12).toString('base64');
    const token = cookie(req, COOKIE);
    const login = this.logins.get(token, this.d.now());
    const session = login && token ? this.session(token) : undefined;
    if (!login && token) this.state.delete(token); // an expired session's page state goes with it
    const queryLang = langOf(url.searchParams.get('lang'));
    if (req.method === 'GET' && (path === '/' || path === '/login')) {
      if (!login || !session) {
        const expired = token !== undefined && path === '/';
        const lang = queryLang ?? 'vi';
        return send(
          res,
          200,
          'text/html',
          loginPage({
            lang,
            deviceId: this.d.deviceId,
            nonce,
            ...(expired ? { error: t(lang, 'page.login.expired') } : {}),
          }),
          nonce,
        );
      }
      if (path === '/login') return redirect(res, '/');
      if (queryLang) session.lang = queryLang;
      const model: PageModel = {
        ...(await this.d.facts()),
        lang: session.lang,
        csrf: login.csrf,
        nonce,
        flash: session.flash.splice(0),
        selftest: session.selftest,
        site: this.d.site(),
      };
      session.selftest = null;
      return send(res, 200, 'text/html', statusPage(model), nonce);
    }
    if (req.method !== 'POST') return send(res, req.method === 'GET' ? 404 : 405, 'text/plain', 'not found', '');
    const routes = ['/login', '/logout', '/selftest', '/tone', '/baseline', '/site'];
    if (!routes.includes(path)) return send(res, 404, 'text/plain', 'not found', '');
    const form = await readForm(req);
    if (form === null) return send(res, 413, 'text/plain', 'request too large', '');
    if (!sameOrigin(req)) {
      this.d.log.warn(
        { code: 'PAGE_REFUSED', addr, path, origin: req.headers.origin },
        'page: a request from another origin',
      );
      return send(res, 403, 'text/plain', t(session?.lang ?? 'vi', 'page.csrf'), '');
    }
    if (path === '/login') return this.login(res, addr, form, nonce);
    if (!login || !session || !token) return redirect(res, '/');
    if (form.get('csrf') !== login.csrf) {
      this.d.log.warn({ code: 'PAGE_REFUSED', addr, path }, 'page: a form without its CSRF token');
      return send(res, 403, 'text/plain', t(session.lang, 'page.csrf'), '');
    }
    await this.act(path, form, session, token);
    return redirect(
      res,
      '/',
      path === '/logout' ? `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` : undefined,
    );
  }

  private async login(res: ServerResponse, addr: string, form: URLSearchParams, nonce: string): Promise<void> {
    const lang = langOf(form.get('lang')) ?? 'vi';
    const wait = this.logins.begin(addr, this.d.now());
    if (wait > 0) {
      this.d.log.warn({ code: 'PAGE_REFUSED', addr, waitS: wait }, 'page: too many failed logins');
      res.setHeader('retry-after', String(wait));
      return send(
        res,
        429,
        'text/html',
        loginPage({ lang, deviceId: this.d.deviceId, nonce, error: t(lang, 'page.login.wait', { s: wait }) }),
        nonce,
      );
    }
    const ok = await this.logins.login(addr, 'technician', form.get('password') ?? '');
    if (!ok) {
      this.d.log.warn({ code: 'PAGE_REFUSED', addr }, 'page: wrong password');
      return send(
        res,
        401,
        'text/html',
        loginPage({ lang, deviceId: this.d.deviceId, nonce, error: t(lang, 'page.login.wrong') }),
        nonce,
      );
    }
    this.state.set(ok.token, { lang, flash: [], selftest: null });
    this.d.log.info({ addr }, 'page: technician logged in');
    const maxAge = Math.round(this.d.sessionMs / 1000);
    redirect(res, '/', `${COOKIE}=${ok.token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}`);
  }

  private async act(path: string, form: URLSearchParams, s: Session, token: string): Promise<void> {
    const say = (ok: boolean, text: string) => s.flash.push({ ok, text });
    const L = s.lang;
    switch (path) {
      case '/logout':
        this.logins.logout(token);
        this.state.delete(token);
        return;
      case '/selftest':
        s.selftest = await this.d.selftest();
        return;
      case '/tone': {
        const level = clampInt(form.get('level'), 1, 100, 50);
        const seconds = clampInt(form.get('seconds'), 1, 60, 10);
        const r = await this.d.tone(level, seconds);
        if (r.kind === 'started') say(true, t(L, 'page.tone.started', { s: r.seconds, level: r.level }));
        else if (r.kind === 'busy') say(false, t(L, 'page.tone.busy'));
        else say(false, t(L, 'page.tone.failed', { why: r.why }));
        return;
      }
      case '/baseline': {
        const r = await this.d.baseline(form.get('replace') === '1');
        if (r.kind === 'recorded') say(true, t(L, 'page.baseline.recorded', { gain: r.gainDb }));
        else if (r.kind === 'compared')
          say(!r.weak, t(L, r.weak ? 'page.baseline.weak' : 'page.baseline.compared', { percent: r.percent }));
        else if (r.kind === 'unmeasured') say(false, t(L, 'page.baseline.unmeasured'));
        else say(false, t(L, 'page.tone.failed', { why: r.why }));
        return;
      }
      case '/site': {
        const r = this.d.setSite(siteFrom(form));
        say(r.ok, r.ok ? t(L, 'page.site.saved') : t(L, 'page.site.invalid', { why: r.why }));
        return;
      }
    }
  }

  private session(token: string): Session {
    let s = this.state.get(token);
    if (!s) this.state.set(token, (s = { lang: 'vi', flash: [], selftest: null }));
    return s;
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, nonce: string): void {
  res.writeHead(status, {
    'content-type': `${type}; charset=utf-8`,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with its own forms.
    'referrer-policy': 'same-origin',
    'x-frame-options': 'DENY',
    'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  });
  res.end(body);
}

function redirect(res: ServerResponse, to: string, setCookie?: string): void {
  res.writeHead(303, { location: to, 'cache-control': 'no-store', ...(setCookie ? { 'set-cookie': setCookie } : {}) });
  res.end();
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/** A browser's Origin (or Referer) must name this host; a request with neither (curl) passes to the CSRF token. */
function sameOrigin(req: IncomingMessage): boolean {
  const from = req.headers.origin ?? req.headers.referer;
  if (!from || from === 'null') return from !== 'null';
  try {
    return new URL(from).host === req.headers.host;
  } catch {
    return false;
  }
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | null> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) return null;
    chunks.push(c);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function langOf(v: string | null | undefined): Lang | undefined {
  return v === 'vi' || v === 'en' ? v : undefined;
}

function clampInt(v: string | null, min: number, max: number, dflt: number): number {
  const n = Number(v);
  return Number.isInteger(n) ? Math.min(max, Math.max(min, n)) : dflt;
}

function siteFrom(f: URLSearchParams): SiteFields {
  const text = (k: string) => {
    const v = f.get(k)?.trim();
    return v ? v.slice(0, 120) : undefined;
  };
  const num = (k: string) => {
    const v = f.get(k)?.trim().replace(',', '.');
    return v ? Number(v) : undefined;
  };
  return {
    communeName: text('communeName'),
    communeCode: text('communeCode'),
    province: text('province'),
    lat: num('lat'),
    lon: num('lon'),
    installer: text('installer'),
  };
}
