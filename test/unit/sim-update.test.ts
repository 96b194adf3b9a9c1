// How a simulated box (noc simulate) takes an `update` command: verified by the agent's
// own verifyCommand (only a key with the role release signs one), then answered as the
// agent answers: another arch is invalid, one update at a time, the running version is no-op.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMAND_TYP, signDoc } from '../../contract/index.js';
import { verifyCommand } from '../../contract/command-doc.js';
import { KeyRing } from '../../contract/verify.js';
import { acceptUpdate, type UpdateDoc } from '../../noc/sim-update.js';
import { makeKey, type TestKey } from '../helpers/signer.js';
import { commandDoc } from '../helpers/box.js';

const rel = makeKey('release-2026');
const centre = makeKey('centre-2026');
const ring = new KeyRing([
  { kid: rel.kid, publicKey: rel.publicKey, roles: ['release'] },
  { kid: centre.kid, publicKey: centre.publicKey },
]);
const args = {
  version: '1.2.0',
  url: 'https://cdn.example.vn/loa-1.2.0-arm64.tar.gz',
  sha256: 'a'.repeat(64),
  bytes: 5_000_000,
  arch: 'arm64',
};
const signed = (k: TestKey) =>
  signDoc(commandDoc('box-1', 'update', args), { key: k.privateKey, kid: k.kid }, COMMAND_TYP);
const verify = (jws: string) =>
  verifyCommand(jws, ring, { deviceId: 'box-1', groups: [], now: Date.now(), maxBytes: 65_536, seen: () => false });

test('a simulated box answers a verified update as the agent does: queued, running, invalid arch, busy', () => {
  const v = verify(signed(rel));
  assert.equal(v.ok, true, JSON.stringify(v));
  const doc = (v as { doc: UpdateDoc }).doc;
  assert.deepEqual(acceptUpdate(doc, 'arm64', '1.1.0', false), {
    ok: true,
    result: { version: '1.2.0', state: 'queued', from: '1.1.0' },
  });
  assert.deepEqual(acceptUpdate(doc, 'arm64', '1.2.0', false), {
    ok: true,
    result: { version: '1.2.0', state: 'running' },
  });
  assert.deepEqual(acceptUpdate(doc, 'armhf', '1.1.0', false), {
    ok: false,
    code: 'invalid',
    message: 'the release is for arm64; this box is armhf',
  });
  assert.equal((acceptUpdate(doc, 'arm64', '1.1.0', true) as { code: string }).code, 'busy');
  // Anti-rollback, as the agent (runtime/updater.ts): older than the running version only when the signed args say so.
  assert.deepEqual(acceptUpdate(doc, 'arm64', '1.10.0', false), {
    ok: false,
    code: 'invalid',
    message:
      'version 1.2.0 is older than the running 1.10.0: a downgrade needs args.allowDowngrade true in the signed command',
  });
  const allowed = { ...doc, args: { ...doc.args, allowDowngrade: true } };
  assert.deepEqual(acceptUpdate(allowed, 'arm64', '1.10.0', false), {
    ok: true,
    result: { version: '1.2.0', state: 'queued', from: '1.10.0' },
  });
});

test("the simulator takes the agent's role rule: a key without the role release cannot sign an update", () => {
  const v = verify(signed(centre));
  assert.equal(!v.ok && v.code, 'unknown-key');
  assert.match(!v.ok ? v.message : '', /not trusted to sign an update \(needs the release role\)/);
});
