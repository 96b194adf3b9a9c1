// What plays follows the level in force (docs/protocol.md §3 "Volume"): the playback
// coordinator with the volume control, a fake player recording the levels it is given,
// the sim board and a real ledger and outbox. The volume control runs on a manual clock
// set to Vietnam's evening, so quiet hours begin when the test says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDb } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { LedgerStore } from '../../agent/adapters/ledger-store.js';
import { SimBoard } from '../../agent/adapters/sim-board.js';
import { systemClock } from '../../agent/adapters/clock.js';
import { PlaybackCoordinator } from '../../agent/runtime/playback.js';
import { VolumeControl } from '../../agent/runtime/volume.js';
import type { Occurrence } from '../../agent/domain/occurrences.js';
import { createLogger } from '../../agent/log.js';
import { FakePlayer } from '../fakes/fake-player.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const log = createLogger({ level: 'silent', pretty: false });

function occ(itemId: string, priority: number, volume?: number): Occurrence {
  const start = Date.now();
  return {
    key: `doc/${itemId}`,
    docId: 'doc',
    docVersion: 1,
    topic: 't',
    itemId,
    start,
    end: null,
    durationMs: null,
    priority,
    volume,
    source: { kind: 'stream', url: 'http://radio.example.vn/live.mp3' },
    media: [],
  };
}

test('a quiet-hours window beginning, a volume command and a profile command reach what plays at once; an emergency keeps its level', async () => {
  const vclock = new ManualClock({ now: Date.parse('2026-11-26T21:29:30+07:00') });
  let master = 100;
  let profile: string | undefined;
  const store = {
    volume: () => master,
    setVolume: (l: number) => void (master = l),
    volumeProfile: () => profile,
    setVolumeProfile: (j: string | null) => void (profile = j ?? undefined),
  };
  const db = openDb(join(tempDir('volume-live'), 'loa.db'), { synchronous: 'normal' });
  const player = new FakePlayer();
  // let: the volume control below reads it through a closure before it is built.
  // eslint-disable-next-line prefer-const
  let coordinator: PlaybackCoordinator | undefined;
  const volume = new VolumeControl({
    clock: vclock,
    log,
    store,
    maxVolume: 80,
    safeLevel: 50,
    emergencyLevel: 100,
    configured: {
      timezone: 'Asia/Ho_Chi_Minh',
      windows: [{ name: 'quiet-hours', from: '21:30', to: '06:00', normal: 30, priority: 60 }],
    },
    onChange: () => coordinator?.levelChanged(),
  });
  const board = new SimBoard({ clock: systemClock });
  await board.init();
  coordinator = new PlaybackCoordinator({
    clock: systemClock,
    board,
    player,
    ledger: new LedgerStore(db),
    events: new Outbox(db, { maxEvents: 1000, clock: systemClock }),
    log,
    warmUpMs: 0,
    holdMs: 0,
    volumeFor: (o) => volume.playerVolume(o),
    mediaPath: () => null,
  });
  try {
    volume.start();
    assert.equal(volume.masterLevel(), 50, 'safe start');
    volume.setMaster(100);
    coordinator.fire(occ('relay', 50, 50), 0);
    const relay = await until(() => player.plays[0], 2000, 'the relay to start');
    assert.equal(relay.req.volume, 40, 'master 100 × item 50 × maxVolume 80');

    vclock.advance(30_100); // 21:30: quiet hours (checked just after the minute)
    assert.deepEqual(relay.volumes, [12], 'cap 30 × item 50 × 80, sent to the session playing');
    volume.setMaster(20);
    assert.deepEqual(relay.volumes, [12, 8], 'the volume command lowers what plays too');
    volume.setProfile({ timezone: 'Asia/Ho_Chi_Minh', windows: [] });
    assert.deepEqual(relay.volumes, [12, 8, 8], 'no window any more: the master 20 decides');
    volume.setMaster(100);
    volume.setProfile(null); // the configured quiet hours again
    assert.deepEqual(relay.volumes.slice(3), [40, 12]);

    coordinator.fire(occ('alert', 100, 10), 0);
    const alert = await until(() => player.plays[1], 2000, 'the emergency to start');
    assert.equal(alert.req.volume, 80, 'emergency level 100 × maxVolume 80, its own volume 10 and quiet hours ignored');
    assert.ok(relay.end, 'the relay was preempted');
    const before = relay.volumes.length;
    volume.setMaster(10);
    vclock.advance(8.5 * 3_600_000); // 06:00: quiet hours end
    assert.equal(relay.volumes.length, before, 'an ended session is not touched');
    assert.ok(
      alert.volumes.every((v) => v === 80),
      `the emergency stays at its level: ${alert.volumes.join(', ')}`,
    );
  } finally {
    volume.stop();
    await coordinator.stopAll('stopped');
    db.close();
  }
});
