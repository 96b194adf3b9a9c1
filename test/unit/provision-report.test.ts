// The checklist's look (✓/✗ on a UTF-8 TTY, [ok]/[FAIL] elsewhere, a hint under each
// failure), its totals, the JSON report, and the spinner that only a TTY gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { makeUi, memoryIo } from '../../provisioning/io.js';
import {
  buildReport,
  fail,
  formatLine,
  pass,
  progress,
  result,
  skip,
  summaryLine,
  timed,
  warn,
} from '../../provisioning/report.js';
import { backupName } from '../../provisioning/files.js';
import { until } from '../helpers/wait.js';
import { say, type Text } from '../../provisioning/text.js';

/** What the report, the JSON and the tests read: the English of a Text. */
const en = (t: Text) => say('en', t);

const ok = result('DNS', pass('broker.example.vn → 10.0.0.1'), 12);
const bad = result('cabinet door', fail('OPEN', 'close the cabinet door'), 3);
const slow = result('test tone', pass('played'), 3100);

test('UTF-8 marks and ASCII marks; a failure always has its hint line; slow steps show their time', () => {
  assert.deepEqual(formatLine(ok, true), ['✓ DNS                    broker.example.vn → 10.0.0.1']);
  assert.deepEqual(formatLine(bad, true), ['✗ cabinet door           OPEN', '    → close the cabinet door']);
  assert.deepEqual(formatLine(bad, false), ['[FAIL] cabinet door           OPEN', '       -> close the cabinet door']);
  assert.equal(formatLine(slow, false)[0], '[ok]   test tone              played (3.1 s)');
  assert.equal(formatLine(result('x', warn('low', 'free space'), 1), false)[0]!.slice(0, 6), '[warn]');
  assert.equal(formatLine(result('x', skip('not played', 'run with --tone'), 1), true)[1], '    → run with --tone');
});

test('the terminal decides: ✓ only on a UTF-8 TTY, never with --ascii', () => {
  const stdin = new PassThrough();
  assert.equal(makeUi(memoryIo(stdin, { tty: true }), { env: { LANG: 'vi_VN.UTF-8' } }).unicode, true);
  assert.equal(makeUi(memoryIo(stdin, { tty: true }), { env: { LANG: 'C' } }).unicode, false);
  assert.equal(makeUi(memoryIo(stdin, { tty: true }), { env: { LANG: 'C.UTF-8' }, ascii: true }).unicode, false);
  assert.equal(makeUi(memoryIo(stdin, { tty: false }), { env: { LANG: 'C.UTF-8' } }).unicode, false);
});

test('totals name the slowest step; a warning or skip still passes', () => {
  assert.equal(summaryLine([ok, bad, slow], 3500), '2 passed, 1 failed in 3.5 s (longest: test tone, 3.1 s)');
  const r = buildReport('vn-1', [ok, slow, result('tone', skip('no'), 0)], {
    ts: new Date('2026-11-26T06:30:00Z'),
    totalMs: 3200,
    agentVersion: '0.1.0',
  });
  assert.equal(r.passed, true);
  assert.equal(r.ts, '2026-11-26T06:30:00.000Z');
  assert.deepEqual(r.checks[0], {
    name: 'DNS',
    ok: true,
    status: 'ok',
    detail: 'broker.example.vn → 10.0.0.1',
    hint: null,
    ms: 12,
  });
  assert.equal(buildReport('vn-1', [ok, bad], { ts: new Date(), totalMs: 1, agentVersion: '0' }).passed, false);
});

test('an exception inside a check is a failed line, not a crashed checklist', async () => {
  const r = await timed('boom', async () => {
    throw new Error('kaput');
  });
  assert.equal(r.ok, false);
  assert.match(en(r.detail), /unexpected error: kaput/);
});

test('the spinner draws only on a TTY, and erases itself', async () => {
  const stdin = new PassThrough();
  const pipe = memoryIo(stdin, { tty: false });
  progress(makeUi(pipe), 'connecting', 10).stop();
  assert.equal(pipe.out(), '');
  const tty = memoryIo(stdin, { tty: true });
  const p = progress(makeUi(tty, { env: { LANG: 'C.UTF-8' } }), 'connecting', 10);
  await until(() => /\r⠋ connecting 0 s/.test(tty.out()), 5000, 'the spinner to draw');
  p.stop();
  assert.match(tty.out(), /\r⠋ connecting 0 s/);
  assert.ok(tty.out().endsWith('\r\x1b[K'));
});

test('backups are named agent.json.bak-YYYYMMDDTHHMMSS in local time', () => {
  assert.equal(
    backupName('/etc/loa/agent.json', new Date(2026, 10, 26, 6, 5, 9)),
    '/etc/loa/agent.json.bak-20261126T060509',
  );
});
