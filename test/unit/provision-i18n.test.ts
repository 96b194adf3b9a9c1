// loa-provision in Vietnamese (issue 30 item 2): `--lang vi|en` on every subcommand
// (else LANG / LC_ALL, else English; a bad value is a usage error), the technician's
// lines from the one catalogue, and what programs read (the check report, show --json)
// in English whatever the language. Run in-process through main(), with no broker
// (its address refuses at once) and the journal through its seam.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describeSound, type SoundFiles } from '../../agent/adapters/sound-files.js';
import type { CheckReport } from '../../contract/index.js';
import { main, takeLang, type Deps } from '../../provisioning/cli.js';
import { soundText } from '../../provisioning/commissioning.js';
import { memoryIo } from '../../provisioning/io.js';
import type { Journal } from '../../provisioning/journal.js';
import { judgePresence } from '../../provisioning/register-judge.js';
import { checkName } from '../../provisioning/report.js';
import { msg, say } from '../../provisioning/text.js';
import { displayWidth } from '../../provisioning/wrap.js';
import { MESSAGES, type MessageKey } from '../../contract/messages.js';
import { tempDir } from '../helpers/tmp.js';

const T = { timeout: 30_000 };
const ENGLISH = { LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };

/** A journal the agent never wrote to: no line, exit 0. */
const emptyJournal: Journal = () => ({
  lines: (async function* () {})(),
  done: Promise.resolve({ code: 0, stderr: '' }),
  stop() {},
});

async function run(argv: string[], o: { deps?: Deps; input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const stdin = new PassThrough();
  stdin.end(o.input ?? '');
  const io = memoryIo(stdin);
  const code = await main(argv, io, { env: { ...process.env, ...ENGLISH, ...o.env }, ...o.deps });
  return { code, out: io.out(), err: io.errOut() };
}

/** A box configured by init --yes: sim board, a broker address that refuses at once, no trusted key. */
async function box(tag: string) {
  const dir = tempDir(`i18n-${tag}`);
  const config = join(dir, 'agent.json');
  const r = await run([
    'init',
    '--yes',
    '--config',
    config,
    '--device-id',
    `vn-79-26734-${tag}`,
    '--commune-name',
    'Xã Thử',
    '--commune-code',
    '26734',
    '--broker',
    'mqtt://127.0.0.1:1',
    '--board',
    'sim',
    '--state-dir',
    join(dir, 'state'),
    '--cache-dir',
    join(dir, 'cache'),
  ]);
  assert.equal(r.code, 0, r.out + r.err);
  return { dir, config };
}

test(
  '--lang anywhere on the line, before the LANG of the environment; a bad or missing value is exit 64',
  T,
  async () => {
    assert.deepEqual(takeLang(['check', '--lang', 'vi', '--tone']), { lang: 'vi', rest: ['check', '--tone'] });
    assert.deepEqual(takeLang(['--lang=en', 'show']), { lang: 'en', rest: ['show'] });
    assert.deepEqual(takeLang(['logs', '--', '--lang', 'vi']), {
      lang: undefined,
      rest: ['logs', '--', '--lang', 'vi'],
    });

    const vi = await run(['nope'], { env: { LANG: 'vi_VN.UTF-8', LC_ALL: '' } });
    assert.equal(vi.code, 64);
    assert.match(vi.err, /loa-provision: không có lệnh "nope" \(chọn một trong: init, check, register/);
    const en = await run(['nope', '--lang', 'en'], { env: { LANG: 'vi_VN.UTF-8', LC_ALL: '' } });
    assert.match(en.err, /loa-provision: unknown command "nope"/);
    assert.match((await run(['--lang', 'vi', '--help'])).out, /Mọi lệnh nhận --lang vi\|en/);

    const bad = await run(['check', '--lang', 'fr']);
    assert.equal(bad.code, 64);
    assert.match(bad.err, /--lang must be vi or en \(got "fr"\)/);
    const missing = await run(['show', '--lang']);
    assert.equal(missing.code, 64);
    assert.match(missing.err, /--lang needs a value: vi or en/);
    // Every subcommand's --help says it.
    for (const sub of ['init', 'check', 'register', 'show', 'logs', 'page-password'])
      assert.match((await run([sub, '--help'])).out, /--lang vi\|en/, sub);
  },
);

test(
  'check on a broken config, in Vietnamese: the ✗ line, its hint and the totals; the report stays English',
  T,
  async () => {
    const dir = tempDir('i18n-broken');
    const config = join(dir, 'agent.json');
    writeFileSync(config, JSON.stringify({ deviceId: 'Box 1' }), { mode: 0o640 });
    const json = join(dir, 'report.json');
    const r = await run(['check', '--config', config, '--json', json, '--lang', 'vi']);
    assert.equal(r.code, 78, r.out);
    assert.match(r.out, /^\[FAIL\] cấu hình hợp lệ +CONFIG_INVALID: \d+ lỗi$/m);
    assert.match(r.out, /deviceId: "Box 1" is not a valid device id/, "the agent's schema, in its words");
    assert.match(r.out, /^ +-> sửa các trường liệt kê ở trên, hoặc chạy lại loa-provision init$/m);
    assert.match(r.out, /^các bước kiểm tra khác cần một cấu hình hợp lệ$/m);
    assert.match(r.out, /^0 đạt, 1 lỗi trong [\d.]+ s \(lâu nhất: cấu hình hợp lệ, [\d.]+ s\)$/m);
    assert.match(r.out, new RegExp(`^báo cáo: ${json}$`, 'm'));
    const report = JSON.parse(readFileSync(json, 'utf8')) as CheckReport;
    assert.deepEqual(
      report.checks.map((c) => [c.name, c.hint]),
      [['config valid', 'fix the fields listed above, or run loa-provision init again']],
    );
    assert.match(report.checks[0]!.detail, /^CONFIG_INVALID: \d+ problems?$/);
  },
);

test('check in Vietnamese on a box with no trusted key: the hint keeps the command as it is', T, async () => {
  const b = await box('01');
  const run0 = tempDir('i18n-run');
  const r = await run(['check', '--config', b.config, '--lang', 'vi', '--timeout', '2'], {
    deps: { runRoot: run0, account: null, exec: async () => ({ code: 127, stdout: '' }) },
  });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /^\[FAIL\] khoá tin cậy +không có: mọi lịch phát và mọi lệnh sẽ bị từ chối$/m);
  assert.match(
    r.out,
    new RegExp(
      `-> thêm khoá của trung tâm: sudo loa-provision init --yes --config ${b.config} --trusted-key '<dòng "noc keys" in ra>', rồi sudo systemctl restart loa-agent`,
    ),
  );
  assert.match(r.out, /^\[FAIL\] kết nối broker +TCP: 127\.0\.0\.1:1 từ chối kết nối \(ECONNREFUSED\)$/m);
  assert.match(r.out, /-> không có gì nghe ở cổng 1 bên đó: kiểm tra cổng trong mqtt\.url \(1883 cho mqtt\)/);
  assert.match(r.out, /^\[skip\] chuông thử +chưa phát: cả xã sẽ nghe thấy$/m);
  assert.match(r.out, /^\d+ đạt, 2 lỗi, 1 cảnh báo, \d+ bỏ qua trong /m);
  const report = JSON.parse(readFileSync(join(b.dir, 'state/last-check.json'), 'utf8')) as CheckReport;
  const trust = report.checks.find((c) => c.name === 'trusted keys')!;
  assert.equal(trust.detail, 'none: every schedule and every command will be refused');
  assert.match(trust.hint!, /^add the centre's key: sudo loa-provision init --yes/);
  assert.equal(report.checks.find((c) => c.name === 'clock synchronised')!.status, 'warn');
});

test("show in Vietnamese: the rows and the live state's line; --json stays English", T, async () => {
  const b = await box('02');
  const deps = { journal: emptyJournal, timeZone: 'UTC' };
  const r = await run(['show', '--config', b.config, '--timeout', '2', '--lang', 'vi'], { deps });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /^ {2}vị trí {8}Xã Thử, mã 26734$/m);
  assert.match(r.out, /^ {2}khoá thiết bị EC P-256, sha256 [0-9a-f]{4} /m);
  assert.match(r.out, /^ {2}chứng chỉ {5}chưa có; .*device\.csr đang chờ trung tâm ký$/m);
  assert.match(r.out, /^ {2}bo mạch {7}sim \(không có phần cứng\)$/m);
  assert.match(r.out, /^ {2}khoá tin cậy {2}không có: MỌI lịch phát và lệnh ĐỀU BỊ TỪ CHỐI$/m);
  assert.match(r.out, /^ {2}lần phát cuối chưa có lần phát nào được đo$/m);
  assert.match(
    r.out,
    /^Trạng thái trực tiếp: KHÔNG RÕ: không kết nối được broker \(TCP: 127\.0\.0\.1:1 từ chối kết nối/m,
  );
  assert.match(r.out, /^Bị từ chối gần đây: không thấy$/m);
  assert.match(r.out, /\(không đọc được: nhật ký: không có dòng log nào của loa-agent\.service trong nhật ký/);

  const j = await run(['show', '--config', b.config, '--timeout', '2', '--json', '--lang', 'vi'], { deps });
  const parsed = JSON.parse(j.out) as {
    config: { tls: string; hardware: string };
    live: { error: { detail: string; hint: string }; said?: unknown };
    refusals: { journalProblem: string; outboxProblem: string };
  };
  assert.equal(parsed.config.hardware, 'sim (no hardware)');
  assert.equal(parsed.config.tls, 'none (plain mqtt://)');
  assert.match(parsed.live.error.detail, /^127\.0\.0\.1:1 refused the connection/);
  assert.equal(parsed.live.said, undefined);
  assert.match(parsed.refusals.journalProblem, /^no log line of loa-agent\.service in the journal/);
  assert.match(parsed.refusals.outboxProblem, /has not run with this stateDir/);
});

test(
  "init's questions in Vietnamese on a piped stdin: the question, its help, and the end of input said",
  T,
  async () => {
    const dir = tempDir('i18n-init');
    const r = await run(['init', '--config', join(dir, 'agent.json'), '--lang', 'vi'], {
      input: 'Xã Thử\n26734\n79\n',
    });
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /^loa-provision init: sẽ ghi .*agent\.json$/m);
    assert.match(r.out, /Enter giữ giá trị trong \[ngoặc vuông\]/);
    assert.match(r.out, /^ {2}như trung tâm gọi, ví dụ Xã Bình Chánh$/m);
    assert.match(r.out, /^Tên xã: Xã Thử$/m);
    assert.match(r.out, /^Mã xã: 26734$/m);
    assert.match(r.out, /^Mã tỉnh: 79$/m);
    assert.match(r.out, /^Mã thiết bị \[vn-79-26734-01\]: $/m, 'the suggested id, asked next');
    assert.match(r.err, /loa-provision init: đầu vào kết thúc trước khi trả lời hết câu hỏi: chưa ghi gì/);
  },
);

test("register's verdicts in Vietnamese keep the commands; English is the default", () => {
  const v = judgePresence({
    status: { online: true, ts: new Date(Date.now() - 60_000).toISOString(), bootId: 'b1', heartbeatS: 30 },
    heartbeat: null,
    configWrittenAt: Date.now(),
    now: Date.now(),
    any: false,
    deviceId: 'vn-1',
    configArg: ' --config /etc/x.json',
  });
  assert.ok(v.kind === 'act');
  assert.equal(
    say('vi', v.todo),
    'khởi động lại agent: sudo systemctl restart loa-agent, rồi chạy lại loa-provision register --config /etc/x.json',
  );
  assert.equal(
    say('en', v.todo),
    'sudo systemctl restart loa-agent, then loa-provision register --config /etc/x.json again',
  );
  assert.match(say('vi', v.problem), /trước khi cấu hình được ghi .*: nó đang chạy với cấu hình cũ$/);
});

test("show's commissioning rows: the English is the agent's own words (describeSound)", () => {
  const files = (baseline: ReturnType<SoundFiles['baseline']>, last: ReturnType<SoundFiles['last']>): SoundFiles => ({
    baseline: () => baseline,
    last: () => last,
    writeLast() {},
    writeBaseline() {},
  });
  const at = new Date().toISOString();
  const cases = [
    files(null, null),
    files({ ok: false, why: '/x/sound-baseline.json: not JSON' }, null),
    files(
      { ok: true, baseline: { at, gainDb: 12, levelDb: -6, lineOhms: 16, volumePct: 50, windows: 3, by: 'tuan' } },
      { at, itemId: 'news-0700', levelDb: -12, gainDb: 6, silentMs: 2400, percent: 50 },
    ),
    files(
      { ok: true, baseline: { at, gainDb: 12, levelDb: -6, lineOhms: null, volumePct: 50, windows: 3 } },
      { at, itemId: 'x', levelDb: null, gainDb: null, silentMs: 0, percent: null },
    ),
  ];
  for (const f of cases) assert.deepEqual(soundText(f, 'en'), describeSound(f));
  assert.match(soundText(cases[2]!, 'vi').last, /= 50 % mức chuẩn \(YẾU\), im lặng 2 s$/);
});

test('names and labels fit their columns in both languages', () => {
  for (const lang of ['vi', 'en'] as const) {
    for (const name of [
      'config valid',
      'trusted keys',
      'state directory',
      'amplifier fault input',
      'commissioning level',
    ])
      assert.ok(displayWidth(checkName(name, lang)) <= 22, `${lang}: ${checkName(name, lang)}`);
    for (const k of Object.keys(MESSAGES).filter((k) => k.startsWith('show.row.')))
      assert.ok(displayWidth(msg(k as MessageKey)(lang)) <= 13, `${lang}: ${k}`);
    for (const k of ['show.hb.playing', 'show.hb.faults', 'show.hb.outbox', 'show.hb.schedules'] as const)
      assert.ok(displayWidth(msg(k)(lang)) <= 9, `${lang}: ${k}`);
  }
  // Every check name the checklist shows has a translation.
  assert.notEqual(checkName('amplifier fault input', 'vi'), 'amplifier fault input');
});
