// `noc keys` and `noc sign` in-process (no broker): the key the agent's config accepts,
// a signature the agent's verifiers accept, and nothing signed that they would refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { main } from '../../noc/cli.js';
import { memoryIo } from '../../noc/io.js';
import { KeyRing, verifySchedule } from '../../agent/domain/verify.js';
import { verifyCommand } from '../../agent/domain/command-doc.js';
import { parseConfig } from '../../agent/config.js';
import { scheduleDoc } from '../helpers/signer.js';
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

const ctx = { deviceId: 'box-1', groups: ['c26734'], now: Date.now(), maxBytes: 256 * 1024, acceptedVersion: () => undefined };

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
  assert.equal((await noc(['keys', '--kid', 'Bad Kid'])).code, 2);
  assert.equal((await noc(['keys'])).code, 2);
});

test('sign: a schedule the agent verifies, header {alg EdDSA, kid from the file name, typ}', async () => {
  const dir = tempDir('noc-sign');
  const { entry, pem } = await newKey(dir);
  const file = join(dir, 'daily.json');
  writeFileSync(file, JSON.stringify(scheduleDoc({ version: 7 })));
  const r = await noc(['sign', file, '--key', pem]);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(decodeProtectedHeader(r.out), { alg: 'EdDSA', kid: 'centre-2026', typ: 'loa-schedule+json' });
  const v = await verifySchedule(r.out, new KeyRing([entry]), ctx);
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
  for (const p of ['timezone: is not an IANA time zone', 'items[0].cron: must have 5 fields', 'items[1].priority: must be 0 to 100', 'items[2].source.url: must be an http: or https: URL']) {
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
  writeFileSync(file, JSON.stringify({ type: 'command', target: { devices: ['box-1'] }, action: 'volume', args: { level: 40 } }));
  const t0 = Date.now();
  const r = await noc(['sign', file, '--key', pem, '--ttl', '60']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /filled in: id=[0-9a-f-]{36}, issuedAt=.*, expiresAt=.* \(ttl 60 s\)/);
  const v = await verifyCommand(r.out, new KeyRing([entry]), { ...ctx, now: Date.now(), seen: () => false });
  assert.ok(v.ok, JSON.stringify(v));
  const exp = Date.parse(v.doc.expiresAt) - t0;
  assert.ok(exp >= 59_000 && exp <= 65_000, `expires ${exp} ms after now`);
  // An invalid command is refused before signing.
  writeFileSync(file, JSON.stringify({ type: 'command', target: { devices: ['box-1'] }, action: 'volume', args: { level: 400 } }));
  const bad = await noc(['sign', file, '--key', pem]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /args\.level: must be 0 to 100/);
  // Already expired: signed (a test may want it) but with a warning.
  writeFileSync(file, JSON.stringify({ type: 'command', target: { devices: ['box-1'] }, action: 'ping', issuedAt: '2026-01-01T00:00:00Z', expiresAt: '2026-01-01T00:05:00Z' }));
  const old = await noc(['sign', file, '--key', pem]);
  assert.equal(old.code, 0);
  assert.match(old.err, /warning: .*in the past: every box will refuse this command as expired/);
});

test('sign: a key that is not Ed25519, or missing, is refused with the fix', async () => {
  const dir = tempDir('noc-sign-key');
  const rsa = join(dir, 'rsa.key.pem');
  writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const file = join(dir, 'daily.json');
  writeFileSync(file, JSON.stringify(scheduleDoc()));
  const r = await noc(['sign', file, '--key', rsa]);
  assert.equal(r.code, 1);
  assert.match(r.err, /is a rsa key; boxes accept only Ed25519 \(make one with noc keys/);
  assert.match((await noc(['sign', file, '--key', join(dir, 'nope.pem')])).err, /ENOENT/);
  assert.equal((await noc(['sign', file])).code, 2);
});
