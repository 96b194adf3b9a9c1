// Over-the-air updates of a real agent (issue [5/8]; docs/ota.md): the launcher under a
// Restart=always stand-in, real releases built from this checkout, Mosquitto, HTTP.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { makeReleaseTree, packRelease } from '../helpers/releases.js';
import { otaRig, type OtaRig } from '../helpers/ota-rig.js';
import { commandDoc } from '../helpers/box.js';
import { sign } from '../helpers/signer.js';
import { DEFAULT_ROOT, deviceTopic } from '../helpers/watcher.js';

const releases = (r: OtaRig) => readdirSync(join(r.root, 'releases')).sort();
const current = (r: OtaRig) => readlinkSync(join(r.root, 'current'));

test(
  'a release key updates a real agent: queued, started, installed, on trial, committed; a schedule key is refused; what does not fit is refused before anything is removed; two releases kept',
  { timeout: 240_000 },
  async () => {
    const r = await otaRig();
    try {
      makeReleaseTree(join(r.root, 'releases/0.9.0'), '0.9.0'); // an older release left on the box
      const b1 = await r.birth('1.0.0', 60_000);
      assert.equal(b1.arch, process.arch === 'x64' ? 'amd64' : b1.arch);
      assert.equal(b1.update, null);
      const v2 = packRelease('2.0.0');

      const byCentre = await r.update(v2, {}, r.centre);
      const refused = await r.result(byCentre, 30_000);
      assert.equal(refused.ok, false);
      assert.equal((refused.error as { code: string }).code, 'unknown-key');
      assert.match(
        (refused.error as { message: string }).message,
        /not trusted to sign an update \(needs the release role\)/,
      );

      const huge = await r.update(v2, { installedBytes: 2 ** 40 });
      const noSpace = await r.result(huge, 30_000);
      assert.equal((noSpace.error as { code: string }).code, 'no-space');
      assert.match((noSpace.error as { message: string }).message, /needs .* free .* once 0\.9\.0 removed/);
      assert.deepEqual(releases(r), ['0.9.0', '1.0.0'], 'nothing removed by a refused update');

      const sent = Date.now();
      const id = await r.update(v2);
      const res = await r.result(id, 30_000);
      assert.deepEqual(res.result, { version: '2.0.0', state: 'queued', from: '1.0.0' });
      const started = await r.event('update.started', id, 60_000);
      assert.equal(started.from, '1.0.0');
      assert.equal(started.bytes, v2.bytes);
      await r.event('update.installed', id, 60_000);
      const onTrial = await r.birth('2.0.0', 60_000);
      assert.deepEqual((onTrial.update as { trial: { version: string; previous: string } }).trial.previous, '1.0.0');
      const committed = await r.event('update.committed', id, 60_000);
      const doneMs = Date.now() - sent;
      assert.equal(committed.previous, '1.0.0');
      const after = await r.watcher.waitFor(
        (m) => m.topic.endsWith('/status') && m.json().agentVersion === '2.0.0' && m.json().update === null,
        30_000,
        'a birth after the commit',
      );
      assert.ok(after);
      assert.equal(current(r), 'releases/2.0.0');
      assert.deepEqual(releases(r), ['1.0.0', '2.0.0'], 'the running release and its rollback target');
      assert.equal(existsSync(join(r.ota, 'trial')), false);
      process.stdout.write(
        `# OTA on loopback: command sent -> update.committed ${doneMs} ms (artifact ${v2.bytes} bytes)\n`,
      );

      const v3 = packRelease('3.0.0');
      const id3 = await r.update(v3);
      await r.event('update.committed', id3, 120_000);
      assert.equal(current(r), 'releases/3.0.0');
      assert.deepEqual(releases(r), ['2.0.0', '3.0.0'], 'at most two releases kept');
      // Every event of the box arrived once, none missing across the restarts.
      const seqs = r.events().map((e) => e.seq as number);
      assert.deepEqual(
        seqs,
        [...new Set(seqs)].sort((a, b) => a - b),
      );
      assert.equal(seqs.length, Math.max(...seqs) - Math.min(...seqs) + 1, `no gap in ${seqs.join(',')}`);
    } finally {
      await r.close();
    }
  },
);

test(
  'an update that arrives while an item plays waits for the quiet window; the item is not cut',
  { timeout: 180_000 },
  async () => {
    const r = await otaRig({ deviceId: 'ota-busy' });
    try {
      await r.birth('1.0.0', 60_000);
      const play = commandDoc(r.deviceId, 'play', { source: { kind: 'line' }, durationS: 12, priority: 50 });
      const c = await import('mqtt');
      const pub = await c.default.connectAsync(r.broker.url, { protocolVersion: 4 });
      await pub.publishAsync(
        deviceTopic(DEFAULT_ROOT, r.deviceId, 'cmd'),
        await sign(play, r.centre, { typ: 'loa-command+json' }),
        { qos: 1 },
      );
      await pub.endAsync();
      const playStarted = await r.watcher.waitFor(
        (m) => m.topic.endsWith('/events') && m.json().type === 'play.started',
        30_000,
        'play.started',
      );
      const id = await r.update(packRelease('2.0.0'));
      const installed = await r.event('update.installed', id, 90_000);
      const finished = r.events().find((e) => e.type === 'play.finished' && e.itemId === play.id);
      assert.ok(
        finished,
        `the item finished before the switch (events: ${r
          .events()
          .map((e) => e.type)
          .join(', ')})`,
      );
      assert.ok(
        Date.parse(installed.ts as string) >= Date.parse(finished.ts as string),
        'installed after the item finished',
      );
      const started = r.events().find((e) => e.type === 'update.started' && e.cmdId === id)!;
      assert.ok(
        Date.parse(started.ts as string) < Date.parse(finished.ts as string),
        'the update began while the item played',
      );
      assert.ok(Date.parse(playStarted.json<{ ts: string }>().ts) < Date.parse(started.ts as string));
      assert.equal(
        r.events().some((e) => e.type === 'play.interrupted'),
        false,
        'nothing interrupted',
      );
      // An emergency sent while the agent restarts into the new release waits in the
      // persistent session and plays as soon as the new version is up, trial or not.
      const emergency = commandDoc(r.deviceId, 'play', { source: { kind: 'line' }, durationS: 3, priority: 100 });
      const sentAt = Date.now();
      const pub2 = await c.default.connectAsync(r.broker.url, { protocolVersion: 4 });
      await pub2.publishAsync(
        deviceTopic(DEFAULT_ROOT, r.deviceId, 'cmd'),
        await sign(emergency, r.centre, { typ: 'loa-command+json' }),
        { qos: 1 },
      );
      await pub2.endAsync();
      const played = await r.watcher.waitFor(
        (m) => m.topic.endsWith('/events') && m.json().type === 'play.started' && m.json().cmdId === emergency.id,
        60_000,
        'the emergency played',
      );
      process.stdout.write(
        `# OTA: emergency sent at update.installed -> play.started ${played.at - sentAt} ms (the restart into the new release)\n`,
      );
      await r.event('update.committed', id, 60_000);
    } finally {
      await r.close();
    }
  },
);

// The three at once: each waits for its launcher (the watcher's deadline is 30 s).
describe('rollback', { concurrency: true }, () => {
  for (const [variant, reason, detail] of [
    ['exits', 'exited', /loa-agent: broken release: cannot start/],
    ['hangs', 'no-commit', /hanging at start/],
    ['no-connect', 'no-commit', /ECONNREFUSED 127\.0\.0\.1:9/],
  ] as const) {
    test(
      `a release that ${variant === 'exits' ? 'exits at start' : variant === 'hangs' ? 'hangs' : 'never connects'} is rolled back by the launcher, with the reason and its last lines`,
      { timeout: 240_000 },
      async () => {
        const r = await otaRig({ deviceId: `ota-${variant}` });
        try {
          await r.birth('1.0.0', 60_000);
          const sent = Date.now();
          const id = await r.update(packRelease('2.0.0', variant), { trialS: 30 });
          await r.event('update.installed', id, 90_000);
          const switched = Date.now();
          // The old version's end as it restarts into the new one (its only offline status
          // since the update was sent; it can reach the centre before `switched` is read): a
          // birth it published before that (its update still pending, even while stopping)
          // is not the birth of the version that came back.
          const ended = await r.offline(60_000, sent);
          const rb = await r.event('update.rolledback', id, 150_000);
          // + 1: a status of the same millisecond as the offline one is the old process's.
          const back = await r.birth('1.0.0', 30_000, ended + 1);
          const ms = Date.now() - switched;
          assert.equal(rb.reason, reason);
          assert.equal(rb.version, '2.0.0');
          assert.equal(rb.previous, '1.0.0');
          assert.match((rb.logTail as string[]).join('\n'), detail);
          assert.equal(back.update, null);
          assert.equal(current(r), 'releases/1.0.0');
          assert.deepEqual(releases(r), ['1.0.0'], 'the failed release is removed');
          assert.equal(
            r.events().some((e) => e.type === 'update.committed'),
            false,
          );
          process.stdout.write(`# OTA rollback (${variant}): installed -> old version's birth ${ms} ms\n`);
        } finally {
          await r.close();
        }
      },
    );
  }

  test(
    'a release that commits, then crashes 3 s after every start: on probation, rolled back after its 3rd abnormal exit (reason probation, its last lines); the old version runs',
    { timeout: 240_000 },
    async () => {
      const r = await otaRig({ deviceId: 'ota-crashes-later' });
      try {
        await r.birth('1.0.0', 60_000);
        const id = await r.update(packRelease('2.0.0', 'crashes-after-commit'), { trialS: 30 });
        await r.event('update.committed', id, 120_000);
        const committed = Date.now();
        const rb = await r.event('update.rolledback', id, 120_000);
        const back = await r.birth('1.0.0', 30_000, committed);
        const ms = Date.now() - committed;
        assert.equal(rb.reason, 'probation');
        assert.equal(rb.detail, '3 abnormal exits within its probation after commit');
        assert.deepEqual([rb.version, rb.previous], ['2.0.0', '1.0.0']);
        assert.match((rb.logTail as string[]).join('\n'), /crashing after its commit/);
        assert.equal(back.update, null);
        assert.equal(current(r), 'releases/1.0.0');
        assert.deepEqual(releases(r), ['1.0.0'], 'the failed release is removed');
        process.stdout.write(`# OTA probation: committed -> 3 crashes -> old version's birth ${ms} ms\n`);
      } finally {
        await r.close();
      }
    },
  );
});
