// `noc cap` as an operator runs it, one message at a time: CAP 1.2 messages (Vietnamese
// and English) from a file or a URL, through the validator, the mapping, audio fetch +
// digest check or speech synthesis, to signed commands on a real Mosquitto, where a
// subscriber verifies them as a box verifies a signature and envelope; --cap-cert. Feeds
// and polling: noc-cap-feed.test.ts; the rig: noc-cap-rig.ts. The same chain to real
// agents that play: test/integration/cap-agents.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Watcher } from '../helpers/watcher.js';
import { capTime, capXml } from '../helpers/cap.js';
import { runNoc } from './noc-cli.js';
import { REPO_ROOT } from '../helpers/agent-process.js';
import { validateCommand } from '../../contract/command-doc.js';
import { DEFAULT_ROOT as ROOT } from '../../contract/index.js';
import {
  broker,
  dir,
  pem,
  base,
  routes,
  AUDIO,
  sha256,
  ttsSkip,
  vi,
  file,
  mapArgs,
  mediaArgs,
  wouldPublish,
  withAudio,
  verified,
} from './noc-cap-rig.js';

test('dry run: a Vietnamese alert with an audio resource becomes one emergency play per mapped group, media named by sha256', async () => {
  const r = await runNoc(['cap', file('bao.xml', withAudio()), ...mapArgs(), '--dry-run']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const pubs = wouldPublish(r.stdout);
  assert.deepEqual(
    pubs.map((p) => p.topic),
    [`${ROOT}/g/c26734/cmd`],
  );
  const doc = pubs[0]!.doc;
  assert.equal(doc.action, 'play');
  assert.equal(doc.args.priority, 100);
  assert.deepEqual(doc.args.media[0], {
    id: `cap-${sha256(AUDIO).slice(0, 24)}`,
    url: `${base}/audio/bao.mp3`,
    sha256: sha256(AUDIO),
    bytes: AUDIO.length,
  });
  assert.equal(doc.args.repeat.everyS, 1800);
  assert.ok(doc.args.repeat.until);
  assert.deepEqual(Object.keys(doc.capRef), ['identifier', 'sender', 'sent', 'msgType']);
  assert.match(r.stdout, /SHA-1 [0-9a-f]{40} matches the CAP digest/);
  assert.equal(validateCommand(doc).ok, true, 'the parts the box knows pass its own schema');
});

test('a bad digest, a wrong size: nothing is sent, the reason is printed, exit 1', async () => {
  const bad = await runNoc([
    'cap',
    file('bad-digest.xml', vi({ infos: [{ resources: [{ uri: `${base}/audio/bao.mp3`, digest: '0'.repeat(40) }] }] })),
    ...mapArgs(),
    '--dry-run',
  ]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /digest mismatch: CAP says SHA-1 0{40}, the 48000 bytes have [0-9a-f]{40}; not sent/);
  assert.deepEqual(wouldPublish(bad.stdout), []);
  const size = await runNoc([
    'cap',
    file('bad-size.xml', vi({ infos: [{ resources: [{ uri: `${base}/audio/bao.mp3`, size: 10 }] }] })),
    ...mapArgs(),
    '--dry-run',
  ]);
  assert.equal(size.code, 1);
  assert.match(size.stdout, /CAP size says 10 bytes, got 48000; not sent/);
});

test('an invalid document: every problem printed, nothing sent, exit 1', async () => {
  const xml = vi()
    .replace('<urgency>Immediate</urgency>', '<urgency>Now</urgency>')
    .replace(/<sent>[^<]*<\/sent>/, '<sent>2026-11-27T07:05:00Z</sent>');
  const r = await runNoc(['cap', file('invalid.xml', xml), ...mapArgs(), '--dry-run']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /invalid CAP 1\.2 message, nothing sent \(2 problems\)/);
  assert.match(r.stdout, /alert\.sent: "2026-11-27T07:05:00Z" is not a CAP dateTime/);
  assert.match(r.stdout, /alert\.info\[0\]\.urgency: "Now" is not one of/);
  assert.deepEqual(wouldPublish(r.stdout), []);
});

test('expired, Draft: printed reasons and nothing sent; Exercise and Test only to exercise groups', async () => {
  const exp = await runNoc([
    'cap',
    file('expired.xml', vi({ infos: [{ expires: capTime(Date.now() - 60_000) }] })),
    ...mapArgs(),
    '--dry-run',
  ]);
  assert.equal(exp.code, 0, exp.stdout);
  assert.match(exp.stdout, /not sent: expired at/);
  assert.deepEqual(wouldPublish(exp.stdout), []);
  const rooted = await runNoc(['cap', file('rooted.xml', withAudio()), ...mapArgs(), '--dry-run', '--root', 'vn/loa']);
  assert.deepEqual(
    wouldPublish(rooted.stdout).map((p) => p.topic),
    ['vn/loa/g/c26734/cmd'],
    '--root counts without --broker too',
  );
  const draft = await runNoc(['cap', file('draft.xml', vi({ status: 'Draft' })), ...mapArgs(), '--dry-run']);
  assert.match(draft.stdout, /ignored: status Draft/);
  assert.deepEqual(wouldPublish(draft.stdout), []);
  for (const status of ['Exercise', 'Test']) {
    const xml = withAudio({
      status,
      infos: [
        {
          resources: [{ uri: `${base}/audio/bao.mp3` }],
          areas: [{ desc: 'Quận 1 và Cần Giờ', circles: ['10.77,106.70 2'], geocodes: [['VN-ADM2', '761']] }],
        },
      ],
    });
    const r = await runNoc(['cap', file(`${status}.xml`, xml), ...mapArgs(), '--dry-run']);
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(
      wouldPublish(r.stdout).map((p) => p.topic),
      [`${ROOT}/g/lab/cmd`],
      r.stdout,
    );
    assert.match(r.stdout, /not group c26734 .*status \w+ goes only to groups with "exercise": true/);
  }
});

test(
  'an English text-only alert with a polygon and a geocode is synthesised, stored and served, fetched from a URL',
  { skip: ttsSkip },
  async () => {
    const square = '10.8,106.6 10.9,106.6 10.9,106.7 10.8,106.7 10.8,106.6';
    // Sent a minute ago on this run's clock: an alert with no expires is stale after 24 h.
    const sentMs = Date.now() - 60_000;
    const hanoi = new Date(sentMs + 7 * 3_600_000);
    const two = (n: number) => String(n).padStart(2, '0');
    const spokenTime = `${two(hanoi.getUTCHours())}:${two(hanoi.getUTCMinutes())} on ${hanoi.getUTCDate()} ${hanoi.toLocaleString('en-GB', { month: 'long', timeZone: 'UTC' })} ${hanoi.getUTCFullYear()}`;
    routes.set('/alerts/flood-en.xml', {
      type: 'application/cap+xml',
      body: capXml({
        identifier: 'VN-DDMFC-2026-77',
        sent: capTime(sentMs),
        infos: [
          {
            language: 'en-US',
            event: 'Flood',
            severity: 'Severe',
            urgency: 'Expected',
            headline: 'Flood warning',
            instruction: 'Move to higher ground.',
            areas: [{ desc: 'Riverside', polygons: [square], geocodes: [['VN-ADM3', '26737']] }],
          },
        ],
      }),
    });
    const r = await runNoc(['cap', `${base}/alerts/flood-en.xml`, ...mapArgs(), ...mediaArgs(), '--dry-run']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /synthesised \d+ ms of speech in \d+ ms \(real-time factor [\d.]+\), MP3 \d+ bytes: "Issued at ([\d:]+ on \d+ \w+ \d+)\. Flood warning/,
    );
    assert.equal(
      /Issued at ([\d:]+ on \d+ \w+ \d+)\./.exec(r.stdout)?.[1],
      spokenTime,
      'the speech says when the alert was sent, in Hanoi time',
    );
    const pubs = wouldPublish(r.stdout);
    assert.deepEqual(pubs.map((p) => p.topic).sort(), [`${ROOT}/g/c26734/cmd`, `${ROOT}/g/c26737/cmd`]);
    assert.equal(pubs[0]!.doc.args.priority, 75);
    const m = pubs[0]!.doc.args.media[0];
    const served = Buffer.from(await (await fetch(m.url)).arrayBuffer());
    assert.equal(sha256(served), m.sha256, 'what boxes fetch from --media-base-url has the sha256 the command names');
    assert.equal(served.length, m.bytes);
  },
);

test('Alert → Update → Cancel through Mosquitto: signed plays and cancels on the right group topics, each alert once', async () => {
  const w = await Watcher.connect(broker.url, [`${ROOT}/g/+/cmd`]);
  const state = join(dir, 'chain-state.json');
  const run = (name: string, xml: string) =>
    runNoc(['cap', file(name, xml), ...mapArgs(), '--key', pem, '--broker', broker.url, '--state', state]);
  try {
    const sent1 = capTime(Date.now() - 120_000);
    const a1 = await run('chain-1.xml', withAudio({ identifier: 'VN-CHAIN-1', sent: sent1 }));
    assert.equal(a1.code, 0, a1.stdout + a1.stderr);
    assert.match(
      a1.stdout,
      /published play cap-[0-9a-f]{16} -> loa\/v1\/g\/c26734\/cmd \(QoS 1, acknowledged by the broker\)/,
    );
    const m1 = await w.waitFor(() => true, 5000, 'the play');
    const play1 = verified(m1.topic, m1.payload);
    assert.equal(play1.capRef.identifier, 'VN-CHAIN-1');

    const again = await run('chain-1.xml', withAudio({ identifier: 'VN-CHAIN-1', sent: sent1 }));
    assert.match(again.stdout, /already handled at .*; skipped/);

    const ref1 = `canhbao@kttv.gov.vn,VN-CHAIN-1,${sent1}`;
    const up = await run(
      'chain-2.xml',
      withAudio({
        identifier: 'VN-CHAIN-2',
        msgType: 'Update',
        references: ref1,
        infos: [{ resources: [{ uri: `${base}/audio/bao.mp3` }], areas: [{ geocodes: [['VN-ADM3', '26737']] }] }],
      }),
    );
    assert.equal(up.code, 0, up.stdout + up.stderr);
    // The cancel goes where the old alert went, and only there (issue [3/8]).
    assert.match(
      up.stdout,
      /replaces canhbao@kttv.gov.vn,VN-CHAIN-1,.* \(sent to c26734 from here\): cancel \{capId: VN-CHAIN-1\} -> c26734\n/,
    );
    const play2 = await w.waitFor(
      (m) =>
        verified(m.topic, m.payload).capRef?.identifier === 'VN-CHAIN-2' &&
        verified(m.topic, m.payload).action === 'play',
      5000,
      'the update play',
    );
    assert.equal(play2.topic, `${ROOT}/g/c26737/cmd`);
    const cancels = w.messages.filter((m) => verified(m.topic, m.payload).action === 'cancel');
    assert.deepEqual(
      cancels.map((m) => m.topic),
      [`${ROOT}/g/c26734/cmd`],
    );
    assert.deepEqual(verified(cancels[0]!.topic, cancels[0]!.payload).args, { capId: 'VN-CHAIN-1' });
    assert.deepEqual(
      w.on(`${ROOT}/g/c26737/cmd`).map((m) => verified(m.topic, m.payload).action),
      ['play'],
    );

    const cx = await run(
      'chain-3.xml',
      vi({
        identifier: 'VN-CHAIN-3',
        msgType: 'Cancel',
        references: `canhbao@kttv.gov.vn,VN-CHAIN-2,${capTime(Date.now() - 60_000)}`,
        infos: [],
      }),
    );
    assert.equal(cx.code, 0, cx.stdout + cx.stderr);
    const last = await w.waitFor(
      (m) => verified(m.topic, m.payload).args?.capId === 'VN-CHAIN-2',
      5000,
      'the cancel of the update',
    );
    assert.equal(last.topic, `${ROOT}/g/c26737/cmd`, 'sent where the update went');
    assert.equal(verified(last.topic, last.payload).capRef.msgType, 'Cancel');
    const s = JSON.parse(readFileSync(state, 'utf8'));
    assert.deepEqual(s.alerts['VN-CHAIN-2'].groups, ['c26737']);

    // An unsigned Cancel naming an alert never actioned here: reported, nothing published;
    // the real alert it names then plays (it used to be refused `cancelled` on every box).
    const before = w.messages.length;
    const ghostSent = capTime(Date.now() - 30_000);
    const ghost = await run(
      'ghost-cancel.xml',
      vi({
        identifier: 'VN-GHOST-X',
        msgType: 'Cancel',
        references: `canhbao@kttv.gov.vn,VN-GHOST-1,${ghostSent}`,
        infos: [],
      }),
    );
    assert.equal(ghost.code, 0, ghost.stdout + ghost.stderr);
    assert.match(
      ghost.stdout,
      /cancel of canhbao@kttv\.gov\.vn,VN-GHOST-1,.*: not sent: not actioned here, and an unsigned Cancel cancels only what this centre sent/,
    );
    const real = await run('ghost-real.xml', withAudio({ identifier: 'VN-GHOST-1', sent: ghostSent }));
    assert.equal(real.code, 0, real.stdout + real.stderr);
    await w.waitFor(
      (m) => verified(m.topic, m.payload).capRef?.identifier === 'VN-GHOST-1',
      5000,
      "the real alert's play",
    );
    assert.deepEqual(
      w.messages.slice(before).map((m) => verified(m.topic, m.payload).action),
      ['play'],
    );
  } finally {
    await w.close();
  }
});

test("an alert whose area maps to no group: exit 1, each area and the mapping's keys on stderr, not recorded; after the mapping fix it is sent; --resend sends a handled one again", async () => {
  const w = await Watcher.connect(broker.url, [`${ROOT}/g/+/cmd`]);
  const state = join(dir, 'unmatched-state.json');
  const xml = withAudio({
    identifier: 'VN-ADMIN-1',
    infos: [{ resources: [{ uri: `${base}/audio/bao.mp3` }], areas: [{ geocodes: [['VN-ADMIN', '26734']] }] }],
  });
  const src = file('unmatched.xml', xml);
  const args = (mapping: string) => [
    'cap',
    src,
    '--mapping',
    mapping,
    '--allow-private',
    '--key',
    pem,
    '--broker',
    broker.url,
    '--state',
    state,
  ];
  try {
    const miss = await runNoc(args(mapArgs()[1]!));
    assert.equal(miss.code, 1, miss.stdout + miss.stderr);
    assert.match(
      miss.stderr,
      /no area maps to a group: "Xã Thạnh Lộc" \(VN-ADMIN=26734\); the mapping's geocodes: VN-ADM3 \(2 values: 26734, 26737\)/,
    );
    assert.match(miss.stdout, /not recorded as handled; the next run or poll tries it again \(fix the mapping first/);
    assert.equal(w.messages.length, 0, 'nothing published');
    // The mapping fixed (VN-ADMIN added): the same alert goes out; it was not "already handled".
    const fixed = join(dir, 'mapping-vn-admin.json');
    const m = JSON.parse(readFileSync(mapArgs()[1]!, 'utf8'));
    m.geocodes['VN-ADMIN'] = { '26734': ['c26734'] };
    writeFileSync(fixed, JSON.stringify(m));
    const sent = await runNoc(args(fixed));
    assert.equal(sent.code, 0, sent.stdout + sent.stderr);
    await w.waitFor(
      (x) => verified(x.topic, x.payload).capRef?.identifier === 'VN-ADMIN-1',
      5000,
      'the play after the fix',
    );
    const again = await runNoc(args(fixed));
    assert.match(again.stdout, /already handled at .*; skipped/);
    const resend = await runNoc([...args(fixed), '--resend', 'VN-ADMIN-1']);
    assert.equal(resend.code, 0, resend.stdout + resend.stderr);
    assert.match(resend.stdout, /sent again \(--resend\): the same command ids/);
    await w.waitUntil(() => (w.messages.length === 2 ? true : undefined), 5000, 'the resent play');
    assert.equal(
      verified(w.messages[1]!.topic, w.messages[1]!.payload).id,
      verified(w.messages[0]!.topic, w.messages[0]!.payload).id,
      'the same command id: a box runs it once',
    );
  } finally {
    await w.close();
  }
});

test('--cap-cert: a signed alert (xmlsec1, RSA) is verified and sent; a changed or unsigned one is refused; without it, not checked', async () => {
  const fixtures = join(REPO_ROOT, 'test/fixtures/cap-signed');
  const signed = readFileSync(join(fixtures, 'alert-rsa.xml'), 'utf8');
  const pin = ['--cap-cert', join(fixtures, 'other-cert.pem'), '--cap-cert', join(fixtures, 'rsa-cert.pem')];
  const ok = await runNoc(['cap', join(fixtures, 'alert-rsa.xml'), ...mapArgs(), ...mediaArgs(), ...pin, '--dry-run']);
  assert.match(
    ok.stdout,
    /VN-KTTV-2026-SIGNED-RSA: XML signature verified \(rsa-sha256, C=VN, O=Trung tam Du bao KTTV quoc gia, CN=canhbao RSA\)/,
  );
  if (!ttsSkip) {
    assert.equal(ok.code, 0, ok.stdout);
    assert.deepEqual(
      wouldPublish(ok.stdout).map((p) => p.topic),
      [`${ROOT}/g/c26734/cmd`],
    );
  }
  const changed = await runNoc([
    'cap',
    file('signed-changed.xml', signed.replace('<value>26734<', '<value>26737<')),
    ...mapArgs(),
    ...pin,
    '--dry-run',
  ]);
  assert.equal(changed.code, 1);
  assert.match(changed.stdout, /XML signature refused, nothing sent: the digest does not match/);
  assert.deepEqual(wouldPublish(changed.stdout), []);
  const unsigned = await runNoc(['cap', file('unsigned.xml', withAudio()), ...mapArgs(), ...pin, '--dry-run']);
  assert.equal(unsigned.code, 1);
  assert.match(unsigned.stdout, /XML signature refused, nothing sent: the alert is not signed/);
  const unchecked = await runNoc([
    'cap',
    file('signed-unchecked.xml', signed.replace('<value>26734<', '<value>26737<')),
    ...mapArgs(),
    ...mediaArgs(),
    '--dry-run',
  ]);
  assert.match(unchecked.stdout, /carries an XML signature, not checked \(no --cap-cert\)/);
});
