// One HTTP exchange of the media fetcher (adapters/media-fetch.ts): the request with its
// watchdog (connect timeout, then an idle timeout between any two signs of life, on the
// injected clock), redirects (at most `maxRedirects`, http(s) only, and once a hop was
// on a public address never to a loopback, link-local or unspecified one: the name is
// checked as it is resolved for the connection), and the status and length checks that
// come before a byte of the body is taken.
import { request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { classifyAddress, FORBIDDEN_AFTER_PUBLIC, type AddressClass } from '../domain/address-class.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { classify, fail, MediaFetchError } from './media-fetch-error.js';

/** What an exchange needs to know; createHttpFetcher's options extend these. */
export interface HttpExchangeOptions {
  /** TCP connect must finish within this (default 15 s). */
  connectTimeoutMs?: number;
  /** No byte for this long, headers included, ends the attempt (default 30 s). */
  idleTimeoutMs?: number;
  /** Redirects followed per attempt (default 3). */
  maxRedirects?: number;
  userAgent?: string;
  /** Which network an address is on (default classifyAddress); tests inject one that calls a loopback address public. */
  classifyAddress?: (ip: string) => AddressClass;
  /** Timers and monotonic time (default the system clock); a unit test steps them with a ManualClock. */
  clock?: Clock;
}

export const exchangeDefaults: Required<HttpExchangeOptions> = {
  connectTimeoutMs: 15_000,
  idleTimeoutMs: 30_000,
  maxRedirects: 3,
  userAgent: 'loa-agent',
  classifyAddress,
  clock: systemClock,
};

/** One media file to fetch into the cache (the MediaFetcher port's request, re-exported by media-fetch.ts). */
export interface FetchRequest {
  url: string;
  sha256: string;
  bytes: number;
  cacheDir: string;
  signal?: AbortSignal;
}

/** The .part file of a download in progress (kept across attempts and processes). */
export const partPath = (cacheDir: string, sha256: string): string => join(cacheDir, 'tmp', `${sha256}.part`);

/** Sends the request (following redirects) and checks the status and length headers. */
export async function openResponse(
  req: FetchRequest,
  o: Required<HttpExchangeOptions>,
  offset: number,
): Promise<Exchange> {
  let url = req.url;
  // Once a hop was on a public address, no later hop may reach the box's own addresses.
  let fromPublic = false;
  for (let hop = 0; ; hop++) {
    const ex = await send(url, req, o, offset, fromPublic);
    const { res } = ex;
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (ex.remote !== undefined && o.classifyAddress(ex.remote) === 'public') fromPublic = true;
    if (status >= 300 && status < 400 && location) {
      res.destroy();
      if (hop >= o.maxRedirects)
        throw fail('redirect', `${url}: redirected more than ${o.maxRedirects} times (next: ${location})`, false);
      let next: URL | undefined;
      try {
        next = new URL(location, url);
      } catch {
        // reported below
      }
      if (next?.protocol !== 'http:' && next?.protocol !== 'https:')
        throw fail('redirect', `${url}: redirects to ${location}; only http and https are followed`, false);
      url = next.href;
      continue;
    }
    if (status === 200 || (status === 206 && offset > 0)) {
      checkLength(ex, req, offset);
      return ex;
    }
    res.destroy(); // an error page is not worth the metered bytes
    if (status === 416) {
      // Our .part does not fit the server's file: drop it, the next attempt starts fresh.
      await rm(partPath(req.cacheDir, req.sha256), { force: true });
      throw fail('range', `${url}: 416 for bytes=${offset}-`, true);
    }
    const retryable = status >= 500 || status === 408 || status === 429;
    throw fail(`http-${status}`, `${url}: HTTP ${status}`, retryable);
  }
}

function checkLength(ex: Exchange, req: FetchRequest, offset: number): void {
  const { res } = ex;
  if (res.statusCode === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
    if (!m || Number(m[1]) !== offset || (m[3] !== '*' && Number(m[3]) !== req.bytes)) {
      ex.kill(
        fail(
          'range',
          `${req.url}: Content-Range "${res.headers['content-range']}" does not continue byte ${offset} of ${req.bytes}`,
          true,
        ),
      );
      throw ex.why!;
    }
  } else if (res.headers['content-length'] !== undefined && Number(res.headers['content-length']) !== req.bytes) {
    // Refuse before spending a metered link on bytes that cannot be the media.
    ex.kill(
      fail('length', `${req.url}: Content-Length ${res.headers['content-length']}, expected ${req.bytes}`, false),
    );
    throw ex.why!;
  }
}

function parseUrl(href: string, base?: string): URL {
  let u: URL;
  try {
    u = new URL(href, base);
  } catch (err) {
    throw fail('url', `not a URL: ${href}`, false, err);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw fail('url', `${href}: not http(s)`, false);
  return u;
}

/** One request/response, and the means to end it for a reason of ours. */
export interface Exchange {
  res: IncomingMessage;
  /** Push back the idle deadline (called per body chunk). */
  alive(): void;
  /** End the exchange; the first reason given is the one reported. */
  kill(err: MediaFetchError): void;
  why: MediaFetchError | undefined;
  /** The address connected to. */
  remote: string | undefined;
}

/**
 * One HTTP exchange with a watchdog: connectTimeoutMs until the socket connects, then
 * idleTimeoutMs between any two signs of life (headers, body chunks).
 */
function send(
  url: string,
  req: FetchRequest,
  o: Required<HttpExchangeOptions>,
  offset: number,
  fromPublic: boolean,
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const u = parseUrl(url);
    if (req.signal?.aborted) return reject(abortReason(req.signal));
    const headers: Record<string, string> = { 'user-agent': o.userAgent, 'accept-encoding': 'identity' };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    let lookup: LookupFunction | undefined;
    if (fromPublic) {
      // An IP literal is never looked up: check it here; a name is checked as it resolves.
      const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
      const bad = isIP(host) ? forbidden(o, host, url) : undefined;
      if (bad) return reject(bad);
      lookup = guardedLookup(o, url);
    }
    const creq: ClientRequest = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
      headers,
      agent: false,
      ...(lookup ? { lookup } : {}),
    });
    // The watchdog: one timer on the injected clock, re-armed at each sign of life.
    let closed = false;
    let watchdog: TimerHandle | undefined;
    let limit = {
      ms: o.connectTimeoutMs,
      why: () => fail('connect-timeout', `${url}: no connection in ${o.connectTimeoutMs} ms`, true),
    };
    const arm = () => {
      o.clock.clearTimeout(watchdog);
      watchdog = closed ? undefined : o.clock.setTimeout(() => ex.kill(limit.why()), limit.ms);
    };
    const ex: Exchange = {
      res: undefined as unknown as IncomingMessage,
      why: undefined,
      remote: undefined,
      alive: arm,
      kill: (err) => {
        ex.why ??= err;
        creq.destroy(err);
      },
    };
    arm();
    const onAbort = () => ex.kill(abortReason(req.signal!));
    req.signal?.addEventListener('abort', onAbort, { once: true });
    creq.once('socket', (sock) => {
      const connected = () => {
        ex.remote = sock.remoteAddress;
        limit = {
          ms: o.idleTimeoutMs,
          why: () => fail('timeout', `${url}: nothing received for ${o.idleTimeoutMs} ms`, true),
        };
        arm();
      };
      if (sock.connecting) sock.once('connect', connected);
      else connected();
    });
    creq.once('close', () => {
      closed = true;
      o.clock.clearTimeout(watchdog);
      req.signal?.removeEventListener('abort', onAbort);
    });
    // `on`, not `once`: a request destroyed after its response may emit again.
    creq.on('error', (err) => reject(ex.why ?? classify(err, url)));
    creq.once('response', (res) => {
      ex.res = res;
      arm();
      resolve(ex);
    });
    creq.end();
  });
}

/** Our deadline's too-slow, or a plain abort (the cache stopping or preempting the download). */
export function abortReason(signal: AbortSignal): MediaFetchError {
  return signal.reason instanceof MediaFetchError ? signal.reason : fail('aborted', 'aborted', true);
}

function forbidden(o: Required<HttpExchangeOptions>, ip: string, url: string): MediaFetchError | undefined {
  const cls = o.classifyAddress(ip);
  if (!FORBIDDEN_AFTER_PUBLIC.has(cls)) return undefined;
  return fail('redirect', `${url}: a redirect from a public host leads to ${ip} (${cls}); refused`, false);
}

/** dns.lookup for the connection itself, refusing a forbidden answer (no second resolution to race). */
function guardedLookup(o: Required<HttpExchangeOptions>, url: string): LookupFunction {
  return ((
    hostname: string,
    options: { all?: boolean },
    callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const bad = addresses.map((a) => forbidden(o, a.address, url)).find((e) => e !== undefined);
      if (bad) return callback(bad, '');
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  }) as LookupFunction;
}
