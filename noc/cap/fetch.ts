// What `noc cap` fetches (feeds, CAP messages, audio resources) comes from hosts an
// alerting authority names, so it is bounded and outward only (docs/cap.md "Fetching"):
// - a deadline per request (redirects included), a minimum rate once the answer started
//   (a link that sends its headers and then a byte every 5 s is dropped in seconds, not
//   held for the whole deadline), and a size cap checked on the header and on the bytes;
// - no loopback, link-local, private, shared or multicast address, checked on the address
//   actually connected to (the DNS answer, so a name that resolves inward is refused too)
//   and again at every redirect; `allowPrivate` (the operator's --allow-private) lifts it.
import http from 'node:http';
import https from 'node:https';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { errorMessage, Failure } from '../../cli-kit/index.js';

export interface FetchPolicy {
  /** Fetch from loopback, link-local and private addresses too (a test bench, an internal CAP server). */
  allowPrivate: boolean;
  /** The whole request, redirects included, ms. */
  deadlineMs: number;
  /** Once the answer's headers came, the body must average at least this many bytes a second… */
  minBytesPerS: number;
  /** …measured from this long after the headers (a short answer is done before). */
  graceMs: number;
  maxRedirects: number;
  /** How addresses are judged (default inwardAddress); tests name their own loopback "outward". */
  inward?: (ip: string) => string | null;
}

export const DEFAULT_FETCH: FetchPolicy = {
  allowPrivate: false,
  deadlineMs: 30_000,
  minBytesPerS: 1024,
  graceMs: 5000,
  maxRedirects: 5,
};

/** Address ranges that are not the public internet, and what to call them. */
const INWARD: readonly [string, number, 'ipv4' | 'ipv6', string][] = [
  ['0.0.0.0', 8, 'ipv4', 'unspecified'],
  ['10.0.0.0', 8, 'ipv4', 'private'],
  ['100.64.0.0', 10, 'ipv4', 'shared (carrier-grade NAT)'],
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['169.254.0.0', 16, 'ipv4', 'link-local'],
  ['172.16.0.0', 12, 'ipv4', 'private'],
  ['192.0.0.0', 24, 'ipv4', 'IETF protocol assignment'],
  ['192.168.0.0', 16, 'ipv4', 'private'],
  ['198.18.0.0', 15, 'ipv4', 'benchmarking'],
  ['224.0.0.0', 4, 'ipv4', 'multicast'],
  ['240.0.0.0', 4, 'ipv4', 'reserved'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['fe80::', 10, 'ipv6', 'link-local'],
  ['fc00::', 7, 'ipv6', 'unique local (private)'],
  ['ff00::', 8, 'ipv6', 'multicast'],
];
const RANGES = INWARD.map(([net, bits, type, why]) => {
  const list = new BlockList();
  list.addSubnet(net, bits, type);
  return { list, type, why };
});

/** Why an address is not one `noc cap` fetches from, or null when it is outward. */
export function inwardAddress(ip: string): string | null {
  const addr = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1] ?? ip; // IPv4-mapped: judged as IPv4
  const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
  return RANGES.find((r) => r.type === type && r.list.check(addr, type))?.why ?? null;
}

type LookupCb = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that refuses an inward answer: the check is on what the socket connects to. */
const guardedLookup =
  (judge: (ip: string) => string | null) =>
  (hostname: string, options: object, cb: LookupCb): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return cb(err, '');
      const list = addresses as LookupAddress[];
      const bad = list.map((a) => [a.address, judge(a.address)] as const).find(([, why]) => why !== null);
      if (bad)
        return cb(
          Object.assign(
            new Error(`${hostname} resolves to ${bad[0]}, a ${bad[1]} address (--allow-private to fetch from it)`),
            { code: 'EINWARD' },
          ),
          '',
        );
      if ((options as { all?: boolean }).all) return cb(null, list);
      return cb(null, list[0]!.address, list[0]!.family);
    });
  };

/** GET `url` within the policy; the body, at most `maxBytes`. Failures name the URL and why, in one line. */
export async function fetchBounded(
  url: string,
  what: string,
  maxBytes: number,
  p: FetchPolicy = DEFAULT_FETCH,
): Promise<Buffer> {
  const started = Date.now();
  let current = url;
  for (let hop = 0; ; hop++) {
    const u = parseUrl(current, what);
    if (!p.allowPrivate && isIP(u.hostname.replace(/^\[|\]$/g, ''))) {
      const why = (p.inward ?? inwardAddress)(u.hostname.replace(/^\[|\]$/g, ''));
      if (why)
        throw new Failure(
          `${what}: ${current}: ${u.hostname} is a ${why} address; not fetched (--allow-private to fetch from it)`,
        );
    }
    const left = p.deadlineMs - (Date.now() - started);
    if (left <= 0) throw new Failure(`${what}: ${url}: no answer within ${p.deadlineMs / 1000} s`);
    const r = await once(u, what, maxBytes, left, p);
    if ('body' in r) return r.body;
    if (hop >= p.maxRedirects) throw new Failure(`${what}: ${url}: more than ${p.maxRedirects} redirects`);
    current = new URL(r.location, current).toString();
  }
}

function parseUrl(s: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new Failure(`${what}: ${s} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new Failure(`${what}: ${s}: only http and https are fetched`);
  return u;
}

function once(
  u: URL,
  what: string,
  maxBytes: number,
  deadlineMs: number,
  p: FetchPolicy,
): Promise<{ body: Buffer } | { location: string }> {
  return new Promise((resolve, reject) => {
    const fail = (msg: string) => {
      clearTimeout(deadline);
      clearInterval(rate);
      req.destroy();
      reject(new Failure(`${what}: ${u.toString()}: ${msg}`));
    };
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.get(u, {
      ...(p.allowPrivate ? {} : { lookup: guardedLookup(p.inward ?? inwardAddress) as never }),
      headers: { 'user-agent': 'loa-noc-cap' },
    });
    let rate: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => fail(`not done within ${Math.round(deadlineMs / 1000)} s`), deadlineMs);
    req.on('error', (err) =>
      fail((err as NodeJS.ErrnoException).code === 'EINWARD' ? err.message : `cannot fetch: ${errorMessage(err)}`),
    );
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        clearTimeout(deadline);
        req.destroy();
        return resolve({ location: res.headers.location });
      }
      if (status < 200 || status >= 300) return fail(`answered HTTP ${status}`);
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (declared > maxBytes) return fail(`is ${declared} bytes, over the ${maxBytes} byte limit`);
      const chunks: Buffer[] = [];
      let total = 0;
      const t0 = Date.now();
      rate = setInterval(() => {
        const s = (Date.now() - t0) / 1000;
        if (s * 1000 >= p.graceMs && total / s < p.minBytesPerS)
          fail(
            `too slow: ${total} bytes in ${s.toFixed(1)} s (at least ${p.minBytesPerS} bytes/s after ${p.graceMs / 1000} s)`,
          );
      }, 250);
      res.on('data', (c: Buffer) => {
        total += c.length;
        if (total > maxBytes) return fail(`is over the ${maxBytes} byte limit`);
        chunks.push(c);
      });
      res.on('error', (err) => fail(`reading failed: ${errorMessage(err)}`));
      res.on('end', () => {
        clearTimeout(deadline);
        clearInterval(rate);
        if (!res.complete)
          return reject(new Failure(`${what}: ${u.toString()}: the answer was cut short after ${total} bytes`));
        resolve({ body: Buffer.concat(chunks) });
      });
    });
  });
}
