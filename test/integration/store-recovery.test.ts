// A dying SD card (issue [1/8], contract v1.1 §2.1 and §7 `store.reset`), with real agent
// processes, real SQLite files and Mosquitto: the database is corrupted (its header, or
// the pages after it) or deleted between two runs. The box must start, say so once
// (`store.reset`), keep its plan (restored from the replay state beside the database),
// play it, and still refuse an older document and an executed command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openSync, writeSync, closeSync, statSync, unlinkSync, readdirSync } from 'node:fs';
import { DEFAULT_ROOT, topicsFor, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { makeKey, sign, scheduleDoc } from '../helpers/signer.js';
import { spawnAgent, writeConfig } from '../helpers/agent-process.js';
import { boxConfig, commandDoc, publishOnce } from '../helpers/box.js';
import { brokerForFile } from '../helpers/file-broker.js';

const key = makeKey('centre-2026');
const files = brokerForFile();

const publish = (topic: string, payload: string) => publishOnce(files.broker.url, topic, payload);

/** Overwrite bytes of the file at `offset`. */
function scribble(path: string, offset: number, length: number): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(length, 0xa5), 0, length, offset);
  closeSync(fd);
}

const damage: Record<string, (db: string) => void> = {
  // The first 100 bytes: the SQLite header ("SQLite format 3\0", page size, ...).
  header: (db) => scribble(db, 0, 100),
  // Every page after the first: the header stays valid, the tables do not.
  pages: (db) => {
    const pages = statSync(db).size / 4096;
    assert.ok(pages >= 2, `a database of ${pages} pages`);
    for (let p = 1; p < pages; p++) scribble(db, p * 4096, 64);
  },
  deleted: (db) => {
    for (const s of ['', '-wal', '-shm']) {
      try {
        unlinkSync(db + s);
      } catch {
        // -wal and -shm are gone after a clean stop
      }
    }
  },
};

for (const [mode, hurt] of Object.entries(damage)) {
  test(
    `database ${mode === 'deleted' ? 'deleted' : `corrupted (${mode})`}: the box starts, reports store.reset, plays its plan, and still refuses replays`,
    { timeout: 90_000 },
    async (t) => {
      const deviceId = `sd-box-${mode}`;
      const topics = topicsFor(DEFAULT_ROOT, deviceId, []);
      const dir = tempDir(`sd-${mode}`);
      const stateDir = join(dir, 'state');
      const cfg = writeConfig(dir, boxConfig(files.broker, key, deviceId, dir));
      const w = await Watcher.connect(files.broker.url, [topics.events, topics.status, topics.cmdResult]);
      const hour = 3_600_000;
      const playAt = new Date(Math.ceil((Date.now() + 15_000) / 1000) * 1000).toISOString();
      const old = await sign(
        scheduleDoc({
          id: 'day',
          version: 1,
          issuedAt: new Date(Date.now() - 2 * hour).toISOString(),
          target: { devices: [deviceId] },
          items: [],
        }),
        key,
      );
      const otherOld = await sign(
        scheduleDoc({
          id: 'routine',
          version: 9,
          issuedAt: new Date(Date.now() - 3 * hour).toISOString(),
          target: { devices: [deviceId] },
          items: [],
        }),
        key,
      );
      const current = await sign(
        scheduleDoc({
          id: 'day',
          version: 2,
          issuedAt: new Date(Date.now() - hour).toISOString(),
          target: { devices: [deviceId] },
          items: [{ id: 'warning', source: { kind: 'line' }, at: playAt, durationS: 1, priority: 100 }],
        }),
        key,
      );
      const vol = commandDoc(deviceId, 'volume', { level: 40 }, 3_600_000);
      const volJws = await sign(vol, key, { typ: 'loa-command+json' });

      const first = spawnAgent(['--config', cfg]);
      try {
        await w.waitFor((m) => m.topic.endsWith('/status') && m.json().online === true, 30_000, 'first birth');
        await publish(topics.deviceSchedule, old);
        await w.waitFor((m) => m.json().type === 'schedule.accepted' && m.json().version === 1, 10_000, 'v1 accepted');
        await publish(topics.deviceSchedule, current);
        await w.waitFor((m) => m.json().type === 'schedule.accepted' && m.json().version === 2, 10_000, 'v2 accepted');
        await publish(topics.deviceCmd, volJws);
        await w.waitFor(
          (m) => m.topic.endsWith('/cmd/result') && m.json().cmdId === vol.id && m.json().ok === true,
          10_000,
          'volume done',
        );
      } finally {
        assert.equal(await first.term(), 0);
      }
      hurt(join(stateDir, 'loa.db'));
      w.messages.length = 0;

      const t0 = Date.now();
      const second = spawnAgent(['--config', cfg]);
      try {
        const birth = await w.waitFor(
          (m) => m.topic.endsWith('/status') && m.json().online === true,
          30_000,
          'birth after the damage',
        );
        t.diagnostic(`${mode}: process start to birth with the plan restored ${Date.now() - t0} ms`);
        assert.deepEqual(birth.json().schedule, [{ id: 'day', version: 2 }], 'the plan in force survived');
        const reset = (await w.waitFor((m) => m.json().type === 'store.reset', 10_000, 'store.reset')).json();
        assert.equal(reset.reason, mode === 'deleted' ? 'missing' : 'corrupt');
        if (mode !== 'deleted') {
          assert.match(String(reset.movedTo), /loa\.db\.corrupt-/);
          assert.ok(
            readdirSync(stateDir).some((f) => f.startsWith('loa.db.corrupt-')),
            'the damaged file is kept for inspection',
          );
        }
        // Replays: an older version, an older document with another id, the executed command.
        await publish(topics.deviceSchedule, old);
        const r1 = await w.waitFor(
          (m) => m.json().type === 'schedule.rejected' && m.json().version === 1,
          10_000,
          'v1 refused',
        );
        assert.equal(r1.json().reason, 'replay');
        await publish(topics.deviceSchedule, otherOld);
        const r2 = await w.waitFor(
          (m) => m.json().type === 'schedule.rejected' && m.json().docId === 'routine',
          10_000,
          'older routine refused',
        );
        assert.equal(r2.json().reason, 'replay');
        await publish(topics.deviceCmd, volJws);
        const again = await w.waitFor(
          (m) => m.topic.endsWith('/cmd/result') && m.json().cmdId === vol.id,
          10_000,
          'the replayed command answered',
        );
        assert.equal(again.json().ok, false);
        assert.equal((again.json() as { error: { code: string } }).error.code, 'duplicate');
        // And the plan plays.
        const played = await w.waitFor(
          (m) => m.json().type === 'play.finished' && m.json().itemId === 'warning',
          40_000,
          'the warning played',
        );
        assert.equal(played.json().docId, 'day');
      } finally {
        assert.equal(await second.term(), 0);
        await w.close();
      }
    },
  );
}
