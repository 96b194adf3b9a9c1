// `noc cap` as an operator runs it: CAP 1.2 messages (Vietnamese and English) from a
// file, a URL and Atom/RSS feeds served by a local HTTP server, through the validator,
// the mapping, audio fetch + digest check or speech synthesis, to signed commands on a
// real Mosquitto, where a subscriber verifies them as a box verifies a signature and
// envelope. The same chain to real agents that play: test/integration/cap-agents.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { MAPPING_JSON, capTime, capXml, type TestAlert } from '../helpers/cap.js';
import { runNoc, spawnNoc } from './noc-cli.js';
import { REPO_ROOT } from '../helpers/agent-process.js';
import { KeyRing, COMMAND_TYP, checkEnvelope, verifyJws } from '../../contract/verify.js';
import { validateCommand } from '../../contract/command-doc.js';
import { DEFAULT_MAX_DOC_BYTES, DEFAULT_ROOT as ROOT } from '../../contract/index.js';

let broker: TestBroker;
let dir: string;
let keys: KeyRing;
let pem: string;
let server: Server;
let base: string;
const routes = new Map<string, { body: Buffer | string; type: string }>();
const AUDIO = Buffer.from(Array.from({ length: 48_000 }, (_, i) => (i * 7919) % 251));
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const ttsMissing = ['espeak-ng', 'lame'].filter((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0);
const ttsSkip = ttsMissing.length && process.env.CI !== 'true' ? `${ttsMissing.join(', ')} not installed` : false;

before(async () => {
  broker = await startBroker();
  dir = tempDir('noc-cap');
  const k = await runNoc(['keys', '--kid', 'centre-2026', '--out', dir]);
  assert.equal(k.code, 0, k.stderr);
  keys = new KeyRing([JSON.parse(k.stdout) as { kid: string; publicKey: string }]);
  pem = join(dir, 'centre-2026.key.pem');
  writeFileSync(join(dir, 'mapping.json'), JSON.stringify(MAPPING_JSON));
  routes.set('/audio/bao.mp3', { body: AUDIO, type: 'audio/mpeg' });
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    const media = path.startsWith('/media/') ? join(dir, 'media', path.slice(7)) : undefined;
    const r =
      routes.get(path) ?? (media && existsSync(media) ? { body: readFileSync(media), type: 'audio/mpeg' } : undefined);
    if (!r) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': r.type }).end(r.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  await broker.close();
});

const vi = (a: TestAlert = {}): string => capXml(a);
function file(name: string, xml: string): string {
  const p = join(dir, name);
  writeFileSync(p, xml);
  return p;
}
// The test's HTTP server is on loopback: --allow-private (the default refuses it, tested below).
const mapArgs = () => ['--mapping', join(dir, 'mapping.json'), '--allow-private'];
const mediaArgs = () => ['--media-dir', join(dir, 'media'), '--media-base-url', `${base}/media/`];

/** The "would publish TOPIC JSON" lines of a dry run. */
function wouldPublish(stdout: string): { topic: string; doc: Record<string, any> }[] {
  return [...stdout.matchAll(/^would publish (\S+) (\{.*\})$/gm)].map((m) => ({
    topic: m[1]!,
    doc: JSON.parse(m[2]!),
  }));
}

const withAudio = (over: TestAlert = {}): string =>
  vi({
    infos: [
      {
        expires: capTime(Date.now() + 2 * 3_600_000),
        resources: [{ uri: `${base}/audio/bao.mp3`, size: AUDIO.length, digest: sha1(AUDIO) }],
      },
    ],
    ...over,
  });

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

/** Verifies as a box would (signature, typ, envelope bound to the topic's group) and returns the payload. */
function verified(topic: string, payload: Buffer): Record<string, any> {
  const j = verifyJws(payload, keys, COMMAND_TYP, DEFAULT_MAX_DOC_BYTES);
  assert.ok(j.ok, JSON.stringify(j));
  const doc = (j as { raw: Record<string, any> }).raw;
  const group = topic.split('/')[3]!;
  assert.equal(
    checkEnvelope(doc as never, {
      deviceId: 'vn-79-26734-01',
      groups: [group],
      now: Date.now(),
      binding: { kind: 'group', name: group },
      maxLifetimeMs: 24 * 3_600_000,
      clockSynced: true,
      what: 'command',
    }),
    null,
  );
  if (doc.action === 'play') assert.equal(validateCommand(doc).ok, true);
  return doc;
}

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

test('Atom and RSS feeds: new entries fetched and actioned once, the state remembered across polls', async () => {
  const w = await Watcher.connect(broker.url, [`${ROOT}/g/+/cmd`]);
  const state = join(dir, 'feed-state.json');
  routes.set('/alerts/f1.xml', { type: 'application/cap+xml', body: withAudio({ identifier: 'VN-FEED-1' }) });
  routes.set('/alerts/f2.xml', {
    type: 'application/cap+xml',
    body: withAudio({
      identifier: 'VN-FEED-2',
      infos: [{ resources: [{ uri: `${base}/audio/bao.mp3` }], areas: [{ geocodes: [['VN-ADM3', '26737']] }] }],
    }),
  });
  routes.set('/feed.atom', {
    type: 'application/atom+xml',
    body: `<feed xmlns="http://www.w3.org/2005/Atom"><title>KTTV</title><entry><id>1</id><link rel="alternate" type="application/cap+xml" href="/alerts/f1.xml"/></entry></feed>`,
  });
  routes.set('/feed.rss', {
    type: 'application/rss+xml',
    body: `<rss version="2.0"><channel><title>KTTV</title><item><link>${base}/alerts/f1.xml</link></item><item><link>alerts/f2.xml</link></item><item><enclosure url="/alerts/f1-copy.xml" type="application/cap+xml"/></item></channel></rss>`,
  });
  routes.set('/alerts/f1-copy.xml', routes.get('/alerts/f1.xml')!);
  const poll = (feed: string) =>
    runNoc([
      'cap',
      '--feed',
      `${base}${feed}`,
      '--once',
      ...mapArgs(),
      '--key',
      pem,
      '--broker',
      broker.url,
      '--state',
      state,
    ]);
  try {
    const a = await poll('/feed.atom');
    assert.equal(a.code, 0, a.stdout + a.stderr);
    assert.match(a.stdout, /feed .*feed\.atom: 1 entries, 1 new/);
    await w.waitFor((m) => verified(m.topic, m.payload).capRef?.identifier === 'VN-FEED-1', 5000, 'feed alert 1');
    const r = await poll('/feed.rss');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /feed\.rss: 3 entries, 2 new/, "the Atom entry's link is remembered");
    assert.match(r.stdout, /VN-FEED-1: already handled at/);
    await w.waitFor((m) => verified(m.topic, m.payload).capRef?.identifier === 'VN-FEED-2', 5000, 'feed alert 2');
    const again = await poll('/feed.rss');
    assert.match(again.stdout, /3 entries, 0 new/);
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(w.messages.length, 2, 'each alert published once');
  } finally {
    await w.close();
  }
});

test('audio not there yet: nothing recorded, the next poll sends the alert; every line also in --log', async () => {
  const w = await Watcher.connect(broker.url, [`${ROOT}/g/+/cmd`]);
  const state = join(dir, 'retry-state.json');
  const log = join(dir, 'cap.log');
  routes.set('/alerts/late.xml', {
    type: 'application/cap+xml',
    body: vi({
      identifier: 'VN-LATE-1',
      infos: [{ resources: [{ uri: `${base}/audio/late.mp3`, digest: sha1(AUDIO) }] }],
    }),
  });
  routes.set('/late.atom', {
    type: 'application/atom+xml',
    body: `<feed xmlns="http://www.w3.org/2005/Atom"><entry><link href="/alerts/late.xml"/></entry></feed>`,
  });
  const poll = () =>
    runNoc([
      'cap',
      '--feed',
      `${base}/late.atom`,
      '--once',
      ...mapArgs(),
      '--key',
      pem,
      '--broker',
      broker.url,
      '--state',
      state,
      '--log',
      log,
    ]);
  try {
    const first = await poll();
    assert.equal(first.code, 1);
    assert.match(first.stdout, /not sent: resource .*answered HTTP 404/);
    assert.match(first.stdout, /VN-LATE-1: not recorded as handled; the next run or poll tries it again/);
    routes.set('/audio/late.mp3', { body: AUDIO, type: 'audio/mpeg' });
    const second = await poll();
    assert.equal(second.code, 0, second.stdout);
    assert.match(second.stdout, /late\.atom: 1 entries, 1 new/);
    await w.waitFor((m) => verified(m.topic, m.payload).capRef?.identifier === 'VN-LATE-1', 5000, 'the late alert');
    const logged = readFileSync(log, 'utf8');
    assert.match(logged, /^\d{4}-\d{2}-\d{2}T[\d:.]+Z cap canhbao@kttv\.gov\.vn VN-LATE-1: status Actual/m);
    assert.match(logged, /answered HTTP 404[\s\S]*published play cap-/);
  } finally {
    await w.close();
  }
});

test(
  'noc tts writes an MP3 that starts with the issue time and reports the real-time factor',
  { skip: ttsSkip },
  async () => {
    const out = join(dir, 'tts.mp3');
    const r = await runNoc([
      'tts',
      'Cảnh báo lũ quét.',
      '--lang',
      'vi',
      '--issued',
      '2026-11-27T14:05:00+07:00',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /spoken: Bản tin phát lúc 14 giờ 05 ngày 27\/11\/2026\. Cảnh báo lũ quét\./);
    const m = /sha256 ([0-9a-f]{64}), (\d+) bytes, \d+ ms of speech; synthesis \d+ ms \(real-time factor [\d.]+\)/.exec(
      r.stdout,
    );
    assert.ok(m, r.stdout);
    assert.equal(sha256(readFileSync(out)), m[1]);
    const bad = await runNoc(['tts', 'x', '--out', out, '--tts-command', 'no-such-engine {wav}']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no-such-engine not found/);
  },
);

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

test('a feed polled every --poll-s until Ctrl-C: a new entry is picked up at the next poll, across a broker restart', async () => {
  const w = await Watcher.connect(broker.url, [`${ROOT}/g/+/cmd`]);
  const state = join(dir, 'poll-state.json');
  const entry = (f: string) => `<entry><link type="application/cap+xml" href="/alerts/${f}"/></entry>`;
  routes.set('/alerts/p1.xml', { type: 'application/cap+xml', body: withAudio({ identifier: 'VN-POLL-1' }) });
  routes.set('/alerts/p2.xml', { type: 'application/cap+xml', body: withAudio({ identifier: 'VN-POLL-2' }) });
  routes.set('/poll.atom', {
    type: 'application/atom+xml',
    body: `<feed xmlns="http://www.w3.org/2005/Atom">${entry('p1.xml')}</feed>`,
  });
  const p = spawnNoc([
    'cap',
    '--feed',
    `${base}/poll.atom`,
    '--poll-s',
    '5',
    ...mapArgs(),
    '--key',
    pem,
    '--broker',
    broker.url,
    '--state',
    state,
  ]);
  try {
    await p.waitFor(/poll\.atom: 1 entries, 1 new[\s\S]*published play/, 30_000, 'stdout');
    await w.waitFor(
      (m) => verified(m.topic, m.payload).capRef?.identifier === 'VN-POLL-1',
      5000,
      'the first polled alert',
    );
    await broker.stop();
    await broker.start();
    await w.waitUntil(() => (w.client.connected ? true : undefined), 10_000, 'the watcher back');
    routes.set('/poll.atom', {
      type: 'application/atom+xml',
      body: `<feed xmlns="http://www.w3.org/2005/Atom">${entry('p2.xml')}${entry('p1.xml')}</feed>`,
    });
    await p.waitFor(/poll\.atom: 2 entries, 1 new[\s\S]*published play/, 30_000, 'stdout');
    await w.waitFor(
      (m) => verified(m.topic, m.payload).capRef?.identifier === 'VN-POLL-2',
      5000,
      'the second polled alert',
    );
    assert.equal(await p.stop(), 0, p.stdout() + p.stderr());
    assert.match(p.stdout(), /poll\.atom: stopped \(SIGINT\)/);
  } finally {
    await p.stop();
    await w.close();
  }
});

test('usage: a feed without --state, and no source at all, are usage errors (64)', async () => {
  const f = await runNoc(['cap', '--feed', `${base}/feed.atom`, ...mapArgs(), '--key', pem, '--broker', broker.url]);
  assert.equal(f.code, 64);
  assert.match(f.stderr, /--feed needs --state FILE/);
  const n = await runNoc(['cap', ...mapArgs(), '--dry-run']);
  assert.equal(n.code, 64);
});
