// `noc cap` on Atom/RSS feeds (the rig: noc-cap-rig.ts): new entries fetched and actioned
// once with the state remembered across polls, audio that is not there yet, --poll-s until
// Ctrl-C across a broker restart, usage errors; and `noc tts`. Single messages:
// noc-cap.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Watcher } from '../helpers/watcher.js';
import { runNoc, spawnNoc } from './noc-cli.js';
import { DEFAULT_ROOT as ROOT } from '../../contract/index.js';
import {
  broker,
  dir,
  pem,
  base,
  routes,
  AUDIO,
  sha1,
  sha256,
  ttsSkip,
  vi,
  mapArgs,
  withAudio,
  verified,
} from './noc-cap-rig.js';

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
    await w.sync(); // what the polls published before they exited is here by now
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
