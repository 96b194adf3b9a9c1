// Media cache numbers: how fast a download lands in the cache compared with curl, and how
// fast the boot-time verification hashes the cache. The HTTP server runs in a worker
// thread so it does not share the downloader's event loop (curl gets a server to itself too).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { tempDir } from '../test/helpers/tmp.js';
import { createHttpFetcher } from '../agent/adapters/media-fetch.js';
import { MediaStore } from '../agent/adapters/media-store.js';
import { MediaCache } from '../agent/runtime/media-cache.js';
import { openDb } from '../agent/adapters/sqlite-db.js';
import { Outbox } from '../agent/adapters/outbox-store.js';
import { systemClock } from '../agent/adapters/clock.js';
import { createLogger } from '../agent/log.js';
import { size } from './smoke.js';
import { mediaCacheDir } from '../agent/adapters/media-cache-dir.js';

const SIZE = size(100, 8) * 1024 * 1024;
const ROUNDS = size(5, 1);
const MB = `${SIZE / 1024 / 1024} MB`;

// Plain JS for the worker: serves one file, with Range, from disk.
const SERVER = `
const { createServer } = require('node:http');
const { createReadStream, statSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const size = statSync(workerData.file).size;
const server = createServer((req, res) => {
  const m = /^bytes=(\\d+)-$/.exec(req.headers.range || '');
  const start = m ? Number(m[1]) : 0;
  res.writeHead(m ? 206 : 200, { 'content-length': size - start, ...(m ? { 'content-range': 'bytes ' + start + '-' + (size - 1) + '/' + size } : {}) });
  createReadStream(workerData.file, { start, highWaterMark: 1 << 20 }).pipe(res);
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

type Add = (metric: string, value: string, target?: string, ok?: boolean) => void;

export async function benchMedia(add: Add): Promise<void> {
  const dir = tempDir('bench-media');
  const file = join(dir, 'src.mp3');
  const sha256 = await writeRandom(file, SIZE);
  const worker = new Worker(SERVER, { eval: true, workerData: { file } });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const url = `http://127.0.0.1:${port}/src.mp3`;
    const fetcher = createHttpFetcher();
    const ours: number[] = [];
    const curl: number[] = [];
    const curlSync: number[] = [];
    let lastCache = '';
    const oursOnce = async (i: number) => {
      if (lastCache) rmSync(lastCache, { recursive: true, force: true });
      lastCache = join(dir, `cache-${i}`);
      ours.push(await timed(() => fetcher.fetch({ url, sha256, bytes: SIZE, cacheDir: lastCache })));
    };
    const curlOnce = async (i: number) => {
      const out = join(dir, `curl-${i}`);
      curl.push(await timed(() => run('curl', ['-s', '-o', out, url])));
      rmSync(out, { force: true });
      // For reference: curl with the durability the cache gives (`sync FILE` fsyncs it).
      curlSync.push(await timed(async () => (await run('curl', ['-s', '-o', out, url]), await run('sync', [out]))));
      rmSync(out, { force: true });
    };
    // Alternate who goes first: whoever follows a 100 MB write meets the writeback of it.
    for (let i = 0; i < ROUNDS; i++) {
      if (i % 2 === 0) {
        await curlOnce(i);
        await oursOnce(i);
      } else {
        await oursOnce(i);
        await curlOnce(i);
      }
    }
    const best = (xs: number[]) => Math.min(...xs);
    const mbps = (ms: number) => SIZE / 1e6 / (ms / 1000);
    const ratio = best(curl) / best(ours);
    add(
      `media download ${MB}, loopback (hash + fsync + rename)`,
      `${mbps(best(ours)).toFixed(0)} MB/s; curl -s -o ${mbps(best(curl)).toFixed(0)} MB/s; curl + sync ${mbps(best(curlSync)).toFixed(0)} MB/s`,
    );
    add('media download throughput / curl -s -o', ratio.toFixed(2), '>= 0.9', ratio >= 0.9);
    await benchVerify(add, dir, lastCache);
  } finally {
    await worker.terminate();
  }
}

/** Boot-time verification of a cache holding the downloaded file (page cache warm: hash-bound). */
async function benchVerify(add: Add, dir: string, cacheDir: string): Promise<void> {
  const db = openDb(join(dir, 'verify.db'));
  const cache = new MediaCache({
    files: mediaCacheDir,
    store: new MediaStore(db),
    cacheDir,
    quotaBytes: 10 * SIZE,
    events: new Outbox(db, { maxEvents: 1000, clock: systemClock }),
    clock: systemClock,
    log: createLogger({ level: 'silent', pretty: false }),
    fetcher: createHttpFetcher(),
  });
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    times.push(await timed(() => cache.start()));
    await cache.stop();
  }
  db.close();
  const mbps = SIZE / 1e6 / (Math.min(...times) / 1000);
  add('media cache verification (warm page cache)', `${mbps.toFixed(0)} MB/s`);
}

async function writeRandom(path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  const out = createWriteStream(path);
  for (let left = size; left > 0;) {
    const chunk = randomBytes(Math.min(left, 4 << 20));
    h.update(chunk);
    left -= chunk.length;
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return h.digest('hex');
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: 'ignore' });
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))));
  });
}
