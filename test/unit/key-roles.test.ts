// Trusted keys carry roles (issue [5/8] item 2): only a key trusted for a document's kind
// may sign it, checked before the signature; keys without roles keep signing schedules
// and commands (configs from before roles) and never a release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyRing, verifySchedule, DEFAULT_KEY_ROLES, type KeyRole } from '../../contract/verify.js';
import { verifyCommand } from '../../contract/command-doc.js';
import { COMMAND_TYP, signDoc } from '../../contract/index.js';
import { parseConfig } from '../../agent/config.js';
import { makeKey, sign, scheduleDoc, type TestKey } from '../helpers/signer.js';
import { commandDoc } from '../helpers/box.js';

const ctx = {
  deviceId: 'box',
  groups: ['c26734'],
  now: Date.now(),
  maxBytes: 256 * 1024,
  acceptedVersion: () => undefined,
};
const ring = (key: TestKey, roles?: KeyRole[]) =>
  new KeyRing([{ kid: key.kid, publicKey: key.publicKey, ...(roles ? { roles } : {}) }]);
const signCommand = (key: TestKey) =>
  signDoc(commandDoc('box', 'ping'), { key: key.privateKey, kid: key.kid }, COMMAND_TYP);
const cmd = (jws: string, keys: KeyRing) =>
  verifyCommand(jws, keys, { deviceId: 'box', groups: [], now: Date.now(), maxBytes: 64 * 1024, seen: () => false });

test('a key without roles signs schedules and commands, never a release', async () => {
  assert.deepEqual(DEFAULT_KEY_ROLES, ['schedule', 'command']);
  const k = makeKey('centre');
  assert.equal(verifySchedule(await sign(scheduleDoc(), k), ring(k), ctx).ok, true);
  assert.equal(cmd(signCommand(k), ring(k)).ok, true);
  assert.deepEqual(ring(k).roles('centre'), ['schedule', 'command']);
});

test('a schedule-only key is refused for commands, a command-only key for schedules, a release key for both: unknown-key, before the signature', async () => {
  const k = makeKey('k1');
  const v = cmd(signCommand(k), ring(k, ['schedule']));
  assert.equal(v.ok, false);
  assert.equal(!v.ok && v.code, 'unknown-key');
  assert.match(!v.ok ? v.message : '', /key k1 is not trusted to sign a command \(its roles: schedule\)/);
  const s = verifySchedule(await sign(scheduleDoc(), k), ring(k, ['command']), ctx);
  assert.equal(!s.ok && s.reason, 'unknown-key');
  const release = ring(k, ['release']);
  const asSchedule = verifySchedule(await sign(scheduleDoc(), k), release, ctx);
  const asCommand = cmd(signCommand(k), release);
  assert.equal(!asSchedule.ok && asSchedule.reason, 'unknown-key', 'a release key does not sign schedules');
  assert.equal(!asCommand.ok && asCommand.code, 'unknown-key', 'nor commands');
  // Before the signature: a forged signature under a key without the role is still unknown-key, not signature.
  const good = await sign(scheduleDoc(), k);
  const forged = `${good.slice(0, good.lastIndexOf('.'))}.${Buffer.alloc(64).toString('base64url')}`;
  assert.equal((verifySchedule(forged, ring(k, ['command']), ctx) as { reason: string }).reason, 'unknown-key');
  assert.equal((verifySchedule(forged, ring(k), ctx) as { reason: string }).reason, 'signature');
});

test('config: roles are checked; absent keeps working; empty, unknown and repeated roles are refused', () => {
  const k = makeKey('k2');
  const base = { deviceId: 'box', mqtt: { url: 'mqtt://localhost:1883' } };
  const ok = parseConfig({
    ...base,
    trustedKeys: [
      { kid: 'k2', publicKey: k.publicKey },
      { kid: 'rel', publicKey: k.publicKey, roles: ['release'] },
    ],
  });
  assert.equal(ok.trustedKeys[0]!.roles, undefined);
  assert.deepEqual(ok.trustedKeys[1]!.roles, ['release']);
  for (const [roles, why] of [
    [[], /a key with no role signs nothing/],
    [['deploy'], /is not one of schedule, command, release/],
    [['schedule', 'schedule'], /names a role twice/],
  ] as const) {
    assert.throws(() => parseConfig({ ...base, trustedKeys: [{ kid: 'k2', publicKey: k.publicKey, roles }] }), why);
  }
});

test('update: only a release key signs it; a release key signs nothing else; schedule-only and command-only keys are refused (unknown-key)', () => {
  const k = makeKey('k3');
  const update = commandDoc('box', 'update', {
    version: '1.2.0',
    url: 'https://updates.example.vn/loa-1.2.0-arm64.tar.gz',
    sha256: 'a'.repeat(64),
    bytes: 9_000_000,
  });
  const signed = signDoc(update, { key: k.privateKey, kid: k.kid }, COMMAND_TYP);
  const ok = cmd(signed, ring(k, ['release']));
  assert.equal(ok.ok, true);
  assert.equal(ok.ok && ok.doc.action === 'update' && ok.doc.args.trialS, 180, 'defaults filled');
  for (const roles of [['schedule'], ['command'], ['schedule', 'command'], undefined] as (KeyRole[] | undefined)[]) {
    const v = cmd(signed, ring(k, roles));
    assert.equal(!v.ok && v.code, 'unknown-key', `roles ${String(roles)}`);
  }
  const byCommandKey = cmd(signed, ring(k, ['command']));
  assert.match(
    !byCommandKey.ok ? byCommandKey.message : '',
    /not trusted to sign an update \(needs the release role\); its roles: command/,
  );
  const ping = cmd(
    signDoc(commandDoc('box', 'ping'), { key: k.privateKey, kid: k.kid }, COMMAND_TYP),
    ring(k, ['release']),
  );
  assert.match(!ping.ok ? ping.message : '', /not trusted to sign a ping command \(needs the command role\)/);
  assert.equal(
    cmd(
      signDoc(commandDoc('box', 'ping'), { key: k.privateKey, kid: k.kid }, COMMAND_TYP),
      ring(k, ['command', 'release']),
    ).ok,
    true,
  );
});

test('update args: version, sha256, url and bounds are checked, with messages that name the field', () => {
  const k = makeKey('k4');
  const bad = (args: Record<string, unknown>) => {
    const v = cmd(
      signDoc(
        commandDoc('box', 'update', {
          version: '1.2.0',
          url: 'https://u.example/x.tar.gz',
          sha256: 'b'.repeat(64),
          bytes: 10,
          ...args,
        }),
        { key: k.privateKey, kid: k.kid },
        COMMAND_TYP,
      ),
      ring(k, ['release']),
    );
    return !v.ok ? `${v.code}: ${v.message}` : 'ok';
  };
  assert.equal(bad({}), 'ok');
  assert.match(bad({ version: '../../etc' }), /invalid: .*args\.version: must be a version/);
  assert.match(bad({ sha256: 'XYZ' }), /invalid: .*args\.sha256: must be 64 lowercase hex/);
  assert.match(bad({ url: 'file:///etc/passwd' }), /invalid: .*args\.url/);
  assert.match(bad({ trialS: 5 }), /invalid: .*args\.trialS: must be at least 30 s/);
  assert.match(bad({ arch: 'mips' }), /invalid: .*args\.arch: must be one of amd64, arm64, armhf/);
  assert.match(
    bad({ delta: { from: '1.1.0', url: 'https://u.example/d', sha256: 'c'.repeat(64) } }),
    /invalid: .*args\.delta\.bytes/,
  );
});
