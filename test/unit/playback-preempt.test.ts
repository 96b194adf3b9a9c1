// The coordinator executing the plan (runtime/playback.ts with domain/playback-plan.ts)
// where the plan alone cannot show it: a preemptor preempted in turn. The sim board, a
// scripted player, a real ledger and outbox; one ManualClock drives the coordinator, the
// board, the player and the outbox alike, so no time passes for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDb } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { LedgerStore } from '../../agent/adapters/ledger-store.js';
import { SimBoard } from '../../agent/adapters/sim-board.js';
import { PlaybackCoordinator } from '../../agent/runtime/playback.js';
import type { Occurrence } from '../../agent/domain/occurrences.js';
import { createLogger } from '../../agent/log.js';
import { FakePlayer } from '../fakes/fake-player.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = 1_800_000_000_000;
const log = createLogger({ level: 'silent', pretty: false });

function rig() {
  const clock = new ManualClock({ now: T0 });
  const db = openDb(join(tempDir('preempt'), 'loa.db'));
  const outbox = new Outbox(db, { maxEvents: 10_000, clock });
  const board = new SimBoard({ clock });
  void board.init();
  const playback = new PlaybackCoordinator({
    clock,
    board,
    player: new FakePlayer({ clock }),
    ledger: new LedgerStore(db),
    events: outbox,
    log,
    warmUpMs: 100,
    holdMs: 100,
    volumeFor: () => 50,
    mediaPath: () => null,
  });
  const relay = (itemId: string, priority: number, slotMs: number): Occurrence => {
    const start = clock.now();
    const source = { kind: 'stream' as const, url: `http://radio.example.vn/${itemId}` };
    return {
      ...{ key: `doc/${itemId}/${start}`, docId: 'doc', docVersion: 1, topic: 't', itemId, start },
      ...{ end: start + slotMs, durationMs: null, priority, volume: undefined, source, media: [] },
    };
  };
  return {
    playback,
    db,
    relay,
    events: () =>
      outbox.peekAfter(0, 1000).map((r) => {
        const e = JSON.parse(r.body) as Record<string, unknown>;
        return [e.type, e.itemId, e.reason ?? (e.resumed ? 'resumed' : '')].join(' ').trim();
      }),
    // Timer by timer, letting the coordinator's promises settle after each.
    tick: (ms: number) => clock.tickAsync(ms),
  };
}

test(
  'an emergency over an item that had suspended a relay: the relay still resumes when the emergency ends',
  { timeout: 60_000 },
  async () => {
    const r = rig();
    r.playback.fire(r.relay('radio', 50, 8000), 0);
    await r.tick(300);
    r.playback.fire(r.relay('news', 75, 1500), 0); // suspends the radio
    await r.tick(300);
    r.playback.fire(r.relay('alarm', 100, 1000), 0); // preempts the news, whose slot then runs out
    await r.tick(3000);
    assert.deepEqual(r.events(), [
      'play.started radio',
      'play.interrupted radio preempted',
      'play.started news',
      'play.interrupted news preempted',
      'play.started alarm',
      'play.finished alarm',
      'play.started radio resumed',
    ]);
    await r.playback.stopAll('stopped');
    assert.equal(r.events().at(-1), 'play.interrupted radio stopped');
    r.db.close();
  },
);
