// How a simulated box (noc simulate) checks an `update` command: only a key trusted with
// the role release signs one; the envelope rules are the agent's; another arch is invalid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMAND_TYP, signDoc } from '../../agent/domain/contract.js';
import { claimsUpdate, releaseRing, verifyUpdate } from '../../noc/sim-update.js';
import { makeKey, type TestKey } from '../helpers/signer.js';
import { commandDoc } from '../helpers/box.js';

const rel = makeKey('release-2026');
const centre = makeKey('centre-2026');
const ring = releaseRing([
  { kid: rel.kid, publicKey: rel.publicKey, roles: ['release'] },
  { kid: centre.kid, publicKey: centre.publicKey },
]);
const args = { version: '1.2.0', url: 'https://cdn.example.vn/loa-1.2.0-arm64.tar.gz', sha256: 'a'.repeat(64), bytes: 5_000_000, arch: 'arm64' };
const signed = (k: TestKey, over: Record<string, unknown> = {}) => Buffer.from(signDoc({ ...commandDoc('box-1', 'update', args), ...over }, { key: k.privateKey, kid: k.kid }, COMMAND_TYP));
const ctx = (seen: string[] = [], arch = 'arm64') => ({ deviceId: 'box-1', groups: [], now: Date.now(), maxBytes: 65_536, arch, seen: (id: string) => seen.includes(id) });

test('an update signed by a release key is accepted, with the defaults of waitS and trialS', () => {
  const p = signed(rel);
  assert.equal(claimsUpdate(p), true);
  const v = verifyUpdate(p, ring, ctx());
  assert.equal(v.ok, true, JSON.stringify(v));
  assert.deepEqual(v.ok && { ...v.doc.args }, { ...args, waitS: 3600, trialS: 180 });
});

test('refused: a key without the role release, another arch, a repeated id, bad args', () => {
  const byCentre = verifyUpdate(signed(centre), ring, ctx());
  assert.deepEqual(byCentre.ok ? null : [byCentre.code, byCentre.message], ['unknown-key', 'kid "centre-2026" is not a trusted key (an update needs a key with the role release)']);
  const arm = signed(rel);
  const other = verifyUpdate(arm, ring, ctx([], 'armhf'));
  assert.deepEqual(other.ok ? null : [other.code, other.message], ['invalid', 'release for arm64; this box is armhf']);
  const id = JSON.parse(Buffer.from(arm.toString().split('.')[1]!, 'base64url').toString()).id as string;
  const dup = verifyUpdate(arm, ring, ctx([id]));
  assert.equal(dup.ok ? null : dup.code, 'duplicate');
  const bad = verifyUpdate(signed(rel, { args: { ...args, sha256: 'nope', trialS: 5 } }), ring, ctx());
  assert.equal(bad.ok ? null : bad.code, 'invalid');
  assert.match(bad.ok ? '' : bad.message, /args\.sha256: .*; args\.trialS: /);
  assert.equal(claimsUpdate(Buffer.from(signDoc(commandDoc('box-1', 'ping'), { key: rel.privateKey, kid: rel.kid }, COMMAND_TYP))), false);
});
