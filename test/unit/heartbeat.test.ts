// The heartbeat service on the fake link and the manual clock: its period, the 1/s cap on
// kicks, silence while offline and a beat as soon as the link is up, and stop() leaving
// no timer behind (contract §6).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeartbeatService } from '../../agent/runtime/heartbeat.js';
import { createLogger } from '../../agent/log.js';
import { FakeLink } from '../fakes/fake-link.js';
import { ManualClock } from '../fakes/manual-clock.js';

const topic = 'loa/v1/d/box-1/heartbeat';

function rig(o: { online?: boolean } = {}) {
  const clock = new ManualClock({ now: Date.parse('2026-11-26T06:00:00+07:00'), mono: 0 });
  const link = new FakeLink({ online: o.online ?? true });
  let playing: string | null = null;
  const hb = new HeartbeatService({
    link,
    clock,
    stats: {
      sys: async () => ({ cpuTempC: 41, load1: 0.1, memFreeMB: 100, diskFreeMB: 1000 }),
      clockSynced: async () => true,
    },
    log: createLogger({ level: 'silent', pretty: false }),
    topic,
    bootId: 'boot-1',
    periodS: 10,
    startedMono: 0,
    outboxSize: () => 3,
    parts: [
      () => ({
        playing:
          playing === null
            ? null
            : ({
                itemId: playing,
                docId: 'd',
                source: 'line',
                occurrence: '2026-11-26T06:00:00.000Z',
                priority: 50,
                startedAt: '2026-11-26T06:00:00.000Z',
              } as never),
      }),
    ],
  });
  /** When each heartbeat reached the broker (monotonic ms), with the fields the test looks at. */
  const beats = () =>
    link.published
      .filter((p) => p.topic === topic)
      .map((p): Record<string, unknown> => ({
        ...(JSON.parse(p.payload.toString()) as Record<string, unknown>),
        retain: p.retain,
        qos: p.qos,
      }));
  return { clock, link, hb, beats, play: (id: string | null) => (playing = id) };
}

test('one heartbeat per period, retained at QoS 0, with the injected clock in it; the first on up', async () => {
  const r = rig();
  r.hb.start();
  r.link.start();
  await r.clock.tickAsync(1); // a 0 ms timer, which is 1 ms in Node
  assert.equal(r.beats().length, 1, 'sent as soon as the link is up');
  await r.clock.tickAsync(9_999);
  assert.equal(r.beats().length, 1);
  await r.clock.tickAsync(1);
  assert.equal(r.beats().length, 2);
  await r.clock.tickAsync(30_000);
  assert.equal(r.beats().length, 5);
  const last = r.beats().at(-1)!;
  assert.equal(last.retain, true);
  assert.equal(last.qos, 0);
  assert.equal(last.ts, '2026-11-25T23:00:40.001Z');
  assert.equal(last.uptimeS, 40); // whole seconds
  r.hb.stop();
  assert.equal(r.clock.pending, 0, 'stop() clears the period and kick timers');
});

test('kicks are capped at one heartbeat a second; a burst of changes is one heartbeat', async () => {
  const r = rig();
  r.hb.start();
  r.link.start();
  await r.clock.tickAsync(1);
  await r.clock.tickAsync(500);
  r.play('news');
  for (let i = 0; i < 10; i++) r.hb.kick();
  await r.clock.tickAsync(499);
  assert.equal(r.beats().length, 1, 'not within a second of the last');
  await r.clock.tickAsync(1);
  assert.equal(r.beats().length, 2);
  assert.equal((r.beats()[1]!.playing as { itemId: string }).itemId, 'news');
  r.hb.kick();
  await r.clock.tickAsync(999);
  assert.equal(r.beats().length, 2);
  await r.clock.tickAsync(1);
  assert.equal(r.beats().length, 3);
  r.hb.stop();
});

test('offline, no heartbeat is queued; when the link comes back one goes out at once', async () => {
  const r = rig({ online: false });
  r.hb.start();
  r.link.start();
  await r.clock.tickAsync(60_000);
  r.hb.kick();
  await r.clock.tickAsync(5_000);
  assert.equal(r.beats().length, 0);
  r.link.goOnline();
  await r.clock.tickAsync(1);
  assert.equal(r.beats().length, 1);
  r.hb.kick(); // pending when the service stops
  r.hb.stop();
  r.hb.start(); // start after stop works, and kick is not stuck on the stale handle
  await r.clock.tickAsync(2000);
  r.hb.kick();
  await r.clock.tickAsync(0);
  await r.clock.tickAsync(1);
  assert.equal(r.beats().length, 2);
  r.hb.stop();
});
