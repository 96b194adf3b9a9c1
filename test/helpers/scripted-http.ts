// An HTTP server for media tests whose every answer the test decides: cut, stall,
// lie, redirect, ignore Range. It records what it actually sent, so a test can prove
// that a resumed download crossed the wire once, not twice.
import { after } from 'node:test';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Answer {
  /** Honour `Range: bytes=N-` (default true). */
  range?: boolean;
  /** Serve these bytes instead of the real ones. */
  body?: Buffer;
  status?: number;
  /** Close the connection once this many body bytes of this answer were sent. */
  cutAt?: number;
  /** Stop sending for stallMs once this many body bytes were sent. */
  stallAt?: number;
  stallMs?: number;
  /** Pause between chunks (a slow link). */
  delayMs?: number;
  /** Chunk size (default 64 KiB); `{ chunkBytes: 1, delayMs: 1000 }` trickles a byte a second. */
  chunkBytes?: number;
  /** Answer 302 to this path. */
  redirectTo?: string;
  /** Send no Content-Length (chunked), so only the client's own limit stops a long body. */
  noLength?: boolean;
}
export interface Hit {
  path: string;
  range: string | undefined;
  status: number;
  sent: number;
}

export const files = new Map<string, Buffer>();
/** Per path, the answers to give in turn; the last one repeats. */
export const script = new Map<string, Answer[]>();
export const hits: Hit[] = [];

export const server = createServer((req, res) => void answer(req, res));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
export const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
after(() => {
  server.closeAllConnections();
  server.close();
});

async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = req.url ?? '/';
  const queue = script.get(path) ?? [{}];
  const a = (queue.length > 1 ? queue.shift() : queue[0])!;
  const full = a.body ?? files.get(path);
  const hit: Hit = { path, range: req.headers.range, status: a.status ?? 200, sent: 0 };
  hits.push(hit);
  if (a.redirectTo) {
    hit.status = 302;
    res.writeHead(302, { location: a.redirectTo }).end();
    return;
  }
  if (!full || (a.status && a.status !== 200)) {
    res.writeHead(full ? a.status! : 404).end();
    return;
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = a.range !== false && m ? Number(m[1]) : 0;
  hit.status = start > 0 ? 206 : 200;
  res.writeHead(hit.status, {
    ...(a.noLength ? {} : { 'content-length': full.length - start }),
    ...(start > 0 ? { 'content-range': `bytes ${start}-${full.length - 1}/${full.length}` } : {}),
  });
  let closed = false;
  res.on('close', () => (closed = true));
  const body = full.subarray(start);
  for (let off = 0; off < body.length && !closed;) {
    const limit = Math.min(
      body.length,
      a.cutAt ?? Infinity,
      a.stallAt !== undefined && hit.sent < a.stallAt ? a.stallAt : Infinity,
    );
    const chunk = body.subarray(off, Math.min(off + (a.chunkBytes ?? 65_536), limit));
    if (chunk.length > 0) {
      await new Promise<void>((r) => res.write(chunk, () => r()));
      hit.sent += chunk.length;
      off += chunk.length;
    }
    if (a.cutAt !== undefined && hit.sent >= a.cutAt) {
      await sleep(100); // let the client read what was sent, then cut
      res.socket?.destroy();
      return;
    }
    if (a.stallAt !== undefined && hit.sent === a.stallAt) await sleep(a.stallMs ?? 0);
    if (a.delayMs) await sleep(a.delayMs);
  }
  if (!closed) res.end();
}

export const sentFor = (path: string) => hits.filter((h) => h.path === path).reduce((n, h) => n + h.sent, 0);
export const hitsFor = (path: string) => hits.filter((h) => h.path === path);
