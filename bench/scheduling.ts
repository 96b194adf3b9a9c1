// Scheduler lateness (our Scheduler vs a bare node-cron job vs a bare setTimeout, in the
// same run) and verification time of a 200-item signed schedule.
import { join } from 'node:path';
import cron from 'node-cron';
import { openDb } from '../agent/adapters/sqlite-db.js';
import { Outbox } from '../agent/adapters/outbox-store.js';
import { LedgerStore } from '../agent/adapters/ledger-store.js';
import { systemClock } from '../agent/adapters/clock.js';
import { Scheduler } from '../agent/runtime/scheduler.js';
import { validateSchedule } from '../contract/schedule-doc.js';
import { KeyRing, verifySchedule } from '../contract/verify.js';
import { createLogger } from '../agent/log.js';
import { tempDir } from '../test/helpers/tmp.js';
import { makeKey, sign } from '../test/helpers/signer.js';
import { size } from './smoke.js';
import { threadCpuClock } from '../agent/adapters/thread-cpu.js';

type Add = (metric: string, value: string, target?: string, ok?: boolean) => void;

/** Sub-millisecond wall time. */
const nowMs = () => performance.timeOrigin + performance.now();

function stats(late: number[]): { p50: number; p99: number; max: number } {
  const s = [...late].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  return { p50: at(50), p99: at(99), max: s[s.length - 1]! };
}

const fmt = (x: { p50: number; p99: number; max: number }, n: number) =>
  `p50 ${x.p50.toFixed(2)} / p99 ${x.p99.toFixed(2)} / max ${x.max.toFixed(2)} ms (n=${n})`;

async function ourScheduler(n: number, spacingMs: number): Promise<number[]> {
  const db = openDb(join(tempDir('bench-sched'), 'loa.db'), { synchronous: 'normal' });
  const first = Math.ceil((Date.now() + size(1500, 500)) / 1000) * 1000;
  const items = Array.from({ length: n }, (_, i) => ({
    id: `i${i}`,
    source: { kind: 'line' },
    at: new Date(first + i * spacingMs).toISOString(),
    durationS: 1,
  }));
  const v = validateSchedule({
    type: 'schedule',
    id: 'bench',
    version: 1,
    issuedAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    target: { groups: ['g'] },
    timezone: 'Asia/Ho_Chi_Minh',
    items,
  });
  if (!v.ok) throw new Error(v.message);
  const late: number[] = [];
  const ledger = new LedgerStore(db);
  let done: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const scheduler = new Scheduler({
    clock: systemClock,
    log: createLogger({ level: 'silent', pretty: false }),
    docs: () => [{ topic: 't', doc: v.doc }],
    ledger,
    cpuMs: threadCpuClock(),
    events: new Outbox(db, { maxEvents: 100_000, clock: systemClock }),
    // Measures the instant the scheduler hands over; records the fate like a playback would.
    playback: {
      prepare: () => {},
      fire: (occ) => {
        late.push(nowMs() - occ.start);
        ledger.set(
          {
            key: occ.key,
            docId: occ.docId,
            itemId: occ.itemId,
            occurrence: new Date(occ.start).toISOString(),
            state: 'finished',
          },
          Date.now(),
        );
        if (late.length === n) done();
      },
    },
    mediaReady: () => true,
    checkpoint: { get: () => undefined, set: () => {} },
    warmUpMs: 0,
    graceMs: 120_000,
  });
  scheduler.start();
  await finished;
  scheduler.stop();
  db.close();
  return late;
}

async function bareTimeout(n: number, spacingMs: number): Promise<number[]> {
  const first = Math.ceil((Date.now() + 500) / 1000) * 1000;
  const late: number[] = [];
  await new Promise<void>((resolve) => {
    const arm = (i: number) => {
      const at = first + i * spacingMs;
      setTimeout(() => {
        late.push(nowMs() - at);
        if (i + 1 < n) arm(i + 1);
        else resolve();
      }, at - Date.now());
    };
    arm(0);
  });
  return late;
}

async function bareNodeCron(n: number): Promise<number[]> {
  const late: number[] = [];
  await new Promise<void>((resolve) => {
    const task = cron.schedule('* * * * * *', () => {
      const t = nowMs();
      late.push(t - Math.floor(t / 1000) * 1000);
      if (late.length >= n) {
        void task.stop();
        resolve();
      }
    });
  });
  return late;
}

export async function benchScheduling(add: Add): Promise<void> {
  const n = size(200, 10);
  const ours = stats(await ourScheduler(n, 50));
  add(`scheduler lateness (ours, ${n} at-items 50 ms apart)`, fmt(ours, n), 'p99 < 10 ms', ours.p99 < 10);
  const st = stats(await bareTimeout(n, 50));
  add('bare setTimeout lateness, same run', fmt(st, n));
  const cronN = size(30, 1, 'BENCH_CRON_N');
  const nc = stats(await bareNodeCron(cronN));
  add('bare node-cron 4.6 lateness (every second), same run', fmt(nc, cronN));
}

export async function benchVerify(add: Add): Promise<void> {
  const key = makeKey('bench');
  const media = Array.from({ length: 50 }, (_, i) => ({
    id: `m${i}`,
    url: `https://cdn.example.vn/a/m${i}.mp3`,
    sha256: i.toString(16).padStart(64, '0'),
    bytes: 1_843_200,
    durationMs: 115_200,
  }));
  const items = Array.from({ length: 200 }, (_, i) =>
    i % 2 === 0
      ? {
          id: `item-${i}`,
          source: { kind: 'file', media: [`m${i % 50}`] },
          at: new Date(Date.now() + (i + 1) * 600_000).toISOString(),
          priority: 50,
          volume: 80,
        }
      : {
          id: `item-${i}`,
          source: {
            kind: 'stream',
            urls: ['https://radio.example.vn/live.mp3', 'http://backup.example.vn/live.mp3'],
            fallback: { kind: 'fm', freqMHz: 100.0 },
          },
          cron: `${i % 60} ${i % 24} * * *`,
          durationS: 1800,
          priority: 60,
        },
  );
  // The at-items reach 200 x 10 min = 33 h ahead: the document lives 2 days, so none of
  // them falls after its expiry (well within the contract's 400-day lifetime).
  const doc = {
    type: 'schedule',
    id: 'c26734-daily',
    version: 1,
    issuedAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 2 * 86_400_000).toISOString(),
    target: { groups: ['c26734'] },
    timezone: 'Asia/Ho_Chi_Minh',
    media,
    items,
  };
  const jws = await sign(doc, key);
  const ring = new KeyRing([{ kid: key.kid, publicKey: key.publicKey }]);
  const ctx = {
    deviceId: 'x',
    groups: ['c26734'],
    now: Date.now(),
    maxBytes: 256 * 1024,
    acceptedVersion: () => undefined,
  };
  const first = verifySchedule(jws, ring, ctx);
  if (first.ok !== true) throw new Error(`bench document rejected: ${JSON.stringify(first)}`);
  const runs = size(100, 5);
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) verifySchedule(jws, ring, ctx);
  const per = (performance.now() - t0) / runs;
  add(
    'verify a 200-item signed schedule',
    `${per.toFixed(2)} ms per document (${(Buffer.byteLength(jws) / 1024).toFixed(1)} KiB)`,
  );
}
