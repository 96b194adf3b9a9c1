// `show`'s last refusals (issue 30 item 3): read from the agent's journal lines and from
// the outbox of a real agent database (SQLite, WAL, the agent's own Outbox writing it
// while we read), merged without counting one refusal twice, at most five, oldest first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { systemClock } from '../../agent/adapters/clock.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { openDb } from '../../agent/adapters/sqlite-db.js';
import type { Journal } from '../../provisioning/journal.js';
import {
  lastRefusals,
  readOutbox,
  recentRefusals,
  refusalFromEvent,
  refusalFromLog,
  refusalRow,
  type Refusal,
} from '../../provisioning/refusals.js';
import { tempDir } from '../helpers/tmp.js';
import { say, type Text } from '../../provisioning/text.js';

/** What the report, the JSON and the tests read: the English of a Text. */
const en = (t: Text) => say('en', t);

const T = { timeout: 20_000 };
const now = Date.now();
const iso = (ms: number) => new Date(ms).toISOString();

const logLine = (ms: number, o: Record<string, unknown>) =>
  JSON.stringify({ level: 40, time: iso(ms), name: 'loa', ...o });
const scheduleRejected = (ms: number, message = 'kid "demo-centre" is not a trusted key') =>
  logLine(ms, {
    code: 'SCHEDULE_REJECTED',
    topic: 'loa/v1/g/all/schedule',
    reason: 'unknown-key',
    docId: 'all-week',
    version: 3,
    message,
    msg: 'schedule rejected',
  });

const journalOf =
  (lines: string[]): Journal =>
  () => ({
    lines: (async function* () {
      yield* lines;
    })(),
    done: Promise.resolve({ code: 0, stderr: '' }),
    stop() {},
  });

test('a refusal from a journal line and from an outbox event; other lines are not refusals', T, () => {
  const s = refusalFromLog(scheduleRejected(now - 60_000));
  assert.deepEqual(s, {
    at: now - 60_000,
    what: 'schedule',
    reason: 'unknown-key',
    message: 'kid "demo-centre" is not a trusted key',
    ref: 'all-week v3',
    source: 'journal',
  });
  const c = refusalFromLog(
    logLine(now, {
      code: 'COMMAND_REJECTED',
      topic: 'loa/v1/d/a/cmd',
      cmdId: 'c-42',
      reason: 'signature',
      message: 'bad signature',
      msg: 'command refused',
    }),
  );
  assert.equal(c?.what, 'command');
  assert.equal(c?.ref, 'command c-42');
  assert.equal(refusalFromLog(logLine(now, { code: 'MEDIA_FETCH', msg: 'x' })), null);
  assert.equal(refusalFromLog('not json'), null);
  const e = refusalFromEvent(
    'cmd.rejected',
    JSON.stringify({ seq: 4, ts: iso(now), type: 'cmd.rejected', topic: 't', reason: 'invalid', message: 'no id' }),
  );
  assert.deepEqual(e, { at: now, what: 'command', reason: 'invalid', message: 'no id', ref: 't', source: 'outbox' });
  assert.equal(refusalFromEvent('play.started', '{}'), null);
});

test('merged: the journal for the time it covers, outbox events from before it; the last 5, oldest first', T, () => {
  const r = (at: number, source: Refusal['source']): Refusal => ({
    at,
    what: 'schedule',
    reason: 'expired',
    message: `at ${at}`,
    ref: null,
    source,
  });
  const journal = [1, 2, 3, 4, 5, 6].map((i) => r(now - 1000 * (10 - i), 'journal'));
  const outbox = [r(now - 100_000, 'outbox'), r(now - 4000, 'outbox')]; // the second is also in the journal
  const last = lastRefusals(journal, outbox, now - 9000, 5);
  assert.equal(last.length, 5);
  assert.deepEqual(
    last.map((x) => x.at),
    journal.slice(1).map((x) => x.at),
  );
  const few = lastRefusals(journal.slice(0, 2), outbox, now - 9000, 5);
  assert.deepEqual(
    few.map((x) => x.source),
    ['outbox', 'journal', 'journal'],
    'the outbox event from before the journal is added, the one inside it is not',
  );
  assert.equal(lastRefusals([], outbox, null).length, 2, 'no journal: every outbox event');
  assert.match(
    refusalRow({ ...journal[0]!, ref: 'all-week v3' }, 'UTC'),
    /^\d\d-\d\d \d\d:\d\d:\d\d {2}schedule expired: at \d+ \(all-week v3\)$/,
  );
});

test(
  "the outbox of a running agent's database, read-only while the agent writes; and both sources together",
  T,
  async () => {
    const dir = tempDir('refusals');
    const path = join(dir, 'loa.db');
    const db = openDb(path);
    try {
      const outbox = new Outbox(db, { maxEvents: 1000, clock: systemClock });
      outbox.emit('schedule.rejected', {
        docId: 'all-week',
        version: 3,
        topic: 'loa/v1/g/all/schedule',
        reason: 'unknown-key',
        message: 'kid "demo-centre" is not a trusted key',
      });
      outbox.emit('schedule.accepted', { docId: 'x', version: 1, topic: 't' });
      outbox.emit('cmd.rejected', { topic: 'loa/v1/d/a/cmd', reason: 'invalid', message: 'no readable id' });
      const r = await readOutbox(path, 5);
      assert.equal(r.problem, undefined);
      assert.deepEqual(
        r.items.map((x) => [x.what, x.reason, x.ref]),
        [
          ['command', 'invalid', 'loa/v1/d/a/cmd'],
          ['schedule', 'unknown-key', 'all-week v3'],
        ],
      );
      // The agent goes on writing after we read.
      outbox.emit('cmd.rejected', { topic: 't', reason: 'invalid', message: 'again' });

      // No readable journal (a developer's machine): the outbox alone, and why.
      const noJournal: Journal = () => ({
        lines: (async function* () {})(),
        done: Promise.resolve({ code: null, stderr: '', error: Object.assign(new Error('x'), { code: 'ENOENT' }) }),
        stop() {},
      });
      const alone = await recentRefusals({ journal: noJournal, stateDir: dir });
      assert.equal(alone.items.length, 3);
      assert.match(en(alone.journalProblem!), /journalctl not found/);
      // A journal from the last minute: the outbox events inside it are not counted twice.
      const both = await recentRefusals({
        journal: journalOf([scheduleRejected(now - 60_000, 'older'), scheduleRejected(Date.now(), 'in the journal')]),
        stateDir: dir,
      });
      assert.deepEqual(
        both.items.map((x) => x.source),
        ['journal', 'journal'],
      );
    } finally {
      db.close();
    }
    const missing = await readOutbox(join(dir, 'nope', 'loa.db'), 5);
    assert.match(en(missing.problem!), /has not run with this stateDir/);
  },
);

const SETPRIV = spawnSync('sh', ['-c', 'command -v setpriv']).stdout.toString().trim();
const asRoot = process.getuid?.() === 0 && SETPRIV !== '';

test(
  'as root (sudo loa-provision show), reading leaves the database files to their owner: the agent still opens them',
  { ...T, skip: asRoot ? false : 'needs root and setpriv' },
  async () => {
    const dir = tempDir('refusals-owner');
    const agent = { uid: 4242, gid: 4242 };
    chownSync(dir, agent.uid, agent.gid);
    chmodSync(dir, 0o700);
    const path = join(dir, 'loa.db');
    // The agent (another user) writes one refusal in WAL mode and closes: no -wal, no -shm left.
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    const body = JSON.stringify({
      seq: 1,
      ts: iso(now),
      type: 'cmd.rejected',
      topic: 't',
      reason: 'invalid',
      message: 'm',
    });
    const script = `const D = require(${JSON.stringify(sqlite)}); const db = new D(${JSON.stringify(path)});
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE outbox (seq INTEGER PRIMARY KEY, ts TEXT, type TEXT, body TEXT)');
      db.prepare('INSERT INTO outbox (ts, type, body) VALUES (?, ?, ?)').run('x', 'cmd.rejected', ${JSON.stringify(body)});
      db.close();`;
    const r = spawnSync(
      SETPRIV,
      [`--reuid=${agent.uid}`, `--regid=${agent.gid}`, '--clear-groups', process.execPath, '-e', script],
      { timeout: 10_000, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const got = await readOutbox(path, 5);
    assert.equal(got.problem, undefined);
    assert.equal(got.items.length, 1);
    assert.ok(readdirSync(dir).includes('loa.db-shm'), 'the reader made the shared-memory file');
    for (const f of readdirSync(dir)) {
      const st = statSync(join(dir, f));
      assert.deepEqual([f, st.uid, st.gid], [f, agent.uid, agent.gid], `${f} stays the agent's`);
    }
  },
);
