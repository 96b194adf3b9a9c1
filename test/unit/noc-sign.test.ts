// `noc keys` and `noc sign` in-process (no broker): the key the agent's config accepts,
// a signature the agent's verifiers accept, and nothing signed that they would refuse.
import { MAX_URL_LENGTH } from '../../contract/schedule-doc.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { main } from '../../noc/cli.js';
import { memoryIo } from '../../noc/io.js';
import { KeyRing, verifySchedule } from '../../contract/verify.js';
import { verifyCommand } from '../../contract/command-doc.js';
import { parseConfig } from '../../agent/config.js';
import { makeKey, scheduleDoc, sign } from '../helpers/signer.js';
import { peekJws } from '../../noc/docs.js';
import { prepareDoc } from '../../noc/sign.js';
import { tempDir } from '../helpers/tmp.js';

async function noc(argv: string[]) {
  const io = memoryIo();
  const code = await main(argv, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

async function newKey(dir: string, kid = 'centre-2026') {
  const r = await noc(['keys', '--kid', kid, '--out', dir]);
  assert.equal(r.code, 0, r.err);
  return { entry: JSON.parse(r.out) as { kid: string; publicKey: string }, pem: join(dir, `${kid}.key.pem`) };
}

const ctx = {
  deviceId: 'box-1',
  groups: ['c26734'],
  now: Date.now(),
  maxBytes: 256 * 1024,
  acceptedVersion: () => undefined,
};

test('keys: a 0600 PKCS8 PEM, and a trustedKeys entry the agent config accepts; never overwritten', async () => {
  const dir = tempDir('noc-keys');
  const { entry, pem } = await newKey(dir);
  assert.equal(entry.kid, 'centre-2026');
  assert.match(entry.publicKey, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(statSync(pem).mode & 0o777, 0o600);
  assert.match(readFileSync(pem, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  const cfg = parseConfig({ deviceId: 'box-1', mqtt: { url: 'mqtt://127.0.0.1:1883' }, trustedKeys: [entry] });
  assert.deepEqual(cfg.trustedKeys, [entry]);
  const before = readFileSync(pem, 'utf8');
  const again = await noc(['keys', '--kid', 'centre-2026', '--out', dir]);
  assert.equal(again.code, 1);
  assert.match(again.err, /exists; refusing to overwrite/);
  assert.equal(readFileSync(pem, 'utf8'), before);
  assert.equal((await noc(['keys', '--kid', 'Bad Kid'])).code, 64);
  assert.equal((await noc(['keys'])).code, 64);
});

test('sign: a schedule the agent verifies, header {alg EdDSA, kid from the file name, typ}', async () => {
  const dir = tempDir('noc-sign');
  const { entry, pem } = await newKey(dir);
  const file = join(dir, 'daily.json');
  writeFileSync(file, JSON.stringify(scheduleDoc({ version: 7 })));
  const r = await noc(['sign', file, '--key', pem]);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(decodeProtectedHeader(r.out), { alg: 'EdDSA', kid: 'centre-2026', typ: 'loa-schedule+json' });
  const v = verifySchedule(r.out, new KeyRing([entry]), ctx);
  assert.equal(v.ok, true, JSON.stringify(v));
  // --kid overrides the file name; --out writes the file.
  const out = join(dir, 'daily.jws');
  assert.equal((await noc(['sign', file, '--key', pem, '--kid', 'other', '--out', out])).code, 0);
  assert.equal(decodeProtectedHeader(readFileSync(out, 'utf8').trim()).kid, 'other');
});

test('sign: every problem with its field path, exit 1, nothing signed', async () => {
  const dir = tempDir('noc-sign-bad');
  const { pem } = await newKey(dir);
  const file = join(dir, 'bad.json');
  const items = [
    { id: 'a', source: { kind: 'fm', freqMHz: 100 }, cron: '0 5 * *' },
    { id: 'b', source: { kind: 'file', media: ['x'] }, at: '2026-11-26T06:30:00+07:00', priority: 101 },
    { id: 'c', source: { kind: 'stream', url: 'ftp://x' }, at: '2026-11-26T06:30:00+07:00', durationS: 60 },
  ];
  writeFileSync(file, JSON.stringify(scheduleDoc({ items, timezone: 'Mars/Base' })));
  const r = await noc(['sign', file, '--key', pem]);
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  for (const p of [
    'timezone: is not an IANA time zone',
    'items[0].cron: must have 5 fields',
    'items[1].priority: must be 0 to 100',
    'items[2].source.url: must be an http: or https: URL',
  ]) {
    assert.ok(r.err.includes(p), `stderr names "${p}":\n${r.err}`);
  }
  assert.match(r.err, /problems in the schedule; nothing signed/);
  writeFileSync(file, JSON.stringify({ type: 'playlist' }));
  const t = await noc(['sign', file, '--key', pem]);
  assert.equal(t.code, 1);
  assert.match(t.err, /type: must be "schedule" or "command"/);
  writeFileSync(file, '{not json');
  assert.match((await noc(['sign', file, '--key', pem])).err, /not valid JSON/);
});

test('sign: a command gets id, issuedAt and expiresAt (ttl) when missing, and says so', async () => {
  const dir = tempDir('noc-sign-cmd');
  const { entry, pem } = await newKey(dir);
  const file = join(dir, 'cmd.json');
  writeFileSync(
    file,
    JSON.stringify({ type: 'command', target: { devices: ['box-1'] }, action: 'volume', args: { level: 40 } }),
  );
  const t0 = Date.now();
  const r = await noc(['sign', file, '--key', pem, '--ttl', '60']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /filled in: id=[0-9a-f-]{36}, issuedAt=.*, expiresAt=.* \(ttl 60 s\)/);
  const v = verifyCommand(r.out, new KeyRing([entry]), { ...ctx, now: Date.now(), seen: () => false });
  assert.ok(v.ok, JSON.stringify(v));
  const exp = Date.parse(v.doc.expiresAt) - t0;
  assert.ok(exp >= 59_000 && exp <= 65_000, `expires ${exp} ms after now`);
  // An invalid command is refused before signing.
  writeFileSync(
    file,
    JSON.stringify({ type: 'command', target: { devices: ['box-1'] }, action: 'volume', args: { level: 400 } }),
  );
  const bad = await noc(['sign', file, '--key', pem]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /args\.level: must be 0 to 100/);
  // Already expired: signed (a test may want it) but with a warning.
  writeFileSync(
    file,
    JSON.stringify({
      type: 'command',
      target: { devices: ['box-1'] },
      action: 'ping',
      issuedAt: '2026-01-01T00:00:00Z',
      expiresAt: '2026-01-01T00:05:00Z',
    }),
  );
  const old = await noc(['sign', file, '--key', pem]);
  assert.equal(old.code, 0);
  assert.match(old.err, /warning: .*in the past: every box will refuse this command as expired/);
});

test('sign: a key that is not Ed25519, or missing, is refused with the fix', async () => {
  const dir = tempDir('noc-sign-key');
  const rsa = join(dir, 'rsa.key.pem');
  writeFileSync(
    rsa,
    generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
  );
  const file = join(dir, 'daily.json');
  writeFileSync(file, JSON.stringify(scheduleDoc()));
  const r = await noc(['sign', file, '--key', rsa]);
  assert.equal(r.code, 1);
  assert.match(r.err, /is a rsa key; boxes accept only Ed25519 \(make one with noc keys/);
  assert.match((await noc(['sign', file, '--key', join(dir, 'nope.pem')])).err, /ENOENT/);
  assert.equal((await noc(['sign', file])).code, 64);
});

// Contract v1.1 (§2.1, §3 bounded work): noc refuses, before signing, everything a box
// would refuse that the centre can judge; each case is also checked against the agent's
// own verifier, so the two cannot drift apart.
const DAY = 86_400_000;
const at = (ms: number) => new Date(ms).toISOString();
const stream = (url: string) => ({ id: 'relay', source: { kind: 'stream', url }, cron: '0 5 * * *', durationS: 600 });

test('sign: refuses what the boxes refuse (lifetime, issuedAt ahead, calendar, URL, cron length, the occurrence cap), naming the field', async () => {
  const dir = tempDir('noc-sign-v11');
  const { entry, pem } = await newKey(dir);
  const testKey = makeKey('centre-2026');
  const ring = new KeyRing([{ kid: testKey.kid, publicKey: testKey.publicKey }]);
  const now = Date.now();
  const cronBomb = Array.from({ length: 20 }, (_, i) => ({
    id: `bomb-${i}`,
    source: { kind: 'line' },
    cron: '* * * * * *',
    durationS: 1,
  }));
  const cases: { name: string; doc: Record<string, unknown>; says: RegExp }[] = [
    {
      name: 'lifetime over 400 days',
      doc: scheduleDoc({ issuedAt: at(now - 60_000), expiresAt: at(now - 60_000 + 401 * DAY) }),
      says: /expiresAt: lives 401 days, longer than boxes accept by default for a document \(400 days\) \(boxes refuse it: invalid\)/,
    },
    {
      name: 'issuedAt 11 minutes ahead',
      doc: scheduleDoc({ issuedAt: at(now + 11 * 60_000) }),
      says: /issuedAt: .* is more than 10 minutes ahead of now \(boxes refuse it: invalid\)/,
    },
    {
      name: 'February 30',
      doc: scheduleDoc({
        items: [{ id: 'news', source: { kind: 'line' }, at: '2027-02-30T06:30:00+07:00', durationS: 60 }],
      }),
      says: /items\[0\]\.at: is not a date and time that exists in the calendar/,
    },
    {
      name: 'expiresAt at 24:00',
      doc: scheduleDoc({ expiresAt: '2026-12-31T24:00:00+07:00' }),
      says: /expiresAt: is not a date and time that exists in the calendar/,
    },
    {
      name: 'a 4 KB URL',
      doc: scheduleDoc({ items: [stream(`https://cdn.example.vn/${'a'.repeat(4096)}.mp3`)] }),
      says: /items\[0\]\.source\.url: must be at most \d+ characters/,
    },
    {
      name: '9 backup URLs',
      doc: scheduleDoc({
        items: [
          {
            ...stream(''),
            source: { kind: 'stream', urls: Array.from({ length: 9 }, (_, i) => `https://r${i}.example.vn/live.mp3`) },
          },
        ],
      }),
      says: /items\[0\]\.source\.urls: must list at most 8 URLs/,
    },
    {
      name: 'a 129-character cron',
      doc: scheduleDoc({
        items: [{ ...stream('https://r.example.vn/live.mp3'), cron: `0 5 * * ${'1,'.repeat(60)}1` }],
      }),
      says: /items\[0\]\.cron: must be at most 128 characters/,
    },
    {
      name: 'the cron bomb',
      doc: scheduleDoc({ items: cronBomb }),
      says: /items: expand to up to \d+ occurrences in a day; the limit is 1440.*; by item, 1728000 a day in all: items\[0\]\.cron "\* \* \* \* \* \*" starts 86400 times a day/,
    },
    {
      name: '1,001 items',
      doc: scheduleDoc({
        items: Array.from({ length: 1001 }, (_, i) => ({
          id: `i${i}`,
          source: { kind: 'line' },
          at: at(now + DAY + i * 60_000),
          durationS: 1,
        })),
      }),
      says: /items: must list at most 1000 items/,
    },
  ];
  for (const c of cases) {
    const file = join(dir, 'doc.json');
    writeFileSync(file, JSON.stringify(c.doc));
    const r = await noc(['sign', file, '--key', pem]);
    assert.equal(r.code, 1, `${c.name}: refused\n${r.err}`);
    assert.equal(r.out, '', `${c.name}: nothing signed`);
    assert.match(r.err, c.says, c.name);
    assert.match(r.err, /nothing signed/, c.name);
    // The box refuses the same document as invalid.
    const v = verifySchedule(await sign(c.doc, testKey), ring, { ...ctx, now: Date.now() });
    assert.equal(v.ok, false, `${c.name}: the agent refuses it too`);
    if (v.ok === false) assert.equal(v.reason, 'invalid', `${c.name}: ${v.message}`);
  }
  // At the limits, both accept: 400 days, 10 minutes ahead (less a margin), MAX_URL_LENGTH characters, 1440 a day.
  const ok = [
    scheduleDoc({ issuedAt: at(now - 60_000), expiresAt: at(now - 60_000 + 400 * DAY) }),
    scheduleDoc({ issuedAt: at(now + 9 * 60_000) }),
    scheduleDoc({
      items: [
        stream(`https://cdn.example.vn/${'a'.repeat(MAX_URL_LENGTH - 'https://cdn.example.vn/.mp3'.length)}.mp3`),
      ],
    }),
    scheduleDoc({ items: [{ id: 'every-minute', source: { kind: 'line' }, cron: '* * * * *', durationS: 30 }] }),
    scheduleDoc({ items: [{ id: 'leap', source: { kind: 'line' }, at: '2028-02-29T06:30:00+07:00', durationS: 60 }] }),
  ];
  for (const doc of ok) {
    const file = join(dir, 'ok.json');
    writeFileSync(file, JSON.stringify(doc));
    const r = await noc(['sign', file, '--key', pem]);
    assert.equal(r.code, 0, r.err);
    const v = verifySchedule(r.out, new KeyRing([entry]), { ...ctx, now: Date.now() });
    assert.equal(v.ok, true, JSON.stringify(v));
  }
});

test('sign: the cron bomb of 20 items "* * * * * *" is refused with the field named', async () => {
  const dir = tempDir('noc-sign-bomb');
  const { pem } = await newKey(dir);
  const file = join(dir, 'bomb.json');
  const items = Array.from({ length: 20 }, (_, i) => ({
    id: `tick-${i}`,
    source: { kind: 'fm', freqMHz: 100 },
    cron: '* * * * * *',
    durationS: 1,
  }));
  writeFileSync(file, JSON.stringify(scheduleDoc({ items })));
  const r = await noc(['sign', file, '--key', pem]);
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.match(
    r.err,
    /^.*bomb\.json: items: expand to up to \d+ occurrences in a day; the limit is 1440 \(contract §3, bounded work\)/m,
  );
  assert.match(r.err, /items\[0\]\.cron "\* \* \* \* \* \*" starts 86400 times a day/);
  assert.match(r.err, /and 17 more cron items/);
  assert.match(r.err, /1 problem in the schedule; nothing signed/);
});

test('sign: a schedule without expiresAt gets issuedAt + 30 days (--ttl-days up to 400), without issuedAt now; and says so', async () => {
  const dir = tempDir('noc-sign-ttl');
  const { entry, pem } = await newKey(dir);
  const ring = new KeyRing([entry]);
  const file = join(dir, 'daily.json');
  const issuedAt = new Date(Date.now() - 3_600_000).toISOString();
  const { expiresAt: _drop, ...noExpiry } = scheduleDoc({ issuedAt });
  writeFileSync(file, JSON.stringify(noExpiry));
  const r = await noc(['sign', file, '--key', pem]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /filled in: expiresAt=\S+ \(ttl 30 days\)/);
  const v = verifySchedule(r.out, ring, { ...ctx, now: Date.now() });
  assert.ok(v.ok === true, JSON.stringify(v));
  assert.equal(Date.parse(v.doc.expiresAt!) - Date.parse(issuedAt), 30 * DAY);
  assert.equal(v.doc.issuedAt, issuedAt, 'a given issuedAt is kept');

  const long = await noc(['sign', file, '--key', pem, '--ttl-days', '400']);
  assert.equal(long.code, 0, long.err);
  const vl = verifySchedule(long.out, ring, { ...ctx, now: Date.now() });
  assert.ok(vl.ok === true, JSON.stringify(vl));
  assert.equal(Date.parse(vl.doc.expiresAt!) - Date.parse(issuedAt), 400 * DAY);
  const tooLong = await noc(['sign', file, '--key', pem, '--ttl-days', '401']);
  assert.equal(tooLong.code, 64);
  assert.match(tooLong.err, /--ttl-days must be at most 400 \(got 401\)/);

  const { issuedAt: _i, ...bare } = noExpiry;
  writeFileSync(file, JSON.stringify(bare));
  const t0 = Date.now();
  const b = await noc(['sign', file, '--key', pem, '--ttl-days', '7']);
  assert.equal(b.code, 0, b.err);
  assert.match(b.err, /filled in: issuedAt=\S+, expiresAt=\S+ \(ttl 7 days\)/);
  const vb = verifySchedule(b.out, ring, { ...ctx, now: Date.now() });
  assert.ok(vb.ok === true, JSON.stringify(vb));
  assert.ok(Math.abs(Date.parse(vb.doc.issuedAt) - t0) < 5000);
  assert.equal(Date.parse(vb.doc.expiresAt!) - Date.parse(vb.doc.issuedAt), 7 * DAY);
  // A given expiresAt is never changed.
  const given = scheduleDoc();
  writeFileSync(file, JSON.stringify(given));
  const g = await noc(['sign', file, '--key', pem, '--ttl-days', '2']);
  assert.equal(g.code, 0, g.err);
  assert.doesNotMatch(g.err, /filled in/);
  const vg = verifySchedule(g.out, ring, { ...ctx, now: Date.now() });
  assert.ok(vg.ok === true && vg.doc.expiresAt === given.expiresAt);
});

test('sign: a command expires 600 s after now by default, --ttl at most 24 h; a longer lifetime or an issuedAt ahead is refused', async () => {
  const dir = tempDir('noc-sign-cmd-ttl');
  const { entry, pem } = await newKey(dir);
  const ring = new KeyRing([entry]);
  const file = join(dir, 'cmd.json');
  writeFileSync(file, JSON.stringify({ type: 'command', target: { devices: ['box-1'] }, action: 'ping' }));
  const t0 = Date.now();
  const r = await noc(['sign', file, '--key', pem]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /expiresAt=\S+ \(ttl 600 s\)/);
  const v = verifyCommand(r.out, ring, { ...ctx, now: Date.now(), seen: () => false });
  assert.ok(v.ok, JSON.stringify(v));
  const life = Date.parse(v.doc.expiresAt) - t0;
  assert.ok(life >= 599_000 && life <= 605_000, `expires ${life} ms after now`);
  assert.equal((await noc(['sign', file, '--key', pem, '--ttl', '86400'])).code, 0);
  const tooLong = await noc(['sign', file, '--key', pem, '--ttl', '86401']);
  assert.equal(tooLong.code, 64);
  assert.match(tooLong.err, /--ttl must be at most 86400 \(got 86401\)/);

  const now = Date.now();
  const refused: { doc: Record<string, unknown>; says: RegExp }[] = [
    {
      doc: { issuedAt: at(now), expiresAt: at(now + 25 * 3_600_000) },
      says: /expiresAt: lives 25 h, longer than boxes accept by default for a command \(24 h\) \(boxes refuse it: invalid\)/,
    },
    {
      doc: { issuedAt: at(now + 11 * 60_000), expiresAt: at(now + 20 * 60_000) },
      says: /issuedAt: .* is more than 10 minutes ahead of now \(boxes refuse it: invalid\)/,
    },
    {
      doc: { issuedAt: '2026-02-29T10:00:00Z', expiresAt: '2026-02-29T10:10:00Z' },
      says: /issuedAt: is not a date and time that exists in the calendar/,
    },
  ];
  const testKey = makeKey('centre-2026');
  for (const c of refused) {
    const doc = { type: 'command', id: 'c-1', target: { devices: ['box-1'] }, action: 'ping', ...c.doc };
    writeFileSync(file, JSON.stringify(doc));
    const b = await noc(['sign', file, '--key', pem]);
    assert.equal(b.code, 1, b.err);
    assert.equal(b.out, '');
    assert.match(b.err, c.says);
    const agent = verifyCommand(await sign(doc, testKey, { typ: 'loa-command+json' }), new KeyRing([testKey]), {
      ...ctx,
      now: Date.now(),
      seen: () => false,
    });
    assert.equal(agent.ok, false);
    if (!agent.ok) assert.equal(agent.code, 'invalid', agent.message);
  }
});

test("send/publish: the target must list the topic's device or group (contract v1.1 §2.1), and a non-canonical JWS is not published", async () => {
  const io = memoryIo();
  const now = Date.now();
  const groupDoc = scheduleDoc({ target: { groups: ['c26734'] } });
  // On its own group topic: fine. On a device topic (a group document re-published there): refused.
  assert.equal(
    prepareDoc(groupDoc, 'daily.json', io, { now, binding: { kind: 'group', name: 'c26734' } }).kind,
    'schedule',
  );
  assert.throws(
    () => prepareDoc(groupDoc, 'daily.json', io, { now, binding: { kind: 'device', name: 'box-1' } }),
    /1 problem in the schedule; nothing signed/,
  );
  assert.match(
    io.stderr.join('\n'),
    /target: document targets \{"groups":\["c26734"\]\}, which does not list the device box-1 of the topic it is sent to \(boxes refuse it: target\)/,
  );
  // A device document must list the device of its topic, even if the box is in a listed group.
  const cmd = { type: 'command', target: { groups: ['c26734'], devices: ['box-2'] }, action: 'ping' };
  assert.throws(
    () => prepareDoc(cmd, 'command', memoryIo(), { now, binding: { kind: 'device', name: 'box-1' } }),
    /problem in the command/,
  );
  assert.equal(
    prepareDoc(cmd, 'command', memoryIo(), { now, binding: { kind: 'device', name: 'box-2' } }).kind,
    'command',
  );
  // Strict forms: padding, or non-zero spare bits in the last character, are refused by boxes.
  const testKey = makeKey('centre-2026');
  const jws = await sign(scheduleDoc(), testKey);
  assert.equal(peekJws(jws, 'ok.jws').kind, 'schedule');
  const [h, p, s] = jws.split('.') as [string, string, string];
  const last = s.at(-1)!;
  const bits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(last);
  const tweaked = `${h}.${p}.${s.slice(0, -1)}${'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[bits | 1]}`;
  assert.throws(
    () => peekJws(tweaked, 'bits.jws'),
    /bits\.jws: the JWS signature is not canonical base64url \(no padding, zero spare bits\); boxes refuse it as invalid/,
  );
  assert.throws(() => peekJws(`${h}.${p}.${s}==`, 'pad.jws'), /not canonical base64url/);
});
