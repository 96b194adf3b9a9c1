// What `noc cap` fetches is bounded and outward only (issue [3/8] item 3; noc/cap/fetch.ts),
// against real HTTP servers on loopback and the built CLI: an inward address refused
// (directly, by a name that resolves to it, by a redirect to it) unless --allow-private;
// a link that sends its headers and then a byte every 5 s dropped in seconds; a feed of
// three such links and the real alert handled in seconds, the bad links backed off.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FETCH, fetchBounded, inwardAddress } from '../../noc/cap/fetch.js';
import { tempDir } from '../helpers/tmp.js';
import { MAPPING_JSON, capTime, capXml } from '../helpers/cap.js';
import { base, files, script, hitsFor } from '../helpers/scripted-http.js';
import { runNoc, spawnNoc } from './noc-cli.js';

const AUDIO = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 31) % 253));
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');
let dir: string;

before(async () => {
  dir = tempDir('cap-fetch');
  writeFileSync(join(dir, 'mapping.json'), JSON.stringify(MAPPING_JSON));
  files.set('/secret/metadata', Buffer.from('internal-credentials'));
  files.set('/audio/ok.mp3', AUDIO);
});

test('addresses: loopback, link-local (the cloud metadata address), private, shared, multicast, IPv6 and IPv4-mapped ones are inward; public ones are not', () => {
  for (const [ip, why] of [
    ['127.0.0.1', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['10.1.2.3', 'private'],
    ['172.20.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fd00::1', 'unique local (private)'],
    ['::ffff:127.0.0.1', 'loopback'],
  ] as const)
    assert.equal(inwardAddress(ip), why, ip);
  for (const ip of ['8.8.8.8', '203.113.131.1', '2001:4860:4860::8888', '172.32.0.1'])
    assert.equal(inwardAddress(ip), null, ip);
});

test('fetch: a literal inward address, a name resolving to one, and a redirect to one are refused; --allow-private lifts it', async () => {
  await assert.rejects(
    fetchBounded(`${base}/secret/metadata`, 'resource', 1e6),
    /127\.0\.0\.1 is a loopback address; not fetched \(--allow-private/,
  );
  await assert.rejects(
    fetchBounded(`${base.replace('127.0.0.1', 'localhost')}/secret/metadata`, 'resource', 1e6),
    /localhost resolves to (127\.0\.0\.1|::1), a loopback address/,
  );
  const allowed = await fetchBounded(`${base}/secret/metadata`, 'resource', 1e6, {
    ...DEFAULT_FETCH,
    allowPrivate: true,
  });
  assert.equal(allowed.toString(), 'internal-credentials', 'fetched when the operator allows it');
  // Every hop is judged: here 127.0.0.1 stands for a public host (the test's judge), and its
  // 302 to 127.0.0.2 (loopback) is refused before any connection is made to it.
  script.set('/to-inward', [{ redirectTo: 'http://127.0.0.2:1/secret' }]);
  const judge = (ip: string) => (ip === '127.0.0.1' ? null : inwardAddress(ip));
  await assert.rejects(
    fetchBounded(`${base}/to-inward`, 'resource', 1e6, { ...DEFAULT_FETCH, inward: judge }),
    /http:\/\/127\.0\.0\.2:1\/secret: 127\.0\.0\.2 is a loopback address; not fetched/,
  );
  assert.equal(hitsFor('/to-inward').length, 1);
});

test('fetch: headers, then a byte every 5 s: dropped for its rate after the grace, not held for the deadline', async () => {
  files.set('/trickle.xml', Buffer.from('x'.repeat(100)));
  script.set('/trickle.xml', [{ chunkBytes: 1, delayMs: 5000 }]);
  const t0 = Date.now();
  await assert.rejects(
    fetchBounded(`${base}/trickle.xml`, 'feed link', 1e6, { ...DEFAULT_FETCH, allowPrivate: true }),
    /too slow: \d+ bytes in [\d.]+ s \(at least 1024 bytes\/s after 5 s\)/,
  );
  const ms = Date.now() - t0;
  assert.ok(ms < 10_000, `dropped after ${ms} ms`);
  process.stdout.write(`# a trickling link (1 byte / 5 s) dropped after ${ms} ms\n`);
});

test('noc cap: a resource on a loopback address is refused without --allow-private: nothing stored, nothing sent, exit 1', async () => {
  const xml = capXml({
    sent: capTime(Date.now() - 60_000),
    infos: [
      { expires: capTime(Date.now() + 3_600_000), resources: [{ uri: `${base}/secret/metadata`, mime: 'audio/mpeg' }] },
    ],
  });
  writeFileSync(join(dir, 'ssrf.xml'), xml);
  const media = join(dir, 'media');
  const r = await runNoc([
    'cap',
    join(dir, 'ssrf.xml'),
    '--mapping',
    join(dir, 'mapping.json'),
    '--dry-run',
    '--media-dir',
    media,
    '--media-base-url',
    'https://media.example.vn/',
  ]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /127\.0\.0\.1 is a loopback address; not fetched \(--allow-private to fetch from it\)/);
  assert.equal(
    existsSync(media) ? readdirSync(media).length : 0,
    0,
    'the internal bytes are not published under --media-dir',
  );
  assert.doesNotMatch(r.stdout, /would publish/);
});

test('noc cap --feed: three links that trickle, then the real alert: the alert is handled within seconds; the bad links back off instead of costing every poll', async () => {
  const alert = capXml({
    identifier: 'VN-FEED-REAL',
    sent: capTime(Date.now() - 60_000),
    infos: [
      {
        expires: capTime(Date.now() + 3_600_000),
        resources: [{ uri: `${base}/audio/ok.mp3`, size: AUDIO.length, digest: sha1(AUDIO) }],
      },
    ],
  });
  files.set('/real.xml', Buffer.from(alert));
  for (const k of [1, 2, 3]) {
    files.set(`/slow${k}.xml`, Buffer.from(alert));
    script.set(`/slow${k}.xml`, [{ chunkBytes: 1, delayMs: 5000 }]);
  }
  const entries = ['/slow1.xml', '/slow2.xml', '/slow3.xml', '/real.xml']
    .map(
      (p) =>
        `<entry><id>${p}</id><title>x</title><updated>2026-12-06T00:00:00Z</updated><link type="application/cap+xml" href="${base}${p}"/></entry>`,
    )
    .join('');
  files.set(
    '/slow.atom',
    Buffer.from(
      `<feed xmlns="http://www.w3.org/2005/Atom"><id>f</id><title>f</title><updated>2026-12-06T00:00:00Z</updated>${entries}</feed>`,
    ),
  );
  const state = join(dir, 'slow-state.json');
  const t0 = Date.now();
  const p = spawnNoc([
    'cap',
    '--feed',
    `${base}/slow.atom`,
    '--poll-s',
    '5',
    '--mapping',
    join(dir, 'mapping.json'),
    '--allow-private',
    '--dry-run',
    '--state',
    state,
  ]);
  try {
    await p.waitFor(/would publish loa\/v1\/g\/c26734\/cmd .*VN-FEED-REAL/, 35_000, 'stdout');
    const ms = Date.now() - t0;
    process.stdout.write(
      `# feed with 3 trickling links before the real alert: real alert handled ${ms} ms after the poll began\n`,
    );
    assert.ok(ms < 35_000, `the real alert after ${ms} ms (goal 35 s)`);
    for (const k of [1, 2, 3])
      await p.waitFor(new RegExp(`slow${k}\\.xml: CAP message: .*too slow: .*; next try in 10 s`), 10_000, 'stdout');
    // The next poll (5 s later) leaves them alone: they wait two polls, then four, up to an hour.
    await p.waitFor(/feed .*: 4 entries, 3 new, 3 backing off/, 20_000, 'stdout');
    await p.waitFor(/slow1\.xml: failed 1 time \(CAP message: .*too slow.*\); next try at /, 5000, 'stdout');
  } finally {
    await p.stop();
  }
});

test('noc cap --feed: an entry carrying the namespace bomb (2,000 declarations over 20,000 elements) is skipped, named; the real alert in the next entry is handled, fast', async () => {
  const alert = capXml({
    identifier: 'VN-AFTER-BOMB',
    sent: capTime(Date.now() - 60_000),
    infos: [
      {
        expires: capTime(Date.now() + 3_600_000),
        resources: [{ uri: `${base}/audio/ok.mp3`, size: AUDIO.length, digest: sha1(AUDIO) }],
      },
    ],
  });
  files.set('/after-bomb.xml', Buffer.from(alert));
  const bomb = `<entry><id>bomb</id><title>x</title><updated>2026-12-06T00:00:00Z</updated>${Array.from({ length: 400 }, (_, k) => `<x:ext xmlns:x="urn:x" ${Array.from({ length: 5 }, (_, j) => `xmlns:q${j}="urn:y:${k}:${j}"`).join(' ')}>${'<x:v/>'.repeat(49)}</x:ext>`).join('')}</entry>`;
  const good = `<entry><id>good</id><title>x</title><updated>2026-12-06T00:00:00Z</updated><link type="application/cap+xml" href="${base}/after-bomb.xml"/></entry>`;
  files.set(
    '/bomb.atom',
    Buffer.from(
      `<feed xmlns="http://www.w3.org/2005/Atom" ${Array.from({ length: 30 }, (_, k) => `xmlns:p${k}="urn:p:${k}"`).join(' ')}><id>f</id><title>f</title><updated>2026-12-06T00:00:00Z</updated>${bomb}${good}</feed>`,
    ),
  );
  const t0 = Date.now();
  const r = await runNoc([
    'cap',
    '--feed',
    `${base}/bomb.atom`,
    '--once',
    '--mapping',
    join(dir, 'mapping.json'),
    '--allow-private',
    '--dry-run',
    '--state',
    join(dir, 'bomb-state.json'),
  ]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /feed .*: entry 1 skipped: XML: over the budget of 32 namespaces in scope/);
  assert.match(r.stdout, /would publish loa\/v1\/g\/c26734\/cmd .*VN-AFTER-BOMB/);
  assert.ok(Date.now() - t0 < 30_000, `${Date.now() - t0} ms`);
});

test('noc cap FILE over the 5 MB budget is refused before it is read', async () => {
  const big = join(dir, 'big.xml');
  writeFileSync(big, `<alert>${' '.repeat(6 * 1024 * 1024)}</alert>`);
  const r = await runNoc(['cap', big, '--mapping', join(dir, 'mapping.json'), '--dry-run']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stdout + r.stderr,
    /big\.xml: 6291471 bytes, over the budget of 5242880 bytes for a CAP message; nothing read/,
  );
});
