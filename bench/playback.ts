// Playback numbers through the real chain: Scheduler -> PlaybackCoordinator -> mpg123
// (paced output) on the sim board with the amplifier pre-warmed. lateMs in play.started
// is (first audio out as the player reports it) - (scheduled instant).
import { join } from 'node:path';
import { openDb } from '../agent/adapters/sqlite-db.js';
import { Outbox } from '../agent/adapters/outbox-store.js';
import { LedgerStore } from '../agent/adapters/ledger-store.js';
import { SimBoard } from '../agent/adapters/sim-board.js';
import { systemClock } from '../agent/adapters/clock.js';
import { createMpg123Player } from '../agent/adapters/mpg123-player.js';
import { PlaybackCoordinator } from '../agent/runtime/playback.js';
import { Scheduler } from '../agent/runtime/scheduler.js';
import { validateSchedule } from '../contract/schedule-doc.js';
import type { Occurrence } from '../agent/domain/occurrences.js';
import { createLogger } from '../agent/log.js';
import { tempDir } from '../test/helpers/tmp.js';
import { makeTone } from '../test/helpers/audio.js';
import { size } from './smoke.js';
import { threadCpuClock } from '../agent/adapters/thread-cpu.js';

type Add = (metric: string, value: string, target?: string, ok?: boolean) => void;
const SHA_SHORT = 'a'.repeat(64);
const SHA_LONG = 'b'.repeat(64);
const LONG_S = size(8, 2);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function rig() {
  const short = makeTone({ seconds: 0.3 });
  // The bulletin that gets preempted, and the play whose CPU is measured (it plays out in full).
  const long = makeTone({ seconds: LONG_S });
  const db = openDb(join(tempDir('bench-playback'), 'loa.db'), { synchronous: 'normal' });
  const outbox = new Outbox(db, { maxEvents: 100_000, clock: systemClock });
  const ledger = new LedgerStore(db);
  const board = new SimBoard({ clock: systemClock });
  const coordinator = new PlaybackCoordinator({
    clock: systemClock,
    board,
    player: createMpg123Player({ output: { kind: 'paced' } }),
    ledger,
    events: outbox,
    log: createLogger({ level: 'silent', pretty: false }),
    warmUpMs: 300,
    holdMs: 60_000,
    volumeFor: () => 100,
    mediaPath: (sha) => (sha === SHA_SHORT ? short : sha === SHA_LONG ? long : null),
  });
  const events = () => outbox.peekAfter(0, 100_000).map((r) => JSON.parse(r.body) as Record<string, unknown>);
  return { db, outbox, ledger, board, coordinator, events };
}

const mediaRef = (sha: string) => ({
  id: sha.slice(0, 1),
  url: 'https://cdn.example.vn/x.mp3',
  sha256: sha,
  bytes: 1,
  durationMs: 300,
});

async function until(check: () => boolean, ms: number, what: string, pollMs = 5): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export async function benchPlayback(add: Add): Promise<void> {
  const r = rig();
  await r.board.init();
  // 1. Scheduled instant -> first audio, 50 plays through the real scheduler.
  const n = size(50, 3, 'BENCH_PLAYS');
  const first = Math.ceil((Date.now() + size(2000, 1000)) / 1000) * 1000;
  const items = Array.from({ length: n }, (_, i) => ({
    id: `p${i}`,
    source: { kind: 'file', media: ['a'] },
    at: new Date(first + i * 700).toISOString(),
  }));
  const v = validateSchedule({
    type: 'schedule',
    id: 'bench',
    version: 1,
    issuedAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    target: { groups: ['g'] },
    timezone: 'Asia/Ho_Chi_Minh',
    media: [mediaRef(SHA_SHORT)],
    items,
  });
  if (!v.ok) throw new Error(v.message);
  let checked: number | undefined;
  const scheduler = new Scheduler({
    clock: systemClock,
    log: createLogger({ level: 'silent', pretty: false }),
    docs: () => [{ topic: 't', doc: v.doc }],
    ledger: r.ledger,
    cpuMs: threadCpuClock(),
    events: r.outbox,
    playback: r.coordinator,
    mediaReady: () => true,
    checkpoint: { get: () => checked, set: (ms) => (checked = ms) },
    warmUpMs: 300,
    graceMs: 120_000,
  });
  scheduler.start();
  await until(
    () => r.events().filter((e) => e.type === 'play.finished').length >= n,
    n * 700 + 10_000,
    `${n} scheduled plays finished`,
  );
  scheduler.stop();
  const late = r
    .events()
    .filter((e) => e.type === 'play.started')
    .map((e) => Number(e.lateMs));
  const p99 = pct(late, 99);
  add(
    `scheduled instant -> first audio (mpg123, amp pre-warmed), ${late.length} plays`,
    `p50 ${pct(late, 50)} / p99 ${p99} / max ${Math.max(...late)} ms`,
    'p99 < 50 ms',
    p99 < 50,
  );

  // 2. Preemption: an emergency fired while a bulletin plays -> bulletin silenced -> emergency audio.
  const tries = size(10, 1, 'BENCH_PREEMPTS');
  const silencedMs: number[] = [];
  const audioMs: number[] = [];
  for (let i = 0; i < tries; i++) {
    const base = r.events().length;
    const mk = (id: string, sha: string, priority: number): Occurrence => {
      const start = Date.now();
      return {
        key: `pre/${id}/${start}`,
        docId: 'pre',
        docVersion: 1,
        topic: 't',
        itemId: id,
        start,
        end: null,
        durationMs: null,
        priority,
        volume: undefined,
        source: { kind: 'file', media: [sha.slice(0, 1)] },
        media: [mediaRef(sha)],
      };
    };
    r.coordinator.fire(mk(`bulletin${i}`, SHA_LONG, 50), 0);
    await until(
      () =>
        r
          .events()
          .slice(base)
          .some((e) => e.type === 'play.started'),
      5000,
      `bulletin${i} started`,
    );
    await new Promise((res) => setTimeout(res, 300));
    const t0 = performance.timeOrigin + performance.now();
    r.coordinator.fire(mk(`alarm${i}`, SHA_SHORT, 100), 0);
    await until(
      () =>
        r
          .events()
          .slice(base)
          .some((e) => e.type === 'play.started' && e.itemId === `alarm${i}`),
      5000,
      `alarm${i} started`,
    );
    const evs = r.events().slice(base);
    silencedMs.push(Date.parse(String(evs.find((e) => e.type === 'play.interrupted')!.ts)) - t0);
    audioMs.push(Date.parse(String(evs.find((e) => e.type === 'play.started' && e.itemId === `alarm${i}`)!.ts)) - t0);
    await until(
      () =>
        r
          .events()
          .slice(base)
          .some((e) => e.type === 'play.finished' && e.itemId === `alarm${i}`),
      5000,
      `alarm${i} finished`,
    );
  }
  add(
    `preemption: emergency fired -> lower item interrupted (its mpg123 then goes as in the stop() row), ${tries} tries`,
    `p50 ${pct(silencedMs, 50).toFixed(1)} / max ${Math.max(...silencedMs).toFixed(1)} ms`,
  );
  add(
    `preemption: emergency fired -> emergency audio out, ${tries} tries`,
    `p50 ${pct(audioMs, 50).toFixed(1)} / max ${Math.max(...audioMs).toFixed(1)} ms`,
  );

  // 3. The agent side while mpg123 plays a 128 kbit/s MP3 for LONG_S (paced: the pacer runs here).
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const start = Date.now();
  r.coordinator.fire(
    {
      key: `cpu/${start}`,
      docId: 'cpu',
      docVersion: 1,
      topic: 't',
      itemId: 'cpu',
      start,
      end: null,
      durationMs: null,
      priority: 50,
      volume: undefined,
      source: { kind: 'file', media: ['b'] },
      media: [mediaRef(SHA_LONG)],
    },
    0,
  );
  // Poll the ledger slowly: the measurement must not be the bench's own polling.
  await until(
    () => r.ledger.get(`cpu/${start}`)?.state === 'finished',
    LONG_S * 1000 + 7000,
    'the long play finished',
    250,
  );
  const cpu = process.cpuUsage(cpu0);
  const pctCpu = ((cpu.user + cpu.system) / 1000 / (Date.now() - t0)) * 100;
  add(
    'agent process while playing (coordinator + paced output)',
    `${pctCpu.toFixed(2)} % of a core, RSS ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB (bench process)`,
  );
  await r.coordinator.stopAll('stopped');
  r.db.close();
}
