// Time without an RTC (docs/protocol.md §6), on the real agent process under libfaketime
// (test/helpers/faketime.ts) with a real Mosquitto: a boot in the past, a boot in the
// future, and NTP arriving mid-run. The time service is systemd-timesyncd's files in a
// run directory of the test's own ("NTP arrives" = the test creates `synchronized`).
// The bound signed documents move (contract v1.2) is clock-bound.test.ts's; the box is
// clock-rig.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sign } from '../helpers/signer.js';
import { commandDoc, publishOnce } from '../helpers/box.js';
import { HOUR, boot, files, item, key, shutdown, skip } from './clock-rig.js';

test(
  'boot a day in the past, no time service: two signed documents prove it behind; past items are skipped `clock`, an emergency plays at once, the bound survives a restart',
  { skip, timeout: 120_000 },
  async () => {
    const b = await boot('past', -24 * HOUR, false);
    try {
      assert.deepEqual(await b.heartbeat(() => true, 'a heartbeat'), {
        synced: null,
        source: 'none',
        lowerBound: null,
        behind: false,
      });
      const issuedAt = Date.now() - 60_000;
      // Two documents (a ping, then the schedule) vouch for each other: corroborated, what
      // they put past its grace is given up at once (one alone would only hold it).
      const ping = commandDoc(b.device, 'ping', {});
      await publishOnce(files.broker.url, b.T.deviceCmd, await sign(ping, key, { typ: 'loa-command+json' }));
      await b.w.waitFor((m) => m.topic === b.T.cmdResult && m.json().cmdId === ping.id, 15_000, "the ping's result");
      // 40 s ahead on the box's clock, a day past in truth.
      await b.publishDoc({
        issuedAt: new Date(issuedAt).toISOString(),
        items: [item('stale', Date.now() - 24 * HOUR + 40_000)],
      });
      const skipped = await b.w.waitFor(
        (m) => m.topic === b.T.events && m.json().type === 'play.skipped',
        15_000,
        'play.skipped of the stale item',
      );
      assert.deepEqual([skipped.json().itemId, skipped.json().reason], ['stale', 'clock']);
      const clock = await b.heartbeat((c) => c.behind === true, 'a heartbeat saying behind');
      const { aheadS, ...rest } = clock;
      assert.deepEqual(rest, { synced: null, source: 'none', lowerBound: ping.issuedAt, behind: true });
      assert.ok(
        Math.abs(Number(aheadS) - (24 * 3600 - 60)) < 120,
        `the bound is ${String(aheadS)} s ahead of the box's clock (about a day)`,
      );

      const cmd = commandDoc(b.device, 'play', { source: { kind: 'line' }, durationS: 2, priority: 100 });
      const sentAt = Date.now();
      await publishOnce(files.broker.url, b.T.deviceCmd, await sign(cmd, key, { typ: 'loa-command+json' }));
      await b.w.waitFor(
        (m) => m.topic === b.T.events && m.json().type === 'play.started' && m.json().cmdId === cmd.id,
        10_000,
        'the emergency play.started',
      );
      assert.ok(
        Date.now() - sentAt < 5000,
        `the emergency started ${Date.now() - sentAt} ms after it was sent, on a clock held for schedules`,
      );
      assert.equal(b.events('play.started', 'stale').length, 0);
    } finally {
      await shutdown(b);
    }
    const saved = JSON.parse(
      (JSON.parse(readFileSync(join(b.dir, 'state', 'clock.json'), 'utf8')) as { data: string }).data,
    ) as { lowerBound: string };
    assert.ok(Date.parse(saved.lowerBound) >= Date.now() - 5 * 60_000, `the bound on disk: ${saved.lowerBound}`);
    // The next boot, still a day behind, knows it before any document arrives.
    const again = await boot('past', -24 * HOUR, false, b.dir);
    try {
      const clock = await again.heartbeat(() => true, 'the first heartbeat after the restart');
      assert.equal(clock.behind, true);
      assert.equal(clock.lowerBound, saved.lowerBound);
    } finally {
      await shutdown(again);
    }
  },
);

test(
  'NTP arrives mid-run, 2 h forward: an item held through it and now past its grace is skipped `clock`; one still ahead plays on time, once',
  { skip, timeout: 150_000 },
  async () => {
    const b = await boot('jump', -2 * HOUR, true);
    try {
      assert.deepEqual(await b.heartbeat(() => true, 'a heartbeat'), {
        synced: false,
        source: 'timesyncd',
        lowerBound: null,
        behind: false,
      });
      const now = Date.now();
      const soonAt = Math.ceil((now + 45_000) / 1000) * 1000;
      // Issued before the box's clock: no proof it is behind, only timesyncd's "not yet".
      await b.publishDoc({
        issuedAt: new Date(now - 2 * HOUR - 5 * 60_000).toISOString(),
        items: [item('held', now - 2 * HOUR + 10_000), item('soon', soonAt)],
      });
      await b.held('held', 30_000); // `held` comes due on the box's clock, and waits
      assert.equal(
        b.events('play.started').length + b.events('play.skipped').length,
        0,
        'held: neither played nor skipped within its grace',
      );
      b.ntpArrives();
      const skipped = await b.w.waitFor(
        (m) => m.topic === b.T.events && m.json().type === 'play.skipped',
        40_000,
        'play.skipped of the held item',
      );
      assert.deepEqual([skipped.json().itemId, skipped.json().reason], ['held', 'clock']);
      await b.heartbeat((c) => c.synced === true && c.behind === false, 'a heartbeat saying synchronised');
      const started = await b.w.waitFor(
        (m) => m.topic === b.T.events && m.json().type === 'play.started',
        60_000,
        'play.started of the item ahead',
      );
      assert.equal(started.json().itemId, 'soon');
      assert.ok(Number(started.json().lateMs) <= 1500, `lateMs ${String(started.json().lateMs)}`);
      assert.ok(started.at >= soonAt - 300, `started ${soonAt - started.at} ms early by the real clock`);
      const finished = await b.w.waitFor(
        (m) => m.topic === b.T.events && m.json().type === 'play.finished',
        15_000,
        'play.finished',
      );
      await b.nothingNext(finished.at);
      assert.equal(b.events('play.started').length, 1, 'nothing fired twice');
      assert.equal(b.events('play.skipped').length, 1);
    } finally {
      await shutdown(b);
    }
  },
);

test(
  'boot 90 s in the future, timesyncd not yet synchronised: an item the wrong clock shows due is held, not played early; after NTP it plays on time',
  { skip, timeout: 120_000 },
  async () => {
    const b = await boot('future', 90_000, true);
    try {
      const itemAt = Math.ceil((Date.now() + 40_000) / 1000) * 1000; // already 50 s "late" on the box's clock
      await b.publishDoc({ items: [item('early-risk', itemAt)] });
      await b.held('early-risk', 30_000); // due ~50 s ago on the box's clock: held at once
      assert.equal(b.events('play.started').length + b.events('play.skipped').length, 0, 'held, not fired ~50 s early');
      b.ntpArrives();
      const started = await b.w.waitFor(
        (m) => m.topic === b.T.events && m.json().type === 'play.started',
        60_000,
        'play.started',
      );
      assert.equal(started.json().itemId, 'early-risk');
      assert.ok(started.at >= itemAt - 300, `started ${itemAt - started.at} ms before its time by the real clock`);
      assert.ok(Number(started.json().lateMs) <= 1500, `lateMs ${String(started.json().lateMs)}`);
      const finished = await b.w.waitFor(
        (m) => m.topic === b.T.events && m.json().type === 'play.finished',
        15_000,
        'play.finished',
      );
      await b.nothingNext(finished.at);
      assert.equal(b.events('play.started').length, 1, 'once');
      assert.equal(b.events('play.skipped').length, 0);
    } finally {
      await shutdown(b);
    }
  },
);
