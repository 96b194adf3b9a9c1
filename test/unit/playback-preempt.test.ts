// The coordinator executing the plan (runtime/playback.ts with domain/playback-plan.ts)
// where the plan alone cannot show it: a preemptor preempted in turn. The sim board, a
// scripted player, a real ledger and outbox; node:test's mock timers drive the clock,
// the player and the coordinator's timers alike, so no time passes for real.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDb } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { LedgerStore } from '../../agent/adapters/ledger-store.js';
import { SimBoard } from '../../agent/adapters/sim-board.js';
import { systemClock } from '../../agent/adapters/clock.js';
import { PlaybackCoordinator } from '../../agent/runtime/playback.js';
import type { Occurrence } from '../../agent/domain/occurrences.js';
import { createLogger } from '../../agent/log.js';
import { FakePlayer } from '../fakes/fake-player.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = 1_800_000_000_000;
const log = createLogger({ level: 'silent', pretty: false });

function rig(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
  const db = openDb(join(tempDir('preempt'), 'loa.db'));
  const outbox = new Outbox(db, { maxEvents: 10_000, clock: systemClock });
  const board = new SimBoard({ clock: systemClock });
  void board.init();
  const playback = new PlaybackCoordinator({
    clock: systemClock,
    board,
    player: new FakePlayer(),
    ledger: new LedgerStore(db),
    events: outbox,
    log,
    warmUpMs: 100,
    holdMs: 100,
    volumeFor: () => 50,
    mediaPath: () => null,
  });
  const relay = (itemId: string, priority: number, slotMs: number): Occurrence => {
    const start = Date.now();
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
    // 50 ms slices, letting the coordinator's promises settle after each (setImmediate is not mocked).
    tick: async (ms: number) => {
      for (let left = ms; left > 0; left -= 50) {
        t.mock.timers.tick(Math.min(50, left));
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      }
    },
  };
}

test(
  'an emergency over an item that had suspended a relay: the relay still resumes when the emergency ends',
  { timeout: 60_000 },
  async (t) => {
    const r = rig(t);
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
