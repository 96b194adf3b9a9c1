// `loa-provision logs` (issue 30 item 3): the agent's JSON lines made readable by a pure
// formatter, and the command driven through its journalctl seam (no systemd needed): the
// arguments it passes, -n and -f, --level, --raw, and what it says when the journal
// cannot be read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { main } from '../../provisioning/cli.js';
import { memoryIo } from '../../provisioning/io.js';
import type { Journal, JournalEnd } from '../../provisioning/journal.js';
import { formatLogLine, levelName, parseLogLine, shortTime } from '../../provisioning/log-format.js';
import { displayWidth } from '../../provisioning/wrap.js';

const T = { timeout: 10_000 };
// Times built from the run's clock, never a fixed date.
const at = new Date(Date.now() - 3_600_000);
const iso = at.toISOString();

const line = (o: Record<string, unknown>) => JSON.stringify({ level: 30, time: iso, name: 'loa', ...o });
const REJECTED = line({
  level: 40,
  code: 'SCHEDULE_REJECTED',
  topic: 'loa/v1/g/all/schedule',
  reason: 'unknown-key',
  docId: 'all-week',
  version: 3,
  message: 'kid "demo-centre" is not a trusted key',
  msg: 'schedule rejected',
});
const PLAYED = line({ itemId: 'news-0700', docId: 'all-week', durationMs: 1200, msg: 'play finished' });
const FAILED = line({
  level: 50,
  code: 'MEDIA_FETCH',
  err: { type: 'Error', message: 'connect ECONNREFUSED 10.0.0.5:443', stack: 'Error: …' },
  msg: 'media fetch failed',
});

test('a JSON line: time, level, message, then the fields that matter; anything else as it is', T, () => {
  const hhmmss = shortTime(at.getTime(), 'UTC');
  assert.match(hhmmss, /^\d\d-\d\d \d\d:\d\d:\d\d$/);
  assert.equal(hhmmss, `${iso.slice(5, 10)} ${iso.slice(11, 19)}`);
  assert.equal(
    formatLogLine(REJECTED, { timeZone: 'UTC' }),
    `${hhmmss} WARN  schedule rejected  code=SCHEDULE_REJECTED  reason=unknown-key  docId=all-week  version=3  topic=loa/v1/g/all/schedule  message="kid \\"demo-centre\\" is not a trusted key"`,
  );
  assert.equal(
    formatLogLine(PLAYED, { timeZone: 'UTC' }),
    `${hhmmss} INFO  play finished  itemId=news-0700  docId=all-week`,
  );
  assert.equal(
    formatLogLine(PLAYED, { timeZone: 'UTC', verbose: true }),
    `${hhmmss} INFO  play finished  itemId=news-0700  docId=all-week  durationMs=1200`,
  );
  assert.match(
    formatLogLine(FAILED, { timeZone: 'UTC' })!,
    /ERROR media fetch failed {2}code=MEDIA_FETCH {2}err="connect ECONNREFUSED 10\.0\.0\.5:443"$/,
  );
  // Ho Chi Minh City is UTC+7, all year.
  const vn = formatLogLine(PLAYED, { timeZone: 'Asia/Ho_Chi_Minh' })!;
  assert.equal(vn.slice(0, 14), shortTime(at.getTime() + 7 * 3_600_000, 'UTC'));
  // Not the agent's JSON: as it is.
  for (const raw of [
    'loa-launch: starting release 0.2.0',
    '    at Object.<anonymous> (main.js:1:1)',
    '{not json',
    '[1,2]',
  ])
    assert.equal(formatLogLine(raw), raw);
  assert.equal(parseLogLine('{"a":1}'), null, 'JSON without msg or level is not a log entry');
  // --level: below it, left out; a line that is not JSON never is.
  assert.equal(formatLogLine(PLAYED, { minLevel: 40 }), null);
  assert.notEqual(formatLogLine(REJECTED, { minLevel: 40 }), null);
  assert.equal(formatLogLine('plain', { minLevel: 60 }), 'plain');
  assert.equal(levelName(30), 'INFO');
  assert.equal(levelName(45), 'WARN');
  assert.equal(levelName(null), '?');
});

/** A journalctl that prints `lines`, remembers its arguments, and ends as told. */
function fakeJournal(lines: string[], end: Partial<JournalEnd> = {}) {
  const calls: string[][] = [];
  const journal: Journal = (args) => {
    calls.push(args);
    return {
      lines: (async function* () {
        yield* lines;
      })(),
      done: Promise.resolve({ code: 0, stderr: '', ...end }),
      stop() {},
    };
  };
  return { journal, calls };
}

async function logs(argv: string[], journal: Journal, o: { tty?: boolean; columns?: number } = {}) {
  const io = memoryIo(new PassThrough(), o);
  const code = await main(['logs', ...argv], io, { journal, timeZone: 'UTC' });
  return { code, out: io.out(), err: io.errOut() };
}

test('logs: journalctl -u loa-agent.service -o cat, -n and -f passed on, each line formatted', T, async () => {
  const j = fakeJournal(['-- Boot 3f2a --', PLAYED, 'loa-launch: starting 0.2.0', REJECTED]);
  const r = await logs(['-n', '20', '-f', '--since', '1 hour ago'], j.journal);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(j.calls[0], [
    '-u',
    'loa-agent.service',
    '-o',
    'cat',
    '--no-pager',
    '-n',
    '20',
    '--since',
    '1 hour ago',
    '-f',
  ]);
  const out = r.out.trimEnd().split('\n');
  assert.equal(out[0], '-- Boot 3f2a --');
  assert.match(out[1]!, /INFO {2}play finished {2}itemId=news-0700/);
  assert.equal(out[2], 'loa-launch: starting 0.2.0');
  assert.match(out[3]!, /WARN {2}schedule rejected {2}code=SCHEDULE_REJECTED {2}reason=unknown-key/);

  const d = fakeJournal([PLAYED]);
  await logs(['-n5'], d.journal);
  assert.deepEqual(d.calls[0], ['-u', 'loa-agent.service', '-o', 'cat', '--no-pager', '-n', '5']);
  const def = fakeJournal([PLAYED]);
  await logs([], def.journal);
  assert.deepEqual(def.calls[0]!.slice(-2), ['-n', '50'], 'the last 50 by default');
});

test('logs --level, --raw, and at 50 columns on a terminal: wrapped at words', T, async () => {
  const lines = [PLAYED, REJECTED, FAILED];
  const warnOnly = await logs(['--level', 'warn'], fakeJournal(lines).journal);
  assert.doesNotMatch(warnOnly.out, /play finished/);
  assert.match(warnOnly.out, /schedule rejected[\s\S]*media fetch failed/);
  const raw = await logs(['--raw'], fakeJournal(lines).journal, { tty: true, columns: 50 });
  assert.equal(raw.out, lines.join('\n') + '\n', 'as the agent wrote them, never wrapped');
  const narrow = await logs([], fakeJournal(lines).journal, { tty: true, columns: 50 });
  for (const l of narrow.out.trimEnd().split('\n')) assert.ok(displayWidth(l) <= 50, `"${l}"`);
  assert.match(narrow.out, /\n {6}\S/, 'continuation lines under a hanging indent');
  assert.equal((await logs(['--level', 'loud'], fakeJournal([]).journal)).code, 64);
  assert.equal((await logs(['-n', 'x'], fakeJournal([]).journal)).code, 64);
});

test('logs: no journalctl, a journalctl error, or no line of the agent: exit 1 and why', T, async () => {
  const enoent = Object.assign(new Error('spawn journalctl ENOENT'), { code: 'ENOENT' });
  const none = await logs([], fakeJournal([], { code: null, error: enoent }).journal);
  assert.equal(none.code, 1);
  assert.match(none.err, /journalctl not found/);
  const bad = await logs(
    ['--since', 'yesterdayish'],
    fakeJournal([], { code: 1, stderr: 'Failed to parse timestamp: yesterdayish\n' }).journal,
  );
  assert.equal(bad.code, 1);
  assert.match(bad.err, /journalctl exit 1: Failed to parse timestamp: yesterdayish/);
  const empty = await logs([], fakeJournal(['-- No entries --']).journal);
  assert.equal(empty.code, 1);
  assert.match(empty.out, /-- No entries --/);
  assert.match(empty.err, /no log line of loa-agent\.service in the journal/);
});

test('logs is in the command list and has its help', T, async () => {
  const io = memoryIo(new PassThrough());
  assert.equal(await main(['--help'], io), 0);
  assert.match(io.out(), /^ {2}logs {6}the agent's journal/m);
  const h = memoryIo(new PassThrough());
  assert.equal(await main(['logs', '--help'], h), 0);
  assert.match(h.out(), /journalctl -u loa-agent\.service -o cat/);
});
