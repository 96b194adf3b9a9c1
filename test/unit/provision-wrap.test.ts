// Output that fits a phone over SSH (issue 30 item 3): at 50 columns no line of the
// checklist is wider than the screen and no word is cut; a pipe and JSON are never
// wrapped; the spinner stays on one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { makeUi, memoryIo } from '../../provisioning/io.js';
import { fail, formatLine, pass, printResult, progress, result, warn } from '../../provisioning/report.js';
import { say, type Text } from '../../provisioning/text.js';
import { trustOutcome } from '../../provisioning/trust.js';
import { displayWidth, wrapLine } from '../../provisioning/wrap.js';
import { until } from '../helpers/wait.js';

const T = { timeout: 10_000 };
const words = (lines: readonly string[]) => lines.join(' ').split(/\s+/).filter(Boolean);

/** A report like a real failing run: long details, long hints, a path, Vietnamese text (the trusted keys': both languages). */
const REPORT = [
  result('config valid', pass('/etc/loa/agent.json: device vn-79-26734-01, board mcu'), 12),
  result('trusted keys', trustOutcome([]), 0),
  result(
    'broker reachable',
    fail(
      "TLS: the broker refused this box's client certificate (certificate unknown) at broker.example.vn:8883",
      'the broker requires mutual TLS: have device.csr signed by the centre, then loa-provision init --cert signed.crt',
    ),
    2300,
  ),
  result('disk space', warn('state 420 MB free, cache 420 MB free', 'clean /var/cache/loa or use a bigger card'), 3),
  result('site', pass('Xã Bình Chánh, huyện Bình Chánh, thành phố Hồ Chí Minh'), 1),
];

test(
  'wrapLine: at spaces, with a hanging indent; aligned columns kept; a word longer than the room on its own line',
  T,
  () => {
    assert.deepEqual(wrapLine('short line', 50), ['short line']);
    assert.deepEqual(wrapLine('aaa bbb ccc ddd', 8), ['aaa bbb', '  ccc', '  ddd']);
    assert.deepEqual(wrapLine('  key   value one two', 16, 8), ['  key   value', '        one two']);
    // The hanging indent is at most half the width.
    assert.deepEqual(wrapLine('  key   value one two', 14, 8), ['  key   value', '       one two']);
    assert.deepEqual(wrapLine('x /a/very/long/path/that/cannot/fit y', 10), [
      'x',
      '  /a/very/long/path/that/cannot/fit',
      '  y',
    ]);
    assert.deepEqual(wrapLine('no width given, never wrapped', undefined), ['no width given, never wrapped']);
    // A decomposed "ữ" (u + horn + tilde) takes one column.
    assert.equal(displayWidth('Thu\u031b\u0303'), 3);
  },
);

test(
  'a check report at 50 columns: no line over 50, no word split, every word kept, hints under their check',
  T,
  () => {
    for (const unicode of [true, false]) {
      const all: string[] = [];
      for (const r of REPORT) {
        const lines = formatLine(r, unicode, 50);
        for (const l of lines) assert.ok(displayWidth(l) <= 50, `${displayWidth(l)} columns: "${l}"`);
        assert.deepEqual(words(lines), words(formatLine(r, unicode)), `${r.name}: the same words, none cut`);
        all.push(...lines);
      }
      const trusted = all.findIndex((l) => l.includes('trusted keys'));
      assert.match(all[trusted]!, unicode ? /^✗ trusted keys +none:/ : /^\[FAIL\] trusted keys +none:/);
      assert.ok(
        all.slice(trusted + 1).some((l) => /^ {4,7}(→|->) add the centre's key/.test(l)),
        all.join('\n'),
      );
    }
  },
);

test(
  'the same report in Vietnamese at 50 columns: by characters, not bytes, composed or decomposed; the names aligned',
  T,
  () => {
    for (const form of ['NFC', 'NFD'] as const) {
      // The texts as the terminal gets them, composed (NFC) or decomposed (NFD: a base letter and its marks).
      const vi = (t: Text) => say('vi', t).normalize(form);
      const details: number[] = [];
      for (const r of REPORT) {
        const shown = { ...r, detail: vi(r.detail), ...(r.hint ? { hint: vi(r.hint) } : {}) };
        const lines = formatLine(shown, true, 50, 'vi');
        for (const l of lines) assert.ok(displayWidth(l) <= 50, `${form} ${displayWidth(l)} columns: "${l}"`);
        assert.deepEqual(words(lines), words(formatLine(shown, true, undefined, 'vi')), `${r.name}: no word cut`);
        // The detail starts in the same column whatever the name's length in Vietnamese.
        details.push(displayWidth(lines[0]!.slice(0, lines[0]!.indexOf(shown.detail.split(' ')[0]!))));
      }
      assert.equal(new Set(details).size, 1, `every detail in one column: ${details.join(', ')}`);
      const trusted = REPORT.find((r) => r.name === 'trusted keys')!;
      const lines = formatLine(trusted, true, 50, 'vi');
      assert.match(lines[0]!, /^✗ khoá tin cậy {11}không có: mọi lịch phát$/);
      assert.ok(
        lines.some((l) => /^ {4}→ thêm khoá của trung tâm: sudo loa-provision$/.test(l)),
        lines.join('\n'),
      );
    }
    // Multi-byte UTF-8 is not wider: 50 Vietnamese letters are 50 columns (and more than 50 bytes).
    const row = 'ữ'.repeat(25) + ' ' + 'ệ'.repeat(24);
    assert.ok(Buffer.byteLength(row) > 100);
    assert.deepEqual(wrapLine(row, 50), [row]);
    assert.deepEqual(wrapLine(row.normalize('NFD'), 50), [row.normalize('NFD')]);
  },
);

test('through the terminal: wrapped to its columns on a TTY; a pipe and JSON never', T, () => {
  const tty = memoryIo(new PassThrough(), { tty: true, columns: 50 });
  const ui = makeUi(tty, { env: { LANG: 'C.UTF-8' } });
  assert.equal(ui.width, 50);
  for (const r of REPORT) printResult(ui, r);
  ui.out('  trusted keys  none: every schedule and every command REFUSED by this box', { indent: 16 });
  const json = JSON.stringify({ detail: 'x '.repeat(60) });
  ui.out(json, { wrap: false });
  const lines = tty
    .out()
    .split('\n')
    .filter((l) => l !== json && l !== '');
  for (const l of lines) assert.ok(displayWidth(l) <= 50, `${displayWidth(l)} columns: "${l}"`);
  assert.ok(tty.out().includes(json), 'JSON as it is');
  assert.ok(lines.includes('                command REFUSED by this box'), lines.join('\n'));

  // A TTY that does not say its width: 80.
  assert.equal(makeUi(memoryIo(new PassThrough(), { tty: true })).width, 80);
  // A pipe: nothing wrapped.
  const pipe = memoryIo(new PassThrough(), { tty: false, columns: 50 });
  const p = makeUi(pipe);
  assert.equal(p.width, undefined);
  for (const r of REPORT) printResult(p, r);
  assert.ok(
    pipe
      .out()
      .split('\n')
      .some((l) => l.length > 80),
    'a pipe gets the long lines whole',
  );
});

test('the spinner label is cut to fit one line, so \\r can redraw it', T, async () => {
  const tty = memoryIo(new PassThrough(), { tty: true, columns: 40 });
  const s = progress(
    makeUi(tty, { env: { LANG: 'C.UTF-8' } }),
    "waiting for the agent's birth on loa/v1/d/vn-79-26734-01/status",
    10,
  );
  await until(() => tty.out().includes('…'), 5000, 'the spinner to draw');
  s.stop();
  const frame = tty
    .out()
    .split('\r')
    .find((f) => f.includes('…'))!;
  assert.ok(displayWidth(frame.replace('\x1b[K', '')) <= 40, frame);
});
