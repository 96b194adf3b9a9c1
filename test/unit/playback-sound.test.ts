// The coordinator judging what the board measured (contract v1.2 §9): a silent output moves
// a stream to its next URL, once per 5 s of silence, and a judge that takes a segment over
// while its player is still starting is the only one that moves it (the player's own
// failover stands down). The sim board with a sound port the test feeds, a scripted player,
// a real ledger and outbox, one ManualClock: no time passes for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDb } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { LedgerStore } from '../../agent/adapters/ledger-store.js';
import { SimBoard } from '../../agent/adapters/sim-board.js';
import type { BoardSound, SoundLevels } from '../../agent/adapters/board.js';
import { PlaybackCoordinator } from '../../agent/runtime/playback.js';
import type { Occurrence } from '../../agent/domain/occurrences.js';
import { createLogger } from '../../agent/log.js';
import { FakePlayer } from '../fakes/fake-player.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = 1_800_000_000_000;

function rig() {
  const clock = new ManualClock({ now: T0 });
  const db = openDb(join(tempDir('sound'), 'loa.db'));
  const outbox = new Outbox(db, { maxEvents: 10_000, clock });
  let listener: ((l: SoundLevels) => void) | undefined;
  const sound: BoardSound = { measures: () => true, onLevels: (l) => ((listener = l), () => (listener = undefined)) };
  const board = Object.assign(new SimBoard({ clock }), { sound });
  void board.init();
  const player = new FakePlayer({ clock });
  const faults: string[] = [];
  const playback = new PlaybackCoordinator({
    clock,
    board,
    player,
    ledger: new LedgerStore(db),
    events: outbox,
    log: createLogger({ level: 'silent', pretty: false }),
    warmUpMs: 100,
    holdMs: 100,
    volumeFor: () => 50,
    mediaPath: () => null,
    reportHw: (c) => void (c.component === 'output' && faults.push(`${c.code} ${c.active ? 'on' : 'off'}`)),
  });
  const stream = (urls: string[], priority = 75, slotMs = 120_000): Occurrence => {
    const start = clock.now();
    const source = { kind: 'stream' as const, url: urls[0]!, ...(urls.length > 1 ? { urls } : {}) };
    return {
      ...{ key: `doc/relay/${start}`, docId: 'doc', docVersion: 1, topic: 't', itemId: 'relay', start },
      ...{ end: start + slotMs, durationMs: null, priority, volume: undefined, source, media: [] },
    };
  };
  /** `n` windows of a silent line while the input carries signal, one a second. */
  const silent = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await clock.tickAsync(1000);
      listener?.({ outDb: -80, currentMa: 350, inDbfs: -18, input: 'ip', windowMs: 1000 });
    }
  };
  const sounding = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await clock.tickAsync(1000);
      listener?.({ outDb: -6, currentMa: 2400, inDbfs: -18, input: 'ip', windowMs: 1000 });
    }
  };
  const events = () =>
    outbox.peekAfter(0, 1000).map((r) => {
      const e = JSON.parse(r.body) as Record<string, unknown>;
      return [e.type, e.to ?? e.reason ?? ''].join(' ').trim();
    });
  return { clock, playback, player, faults, stream, silent, sounding, events, db };
}

test('a silent output: hw.fault output, the next URL; 5 s more of silence, the URL after', async () => {
  const r = rig();
  r.playback.fire(r.stream(['http://a/1', 'http://b/2', 'http://c/3']), 0);
  await r.clock.tickAsync(200);
  await r.silent(5);
  assert.deepEqual(r.faults, ['no_output on']);
  await r.clock.tickAsync(100);
  assert.deepEqual(
    r.player.plays.map((p) => (p.req.source as { url: string }).url),
    ['http://a/1', 'http://b/2'],
  );
  await r.silent(5);
  await r.clock.tickAsync(100);
  assert.deepEqual(
    r.events().filter((e) => e.startsWith('play.')),
    ['play.started', 'play.failover http://b/2', 'play.failover http://c/3'],
  );
  r.db.close();
});

test('the judge moves a segment whose next player is still starting: one failover, and no player left behind', async () => {
  const r = rig();
  // b takes 10 s to start: the judge stops it before it has, and moves on to c itself.
  r.player.queue({}, { startAfterMs: 10_000 }, {});
  r.playback.fire(r.stream(['http://a/1', 'http://b/2', 'http://c/3']), 0);
  await r.clock.tickAsync(200);
  await r.silent(5);
  await r.silent(5);
  await r.clock.tickAsync(2000);
  const failovers = r.events().filter((e) => e.startsWith('play.failover'));
  assert.deepEqual(failovers, ['play.failover http://b/2', 'play.failover http://c/3'], 'each move once');
  assert.equal(r.player.plays.length, 3, 'a, b, c: no second player for c');
  assert.deepEqual(
    r.player.plays.map((p) => p.end?.reason ?? 'playing'),
    ['stopped', 'stopped', 'playing'],
  );
  r.db.close();
});

test('an emergency silent on every path plays on to its end, then play.failed no-output; one that sounds again ends as played', async () => {
  for (const repaired of [false, true]) {
    const r = rig();
    r.playback.fire(r.stream(['http://a/1'], 100, 30_000), 0);
    await r.clock.tickAsync(200);
    await r.silent(5); // no other URL, no fallback: the amplifier off and on
    await r.silent(5); // still silent: every path spent
    await r.clock.tickAsync(100);
    assert.deepEqual(
      r.events().filter((e) => e.startsWith('play.')),
      ['play.started'],
      'it plays on',
    );
    assert.equal(r.player.plays.at(-1)!.end ?? null, null, 'its player still runs');
    if (repaired) await r.sounding(3);
    await r.clock.tickAsync(30_000);
    const ended = r.events().filter((e) => e.startsWith('play.'));
    assert.deepEqual(
      ended,
      ['play.started', repaired ? 'play.finished' : 'play.failed no-output'],
      `repaired ${repaired}`,
    );
    r.db.close();
  }
});
