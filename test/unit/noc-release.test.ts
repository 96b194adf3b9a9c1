// `noc release` in-process with real tarballs, gzip and zstd: a manifest signed by a
// release key that verifies (role release) and names each artifact exactly; a delta that
// the box's applyDelta turns into the new tar; and the refusals (a key without the role,
// a sidecar from another build, mixed versions, a delta for an arch not released).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { main } from '../../noc/cli.js';
import { memoryIo } from '../../noc/io.js';
import { RELEASE_TYP, verifyManifest, updateArgs } from '../../noc/release-manifest.js';
import { loadSigningKey } from '../../noc/docs.js';
import { COMMAND_TYP, signDoc } from '../../contract/index.js';
import type { TrustedKey } from '../../contract/verify.js';
import { applyDelta } from '../../contract/release-delta.js';
import { tempDir } from '../helpers/tmp.js';
import { makeRelease, randomSeed, releaseFiles, sha256, zstdMissing } from '../helpers/release.js';

const why = zstdMissing();
if (why && process.env.CI === 'true') throw new Error(`noc release tests cannot run: ${why}`);

async function noc(argv: string[]) {
  const io = memoryIo();
  const code = await main(argv, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

async function key(dir: string, kid: string, roles?: string) {
  const r = await noc(['keys', '--kid', kid, '--out', dir, ...(roles ? ['--roles', roles] : [])]);
  assert.equal(r.code, 0, r.err);
  return {
    entry: JSON.parse(r.out) as { kid: string; publicKey: string; roles?: string[] },
    pem: join(dir, `${kid}.key.pem`),
  };
}

test(
  'noc release: a signed manifest per version, with per-arch artifacts and a checked delta',
  { skip: why ?? false },
  async () => {
    const dir = tempDir('noc-release');
    const rel = await key(dir, 'release-2026', 'release');
    const trusted = join(dir, 'trusted.json');
    writeFileSync(trusted, JSON.stringify([rel.entry]));
    const seed = randomSeed();
    const old = makeRelease(dir, '1.1.0', 'arm64', releaseFiles(seed, 'one();\n'));
    const arm = makeRelease(dir, '1.2.0', 'arm64', releaseFiles(seed, 'two();\n'));
    const amd = makeRelease(dir, '1.2.0', 'amd64', releaseFiles(randomSeed(), 'two();\n'));
    const out = join(dir, 'm.jws');
    const r = await noc([
      'release',
      '--key',
      rel.pem,
      '--base-url',
      'https://cdn.example.vn/loa/',
      '--delta-from',
      old.path,
      '--trusted',
      trusted,
      '--out',
      out,
      arm.path,
      amd.path,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /delta .*loa-1\.1\.0-to-1\.2\.0-arm64\.tar\.zst: \d+ bytes .* checked/);
    assert.match(r.err, /key release-2026 is trusted with the role release/);

    const { manifest: m } = verifyManifest(readFileSync(out, 'utf8'), [rel.entry as never], 'm.jws');
    assert.equal(m.version, '1.2.0');
    assert.equal(m.id, 'release-1.2.0');
    const full = (t: typeof arm) => ({
      url: `https://cdn.example.vn/loa/${basename(t.path)}`,
      sha256: t.sha256,
      bytes: t.bytes,
      tarSha256: t.tarSha256,
      installedBytes: t.installedBytes,
    });
    assert.deepEqual(m.artifacts.amd64, full(amd));
    const d = m.artifacts.arm64!.delta!;
    assert.deepEqual({ ...m.artifacts.arm64, delta: undefined }, { ...full(arm), delta: undefined });
    assert.equal(d.from, '1.1.0');
    assert.equal(d.url, 'https://cdn.example.vn/loa/loa-1.1.0-to-1.2.0-arm64.tar.zst');
    const deltaFile = join(dir, 'loa-1.1.0-to-1.2.0-arm64.tar.zst');
    assert.equal(sha256(readFileSync(deltaFile)), d.sha256);
    assert.ok(d.bytes < arm.bytes / 10, `delta ${d.bytes} bytes, full ${arm.bytes}`);
    // The box's side turns it into the new release's tar.
    await applyDelta({
      baseTarGz: old.path,
      deltaPath: deltaFile,
      outTar: join(dir, 'rebuilt.tar'),
      expectTarSha256: m.artifacts.arm64!.tarSha256,
    });

    // The update args rollout sends: the delta only to a box running its base.
    const o = { waitS: 3600, trialS: 180 };
    assert.deepEqual(updateArgs(m, 'arm64', '1.1.0', o), {
      version: '1.2.0',
      arch: 'arm64',
      ...full(arm),
      waitS: 3600,
      trialS: 180,
      delta: d,
    });
    assert.equal('delta' in updateArgs(m, 'arm64', '1.0.0', o)!, false);
    assert.equal(updateArgs(m, 'armhf', '1.1.0', o), undefined);
  },
);

test(
  'noc release refuses: a key without the release role, a stale sidecar, two versions, a delta for an arch not released',
  { skip: why ?? false },
  async () => {
    const dir = tempDir('noc-release-bad');
    const cmdKey = await key(dir, 'centre-2026');
    const rel = await key(dir, 'release-2026', 'release');
    const trusted = join(dir, 'trusted.json');
    writeFileSync(trusted, JSON.stringify([cmdKey.entry, rel.entry]));
    const a = makeRelease(dir, '2.0.0', 'arm64', releaseFiles(randomSeed(64 * 1024), 'a'));
    const b = makeRelease(dir, '2.0.1', 'amd64', releaseFiles(randomSeed(64 * 1024), 'b'));
    const base = ['release', '--base-url', 'https://cdn.example.vn/loa', '--trusted', trusted];

    let r = await noc([...base, '--key', cmdKey.pem, a.path]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /unknown-key: key centre-2026 is not trusted to sign a release manifest \(its roles: schedule, command\)/,
    );
    assert.equal(r.out, '', 'nothing printed as a manifest');

    r = await noc([...base, '--key', rel.pem, a.path, b.path]);
    assert.equal(r.code, 64);
    assert.match(r.err, /is version 2\.0\.1, .* is 2\.0\.0: one manifest is one version/);

    r = await noc([...base, '--key', rel.pem, '--delta-from', b.path, a.path]);
    assert.equal(r.code, 64);
    assert.match(r.err, /--delta-from .* is for amd64, and no tarball given is/);

    const side = join(dir, 'loa-2.0.0-arm64.json');
    writeFileSync(side, JSON.stringify({ ...JSON.parse(readFileSync(side, 'utf8')), sha256: 'f'.repeat(64) }));
    r = await noc([...base, '--key', rel.pem, a.path]);
    assert.equal(r.code, 1);
    assert.match(r.err, /names sha256 f{64}, but .* has [0-9a-f]{64}: the sidecar is from another build/);

    r = await noc([...base, '--key', rel.pem, join(dir, 'not-a-release.tgz')]);
    assert.equal(r.code, 64);
    assert.match(r.err, /expected a file named loa-<version>-<arch>\.tar\.gz/);
  },
);

test('verifyManifest: the agent JWS checks with the role release, then the manifest schema', async () => {
  const dir = tempDir('noc-release-verify');
  const rel = await key(dir, 'release-2026', 'release');
  const k = loadSigningKey(rel.pem, undefined);
  const trusted = [rel.entry as TrustedKey];
  const good = {
    type: 'release',
    id: 'release-1.2.0',
    issuedAt: new Date().toISOString(),
    version: '1.2.0',
    artifacts: {
      arm64: {
        url: 'https://x.example/a.tar.gz',
        sha256: 'a'.repeat(64),
        bytes: 10,
        tarSha256: 'b'.repeat(64),
        installedBytes: 50,
      },
    },
  };
  assert.equal(verifyManifest(signDoc(good, k, RELEASE_TYP), trusted, 'm').manifest.version, '1.2.0');
  assert.throws(
    () => verifyManifest(signDoc(good, k, COMMAND_TYP), [{ ...rel.entry, roles: ['command'] } as TrustedKey], 'm'),
    /m: unknown-key: key release-2026 is not trusted to sign a release/,
  );
  assert.throws(
    () => verifyManifest(signDoc(good, k, COMMAND_TYP), trusted, 'm'),
    /m: invalid: typ "loa-command\+json"/,
  );
  for (const [bad, msg] of [
    [{ ...good, artifacts: {} }, /artifacts: must name at least one arch/],
    [{ ...good, version: '../1' }, /version: must match/],
    [{ ...good, artifacts: { mips: good.artifacts.arm64 } }, /not a release manifest/],
    [
      { ...good, artifacts: { arm64: { ...good.artifacts.arm64, url: 'file:///etc/passwd' } } },
      /artifacts\.arm64\.url: must be an http\(s\) URL/,
    ],
  ] as const) {
    assert.throws(() => verifyManifest(signDoc(bad, k, RELEASE_TYP), trusted, 'm'), msg);
  }
});
