// Downloads one media file into the content-addressed cache over a flaky link.
//
// Invariants:
// - `<cacheDir>/<sha256>` appears only by rename, after the bytes were hashed, their
//   length checked and the file fsynced: a name in the cache is a promise that the
//   content hashes to it, even after a power cut (the directory is fsynced too).
// - Bytes received are kept in `<cacheDir>/tmp/<sha256>.part` whatever ends the attempt
//   (timeout, cut, abort), so the next attempt, or the next process, asks only for the
//   rest with `Range: bytes=N-`. Over 4G a 5 MB bulletin may take several attempts.
// - Never more than `bytes` are written: a server (or a proxy) that sends more is wrong.
// - Every attempt must keep up with `minRateBps` after a set-up allowance (behindMinRate,
//   checked every second), which also bounds it by a total deadline derived from its
//   size (downloadDeadlineMs): a CDN that trickles a byte every 20 s passes every idle
//   timeout, and would otherwise hold a download slot for days (`too-slow`).
// - Redirects: at most `maxRedirects` (3), to http: or https: only, and once a hop was on
//   a public address, never to a loopback, link-local or unspecified one (the name is
//   checked as it is resolved for the connection, so DNS cannot answer differently later).
// Errors say whether retrying can help (STYLE habit 7) and carry a short `reason` for
// the `media.failed` event.
//
// The HTTP exchange (watchdog, redirects, status and length checks) is media-http.ts;
// the error type media-fetch-error.ts (re-exported here, with partPath, for the cache).
import { createHash, type Hash } from 'node:crypto';
import { open, rename, rm, stat, mkdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { behindMinRate, downloadDeadlineMs } from '../domain/cache-plan.js';
import { classify, fail, MediaFetchError } from './media-fetch-error.js';
import {
  exchangeDefaults,
  openResponse,
  partPath,
  type Exchange,
  type FetchRequest,
  type HttpExchangeOptions,
} from './media-http.js';

export { MediaFetchError } from './media-fetch-error.js';
export { partPath, type FetchRequest } from './media-http.js';

export interface FetchResult {
  path: string;
  bytes: number;
  /** Offset the last attempt resumed from (0 for a fresh download). */
  resumedFrom: number;
}

/** The port the cache service uses; tests may substitute it. */
export interface MediaFetcher {
  fetch(req: FetchRequest): Promise<FetchResult>;
}

export interface HttpFetcherOptions extends HttpExchangeOptions {
  /** Slowest transfer rate accepted, bytes/s (config `cache.minRateBps`; default 1000). */
  minRateBps?: number;
  /** Set-up allowance in every attempt's deadline: DNS, TCP, TLS, redirects (default 30 s). */
  setupMs?: number;
}

// Large writes and reads: fewer syscalls and thread-pool round trips per megabyte,
// which is what limits throughput on a Pi. 1 MiB keeps each synchronous hash step
// short (~10 ms on a Pi 4) so the event loop, which also drives playback, stays responsive.
const IO_CHUNK = 1 << 20;
// Flush to disk as the download goes, not all at the end: the final fsync is then short,
// and a Pi's SD card never has a burst of 100 MB of dirty pages to write at once.
const SYNC_EVERY = 8 << 20;

/** Feed a file's bytes to `hash`; reads double-buffered so the disk works while we hash. */
export async function hashInto(hash: Hash, path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const bufs = [Buffer.allocUnsafe(IO_CHUNK), Buffer.allocUnsafe(IO_CHUNK)] as const;
    let i = 0;
    let pos = 0;
    let pending = fh.read(bufs[0], 0, IO_CHUNK, 0);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) return pos;
      const cur = bufs[i]!;
      pos += bytesRead;
      i ^= 1;
      pending = fh.read(bufs[i]!, 0, IO_CHUNK, pos);
      hash.update(cur.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
}

export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  const bytes = await hashInto(h, path);
  return { sha256: h.digest('hex'), bytes };
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const noop = () => {};

export function createHttpFetcher(opts: HttpFetcherOptions = {}): MediaFetcher {
  const o: Required<HttpFetcherOptions> = {
    ...exchangeDefaults,
    minRateBps: 1000,
    setupMs: 30_000,
    ...opts,
  };
  return {
    fetch: (req) =>
      fetchOne(req, o).catch((err: unknown) => {
        throw err instanceof MediaFetchError ? err : diskError(err, req);
      }),
  };
}

async function fetchOne(req: FetchRequest, o: Required<HttpFetcherOptions>): Promise<FetchResult> {
  const final = join(req.cacheDir, req.sha256);
  const part = partPath(req.cacheDir, req.sha256);
  await mkdir(join(req.cacheDir, 'tmp'), { recursive: true });
  let offset = (await stat(part).catch(() => undefined))?.size ?? 0;
  if (offset > req.bytes) {
    await rm(part, { force: true });
    offset = 0;
  }
  let hash = createHash('sha256');
  if (offset > 0) offset = await hashInto(hash, part);
  // A complete .part (the process died between fsync and rename) needs no network.
  if (offset < req.bytes) {
    // One signal for the whole attempt: the caller's abort, or our deadline (too-slow).
    const attempt = new AbortController();
    const relay = () => attempt.abort(req.signal?.reason);
    if (req.signal?.aborted) relay();
    else req.signal?.addEventListener('abort', relay, { once: true });
    const missing = req.bytes - offset;
    const progress = { bytes: 0 };
    const t0 = o.clock.monoMs();
    const deadline = o.clock.setInterval(
      () => {
        const elapsed = o.clock.monoMs() - t0;
        if (!behindMinRate(elapsed, progress.bytes, o.minRateBps, o.setupMs)) return;
        const limitS = Math.round(downloadDeadlineMs(missing, o.minRateBps, o.setupMs) / 1000);
        const why = `${progress.bytes} bytes in ${Math.round(elapsed / 1000)} s, slower than ${o.minRateBps} bytes/s after ${Math.round(o.setupMs / 1000)} s of set-up (all ${missing} bytes were due within ${limitS} s)`;
        attempt.abort(fail('too-slow', `${req.url}: ${why}`, true));
      },
      Math.min(1000, o.setupMs || 1000),
    );
    const r = { ...req, signal: attempt.signal };
    try {
      const ex = await openResponse(r, o, offset);
      if (offset > 0 && ex.res.statusCode === 200) {
        // The server ignored our Range: take its full answer from the start.
        offset = 0;
        hash = createHash('sha256');
      }
      await receive(ex, r, part, offset, hash, progress);
    } finally {
      o.clock.clearInterval(deadline);
      req.signal?.removeEventListener('abort', relay);
    }
  }
  return finish(req, part, final, hash, offset);
}

async function finish(
  req: FetchRequest,
  part: string,
  final: string,
  hash: Hash,
  resumedFrom: number,
): Promise<FetchResult> {
  const size = (await stat(part)).size;
  const digest = hash.digest('hex');
  if (size !== req.bytes || digest !== req.sha256) {
    await rm(part, { force: true });
    // After a resume the old half may be what is wrong (the server's file changed, or a
    // power cut left garbage): one fresh download decides. After a fresh one, it is final.
    const what = size !== req.bytes ? `${size} bytes, expected ${req.bytes}` : `sha256 ${digest}`;
    const reason = size !== req.bytes ? 'length' : 'hash-mismatch';
    throw fail(
      reason,
      `${req.url}: got ${what}${resumedFrom > 0 ? ` (resumed at ${resumedFrom})` : ''}`,
      resumedFrom > 0,
    );
  }
  await rename(part, final);
  await fsyncDir(req.cacheDir);
  return { path: final, bytes: size, resumedFrom };
}

/** Anything not classified on the way is the local file system (open, write, fsync, rename). */
function diskError(err: unknown, req: FetchRequest): MediaFetchError {
  const code = (err as NodeJS.ErrnoException).code;
  // A full disk may empty (eviction, logs rotated); an I/O error may be a dying SD card: both retried.
  return fail(code === 'ENOSPC' ? 'disk-full' : 'disk', `${req.sha256}: ${(err as Error).message}`, true, err);
}

/**
 * Streams the body into the .part: hash, bound, and write in ~1 MiB batches at explicit
 * offsets, up to two writes in flight while the next batch arrives (the disk, the hash
 * and the socket all work at once). Whatever was received is written and fsynced before
 * returning or throwing, so a later attempt can resume from it.
 */
async function receive(
  ex: Exchange,
  req: FetchRequest,
  part: string,
  offset: number,
  hash: Hash,
  progress: { bytes: number },
): Promise<void> {
  const fh: FileHandle = await open(part, offset > 0 ? 'r+' : 'w');
  let pos = offset;
  let prev = Promise.resolve();
  let batch: Buffer[] = [];
  let batchLen = 0;
  let received = 0;
  let synced = 0;
  // Writes and syncs run while the next batch arrives; their errors are kept here (a
  // promise rejected while nobody awaits it would take the whole agent down).
  let ioError: unknown;
  const track = (p: Promise<unknown>) => p.then(noop, (e: unknown) => void (ioError ??= e));
  let inflight = Promise.resolve();
  let syncing: Promise<void> | undefined;
  let failure: unknown;
  try {
    for await (const chunk of ex.res as AsyncIterable<Buffer>) {
      ex.alive();
      if (ioError) throw ioError as Error;
      if (offset + received + chunk.length > req.bytes) {
        throw fail('length', `${req.url}: more than ${req.bytes} bytes`, offset > 0);
      }
      hash.update(chunk);
      received += chunk.length;
      progress.bytes = received;
      batch.push(chunk);
      batchLen += chunk.length;
      if (batchLen >= IO_CHUNK) {
        await prev;
        prev = inflight;
        inflight = track(fh.writev(batch, pos));
        pos += batchLen;
        batch = [];
        batchLen = 0;
        if (received - synced >= SYNC_EVERY && !syncing) {
          synced = received;
          syncing = track(inflight.then(() => fh.datasync())).then(() => void (syncing = undefined));
        }
      }
    }
  } catch (err) {
    failure = ex.why ?? err;
  } finally {
    ex.res.destroy();
    try {
      await prev;
      await inflight;
      await syncing;
      // On a length overrun the .part is about to be deleted; otherwise keep every byte hashed.
      if (batchLen > 0 && (failure as MediaFetchError | undefined)?.reason !== 'length') await fh.writev(batch, pos);
      if (ioError) {
        // Which of two parallel writes failed is unknown: keep only what earlier attempts wrote.
        await fh.truncate(offset).catch(noop);
        // A failed write outranks how the stream ended: the .part must not be trusted.
        // eslint-disable-next-line no-unsafe-finally
        throw ioError as Error;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  if (failure !== undefined) {
    const e = failure === ioError ? diskError(failure, req) : classify(failure, req.url);
    if (e.reason === 'length') await rm(part, { force: true });
    e.received = received;
    throw e;
  }
}
