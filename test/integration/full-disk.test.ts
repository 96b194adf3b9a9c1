// A full SD card (issue [1/8]): the agent's state directory on a small tmpfs mounted by
// the test (as root), filled to the last byte. A signed emergency still plays and is
// answered; the events it produced wait in memory and reach the centre, in order, once
// space returns; and an agent (re)started on the full disk starts instead of exiting 70.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkdirSync, unlinkSync } from 'node:fs';
import { DEFAULT_ROOT, topicsFor, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { makeKey, sign } from '../helpers/signer.js';
import { spawnAgent, writeConfig } from '../helpers/agent-process.js';
import { boxConfig, commandDoc, publishOnce } from '../helpers/box.js';
import { brokerForFile } from '../helpers/file-broker.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'mounts a tmpfs: run as root (CI does)';
if (skip && process.env.CI === 'true') throw new Error(skip);

const key = makeKey('centre-2026');
const files = brokerForFile();

const publish = (topic: string, payload: string) => publishOnce(files.broker.url, topic, payload);

/** Fill the file system at `dir` to the last block. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  spawnSync('dd', ['if=/dev/zero', `of=${path}`, 'bs=64k'], { stdio: 'ignore' });
  spawnSync('dd', ['if=/dev/zero', `of=${path}.tail`, 'bs=512'], { stdio: 'ignore' });
  const df = spawnSync('df', ['--output=avail', '-B1', dir], { encoding: 'utf8' }).stdout.trim().split('\n').at(-1);
  assert.equal(Number(df), 0, `the tmpfs is full (${df} bytes free)`);
  return path;
}

const emergency = (deviceId: string) =>
  commandDoc(deviceId, 'play', { source: { kind: 'line' }, durationS: 2, priority: 100 });

test(
  'a full state file system: a signed emergency plays and is answered, its events arrive after space returns, and a restart on the full disk still starts',
  { skip, timeout: 120_000 },
  async (t) => {
    const deviceId = 'full-box-01';
    const topics = topicsFor(DEFAULT_ROOT, deviceId, []);
    const dir = tempDir('full');
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', stateDir], {
      encoding: 'utf8',
    });
    assert.equal(mount.status, 0, mount.stderr);
    t.after(() => {
      spawnSync('umount', ['-l', stateDir]);
    });
    const cfg = writeConfig(dir, boxConfig(files.broker, key, deviceId, dir));
    const w = await Watcher.connect(files.broker.url, [
      topics.events,
      topics.status,
      topics.cmdResult,
      topics.heartbeat,
    ]);
    const agent = spawnAgent(['--config', cfg]);
    let filler = '';
    try {
      await w.waitFor((m) => m.topic.endsWith('/status') && m.json().online === true, 30_000, 'birth');
      filler = fill(stateDir);
      const cmd = emergency(deviceId);
      await publish(topics.deviceCmd, await sign(cmd, key, { typ: 'loa-command+json' }));
      const res = await w.waitFor(
        (m) => m.topic.endsWith('/cmd/result') && m.json().cmdId === cmd.id,
        15_000,
        'the emergency result on a full disk',
      );
      assert.equal(res.json().ok, true, JSON.stringify(res.json()));
      await w.waitFor(
        (m) =>
          m.topic.endsWith('/heartbeat') && (m.json() as { playing?: { itemId?: string } }).playing?.itemId === cmd.id,
        10_000,
        'the heartbeat shows the emergency playing',
      );
      await agent.waitForLog(/STORE_WRITE|disk refuses writes/, 15_000);
      const seenDuringFull = w.messages.filter((m) => m.topic.endsWith('/events') && m.json().cmdId === cmd.id).length;
      t.diagnostic(`events of the emergency delivered while the disk was full: ${seenDuringFull}`);
      // Space returns: the held events reach the disk, then the centre, in order.
      unlinkSync(filler);
      unlinkSync(`${filler}.tail`);
      const finished = await w.waitFor(
        (m) => m.json().type === 'play.finished' && m.json().cmdId === cmd.id,
        30_000,
        'play.finished after space returned',
      );
      const startedEv = w.messages.find((m) => m.json().type === 'play.started' && m.json().cmdId === cmd.id);
      assert.ok(startedEv, 'play.started delivered too');
      assert.ok(Number(startedEv.json().seq) < Number(finished.json().seq), 'in order');
    } finally {
      assert.equal(await agent.term(), 0);
    }
    // A restart on a full disk: the agent starts (database in memory if need be) and plays.
    filler = fill(stateDir);
    w.messages.length = 0;
    const again = spawnAgent(['--config', cfg]);
    try {
      await w.waitFor((m) => m.topic.endsWith('/status') && m.json().online === true, 30_000, 'birth on a full disk');
      const cmd = emergency(deviceId);
      await publish(topics.deviceCmd, await sign(cmd, key, { typ: 'loa-command+json' }));
      const res = await w.waitFor(
        (m) => m.topic.endsWith('/cmd/result') && m.json().cmdId === cmd.id,
        15_000,
        'result after a restart on a full disk',
      );
      assert.equal(res.json().ok, true, JSON.stringify(res.json()));
      assert.equal(again.proc.exitCode, null, 'still running');
    } finally {
      assert.equal(await again.term(), 0);
      await w.close();
    }
  },
);
