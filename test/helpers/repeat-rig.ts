// Repeat series (issue 16) on the manual clock: the real scheduler, playback coordinator,
// Repeats and command executor (play, cancel), over a real SQLite ledger and outbox and a
// real replay-state file, so a "restart" is a second rig over the same directory at a
// later time. Sources are line relays (no player involved); the board is the simulated one.
import { join } from 'node:path';
import { openDb } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { LedgerStore } from '../../agent/adapters/ledger-store.js';
import { MetaStore } from '../../agent/adapters/meta-store.js';
import { ReplayState } from '../../agent/adapters/replay-state.js';
import { SimBoard } from '../../agent/adapters/sim-board.js';
import { Scheduler, closeInterruptedByRestart } from '../../agent/runtime/scheduler.js';
import { PlaybackCoordinator } from '../../agent/runtime/playback.js';
import { Repeats } from '../../agent/runtime/repeats.js';
import { createExecutor } from '../../agent/runtime/command-actions.js';
import { validateCommand, type CommandDoc } from '../../contract/command-doc.js';
import type { DocInForce } from '../../agent/domain/occurrences.js';
import type { CommandOutcome } from '../../agent/runtime/commands.js';
import { createLogger } from '../../agent/log.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { FakePlayer } from '../fakes/fake-player.js';
import { threadCpuClock } from '../../agent/adapters/thread-cpu.js';

const log = createLogger({ level: 'silent', pretty: false });

export interface RepeatRig {
  clock: ManualClock;
  scheduler: Scheduler;
  playback: PlaybackCoordinator;
  /** Run a command as the command service would (verified form: validateCommand); advance the clock for a play to settle. */
  command(raw: Record<string, unknown>): Promise<CommandOutcome>;
  events(type?: string): Record<string, unknown>[];
  /** Advance in steps of `stepMs` (default 1 s), letting the coordinator's promises settle. */
  advance(ms: number, stepMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function repeatRig(
  dir: string,
  o: { now: number; docs?: DocInForce[]; minRepeatS?: number; maxSleepMs?: number },
): Promise<RepeatRig> {
  const clock = new ManualClock({ now: o.now });
  const db = openDb(join(dir, 'loa.db'));
  const outbox = new Outbox(db, { maxEvents: 100_000, clock });
  const ledger = new LedgerStore(db);
  const replay = new ReplayState(join(dir, 'replay.json'), log);
  replay.load();
  const board = new SimBoard({ clock });
  await board.init();
  const playback = new PlaybackCoordinator({
    clock,
    board,
    player: new FakePlayer({ clock }),
    ledger,
    events: outbox,
    log,
    warmUpMs: 2000,
    holdMs: 5000,
    volumeFor: () => 100,
    mediaPath: () => null,
  });
  const checkpoint = new MetaStore(db).checkpoint;
  closeInterruptedByRestart({ ledger, events: outbox, log }, checkpoint.get(), clock.now());
  const docs = o.docs ?? [];
  const scheduler: Scheduler = new Scheduler({
    clock,
    log,
    docs: () => docs,
    cpuMs: threadCpuClock(),
    ledger,
    events: outbox,
    playback,
    mediaReady: () => true,
    checkpoint,
    warmUpMs: 2000,
    graceMs: 120_000,
    ...(o.maxSleepMs !== undefined ? { maxSleepMs: o.maxSleepMs } : {}),
    series: (w) => repeats.series(w),
    cancelled: (occ) => repeats.cancelled(occ),
  });
  const repeats: Repeats = new Repeats({
    clock,
    log,
    replay,
    stopMatching: (m) => playback.cancel(m),
    upcoming: () => scheduler.upcoming(),
    replan: () => scheduler.replan(),
    docExpiry: (id) => {
      const e = docs.find((d) => d.doc.id === id)?.doc.expiresAt;
      return e === undefined ? undefined : Date.parse(e);
    },
  });
  // Only play and cancel are run here: the deps other commands need are absent on purpose.
  const exec = createExecutor({
    clock,
    log,
    coordinator: playback,
    board,
    repeats,
    fetchMedia: async () => [],
  } as unknown as Parameters<typeof createExecutor>[0]);
  scheduler.start();
  return {
    clock,
    scheduler,
    playback,
    command(raw) {
      const v = validateCommand(raw, o.minRepeatS);
      if (!v.ok) throw new Error(v.message);
      return exec(v.doc as CommandDoc);
    },
    events: (type) =>
      outbox
        .peekAfter(0, 100_000)
        .map((r) => JSON.parse(r.body) as Record<string, unknown>)
        .filter((e) => type === undefined || e.type === type),
    async advance(ms, stepMs = 1000) {
      for (let left = ms; left > 0; left -= stepMs) await clock.tickAsync(Math.min(stepMs, left));
    },
    async close() {
      scheduler.stop();
      replay.save();
      db.close();
    },
  };
}

/** A signed-form `play` command (before signing), issued at `now`. */
export function playCommand(
  id: string,
  now: number,
  args: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    type: 'command',
    id,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 24 * 3_600_000).toISOString(),
    target: { groups: ['g'] },
    action: 'play',
    args: { source: { kind: 'line' }, durationS: 30, ...args },
    ...extra,
  };
}

export function cancelCommand(id: string, now: number, args: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'command',
    id,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 24 * 3_600_000).toISOString(),
    target: { groups: ['g'] },
    action: 'cancel',
    args,
  };
}
