// kill -9 of the agent at random points of an over-the-air update (issue [5/8]): during
// the download, the unpack, the check, the switch, the first start of the new version and
// its trial. Whatever the point, the box comes up on a version that works, the update
// ends in exactly one of committed / rolled back / failed, and no event is lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeReleaseTree, packRelease } from '../helpers/releases.js';
import { otaRig } from '../helpers/ota-rig.js';

const ROUNDS = 20;
/** Command accepted -> committed takes ~4-6 s here (commitAfterS 2): kills land across all of it. */
const KILL_WINDOW_MS = 6000;
const TERMINAL = ['update.committed', 'update.rolledback', 'update.failed'];

test(
  `kill -9 at ${ROUNDS} random points of an update: the box always comes back on a working version, every update ends once, no event is lost`,
  { timeout: 900_000 },
  async () => {
    const r = await otaRig({ deviceId: 'ota-kill' });
    const outcomes: string[] = [];
    try {
      let running = '1.0.0';
      await r.birth(running, 60_000);
      for (let i = 1; i <= ROUNDS; i++) {
        const target = `1.${i}.0`;
        const a = packRelease(target);
        const id = await r.update(a, { trialS: 30 });
        const res = await r.result(id, 60_000);
        assert.equal(res.ok, true, JSON.stringify(res));
        // OTA_KILL_AT_MS fixes the point, to reproduce one (a CI run once hung at 875 ms: after "release unpacked and checked").
        const delay = process.env.OTA_KILL_AT_MS
          ? Number(process.env.OTA_KILL_AT_MS)
          : Math.floor(Math.random() * KILL_WINDOW_MS);
        await new Promise((ok) => setTimeout(ok, delay));
        const pid = r.box.pid();
        const killedAt = Date.now();
        if (pid) process.kill(pid, 'SIGKILL');
        const end = await r.watcher
          .waitFor(
            (m) => m.topic.endsWith('/events') && TERMINAL.includes(m.json().type as string) && m.json().cmdId === id,
            150_000,
            `the end of update ${id} to ${target} (killed ${delay} ms after it was accepted)`,
          )
          .catch((err: Error) => {
            // What the box said after the kill, not before it: the output as the wait gave up.
            throw new Error(`${err.message}\n${r.box.output().slice(-4000)}`);
          });
        const type = end.json().type as string;
        const expected = type === 'update.committed' ? target : running;
        // The box settles on that version with nothing pending, and runs it from `current`.
        await r.watcher.waitFor(
          (m) =>
            m.topic.endsWith('/status') &&
            m.at >= Math.max(killedAt, end.at - 5000) &&
            m.json().agentVersion === expected &&
            m.json().update === null,
          90_000,
          `a settled birth of ${expected} after ${type}`,
        );
        assert.equal(readlinkSync(join(r.root, 'current')), `releases/${expected}`);
        assert.ok(existsSync(join(r.root, 'releases', expected, 'dist/agent/main.js')));
        outcomes.push(
          `${delay}ms:${type.slice(7)}${type === 'update.rolledback' ? `(${end.json().reason as string})` : ''}`,
        );
        running = expected;
      }
      // No event lost: the seqs of the one epoch are contiguous (a resend after a kill may repeat one).
      const events = r.events();
      const bySeq = new Map(events.map((e) => [e.seq as number, e]));
      const seqs = [...bySeq.keys()].sort((x, y) => x - y);
      assert.equal(new Set(events.map((e) => e.epoch)).size, 1);
      assert.equal(seqs.length, seqs[seqs.length - 1]! - seqs[0]! + 1, `no gap in the event seqs ${seqs.join(',')}`);
      // Every update ended exactly once, and each of its events was emitted at most once.
      const counts = new Map<string, number>();
      for (const e of bySeq.values())
        if (String(e.type).startsWith('update.'))
          counts.set(
            `${e.cmdId as string} ${e.type as string}`,
            (counts.get(`${e.cmdId as string} ${e.type as string}`) ?? 0) + 1,
          );
      for (const [k, n] of counts) assert.equal(n, 1, `${k} emitted ${n} times`);
      const ids = new Set([...bySeq.values()].filter((e) => e.type === 'update.started').map((e) => e.cmdId));
      assert.equal(ids.size, ROUNDS);
      for (const id of ids)
        assert.equal(
          [...bySeq.values()].filter((e) => e.cmdId === id && TERMINAL.includes(e.type as string)).length,
          1,
          `update ${id as string} ended once`,
        );
      process.stdout.write(`# OTA kill -9 rounds: ${outcomes.join(' ')}\n`);
    } finally {
      await r.close();
    }
  },
);

// The CI hang (round 7, killed 875 ms after the accept, as it logged "release unpacked and
// checked"): a kill once the job is in `wait` (job.json written; the trial file maybe
// too, `current` not yet switched). The next start resumes the job, which finds a quiet
// window at once and switches while the agent is still starting; its restart used to be
// dropped (main.ts had no lifecycle yet), so the old version ran on with `current`
// switched and the update never ended. Each state is what the kill leaves, written by hand.
test(
  'kill -9 once the release is unpacked and the job waits (with and without the trial written): the next start switches, restarts into the new version, and it commits',
  { timeout: 300_000 },
  async () => {
    const r = await otaRig({ deviceId: 'ota-kill-wait' });
    try {
      let running = '1.0.0';
      await r.birth(running, 60_000);
      for (const [i, withTrial] of [
        [1, false],
        [2, true],
      ] as const) {
        const target = `1.${i}.0`;
        const id = randomUUID();
        makeReleaseTree(join(r.root, 'releases', target), target, 'good', false);
        const args = {
          version: target,
          url: 'http://127.0.0.1:9/unused',
          sha256: '0'.repeat(64),
          bytes: 1,
          waitS: 600,
          trialS: 30,
        };
        const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
        const job = { cmdId: id, args, expiresAt, previous: running, state: 'wait', waitUntil: Date.now() + 600_000 };
        writeFileSync(join(r.ota, 'job.json'), JSON.stringify(job));
        if (withTrial)
          writeFileSync(
            join(r.ota, 'trial'),
            `id=${id}\nversion=${target}\nprevious=${running}\ndeadlineS=30\nat=${new Date().toISOString()}\n`,
          );
        const pid = r.box.pid();
        assert.ok(pid, 'the box runs');
        process.kill(pid, 'SIGKILL');
        await r.event('update.installed', id, 60_000);
        const end = await r.watcher
          .waitFor(
            (m) => m.topic.endsWith('/events') && TERMINAL.includes(m.json().type as string) && m.json().cmdId === id,
            60_000,
            `the end of update ${id} to ${target} (resumed in wait${withTrial ? ', trial written' : ''})`,
          )
          .catch((err: Error) => {
            throw new Error(`${err.message}\n${r.box.output().slice(-4000)}`);
          });
        assert.equal(end.json().type, 'update.committed');
        await r.watcher.waitFor(
          (m) => m.topic.endsWith('/status') && m.json().agentVersion === target && m.json().update === null,
          60_000,
          `a settled birth of ${target}`,
        );
        assert.equal(readlinkSync(join(r.root, 'current')), `releases/${target}`);
        running = target;
      }
    } finally {
      await r.close();
    }
  },
);
