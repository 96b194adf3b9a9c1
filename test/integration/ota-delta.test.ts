// Deltas over 4G (issue [5/8] item 5): the centre's `noc release --delta-from` makes a
// zstd --patch-from delta and signs the manifest; `noc rollout`'s args for a box running
// the delta's base carry it; the box downloads only the delta, rebuilds the tar, checks
// its sha256 and installs it. A delta that does not rebuild the release (made from
// another base) is downloaded, refused, and the full artifact is fetched instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { packRelease, type Artifact } from '../helpers/releases.js';
import { otaRig } from '../helpers/ota-rig.js';
import { main as noc } from '../../noc/cli.js';
import { updateArgs, verifyManifest, type Manifest } from '../../noc/release-manifest.js';
import { debianArch } from '../../agent/runtime/updater.js';

const arch = debianArch() as 'amd64' | 'arm64' | 'armhf';
const name = (a: Artifact) => a.path.split('/').pop()!;

test(
  'a delta from the running release is used, and one that does not rebuild it falls back to the full artifact',
  { timeout: 300_000 },
  async () => {
    const r = await otaRig({ deviceId: 'ota-delta' });
    try {
      const keyFile = join(r.dir, 'release.key.pem');
      writeFileSync(keyFile, r.release.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 });
      const trusted = [{ kid: r.release.kid, publicKey: r.release.publicKey, roles: ['release' as const] }];
      const release = async (a: Artifact, from?: Artifact): Promise<Manifest> => {
        const out = join(r.dir, `manifest-${a.version}.jws`);
        const lines: string[] = [];
        const io = {
          out: (l: string) => lines.push(l),
          err: (l: string) => lines.push(l),
          write: () => {},
          isTTY: false,
        };
        const code = await noc(
          [
            'release',
            '--key',
            keyFile,
            '--kid',
            r.release.kid,
            '--base-url',
            r.baseUrl,
            ...(from ? ['--delta-from', from.path] : []),
            '--out',
            out,
            a.path,
          ],
          io,
        );
        assert.equal(code, 0, lines.join('\n'));
        return verifyManifest(readFileSync(out, 'utf8'), trusted, out).manifest;
      };
      await r.birth('1.0.0', 60_000);
      // Another build of 1.0.0 whose tar differs from 2.0.0's and 3.0.0's in more than the
      // version (a file of random bytes shifts what follows): a delta made from it cannot
      // rebuild 4.0.0 from 3.0.0. (From a plain 1.0.0 it could: these test releases differ
      // only where the delta carries the bytes itself.)
      const v1 = packRelease('1.0.0', 'good', { 'dist/agent/0-padding.bin': randomBytes(256 * 1024) });
      const v2 = packRelease('2.0.0');
      const v3 = packRelease('3.0.0');
      const v4 = packRelease('4.0.0');

      // 1.0.0 -> 2.0.0: the box was installed without an artifact, so the full one.
      const m2 = await release(v2);
      r.serve(v2);
      const id2 = await r.update(v2, updateArgs(m2, arch, '1.0.0', { waitS: 600, trialS: 30 }));
      await r.event('update.committed', id2, 120_000);

      // 2.0.0 -> 3.0.0 with the delta from 2.0.0: only the delta crosses the wire.
      const m3 = await release(v3, v2);
      const d3 = m3.artifacts[arch]!.delta!;
      r.serve(v3);
      r.serve(join(v3.path, '..', d3.url.split('/').pop()!));
      const args3 = updateArgs(m3, arch, '2.0.0', { waitS: 600, trialS: 30 })!;
      assert.ok(args3.delta, 'rollout offers the delta to a box running its base');
      const id3 = await r.update(v3, args3);
      const started = await r.event('update.started', id3, 60_000);
      assert.equal(started.delta, true);
      await r.event('update.committed', id3, 120_000);
      assert.ok(r.hits.includes(`/releases/${d3.url.split('/').pop()}`), 'the delta was fetched');
      assert.ok(!r.hits.includes(`/releases/${name(v3)}`), `the full artifact was not (hits: ${r.hits.join(', ')})`);
      assert.equal(readlinkSync(join(r.root, 'current')), 'releases/3.0.0');
      process.stdout.write(
        `# OTA delta 2.0.0 -> 3.0.0: ${d3.bytes} bytes instead of ${v3.bytes} (${((d3.bytes / v3.bytes) * 100).toFixed(1)}%)\n`,
      );

      // 3.0.0 -> 4.0.0 offered a delta made from 1.0.0 (a centre's mistake): it verifies as a
      // download, does not rebuild 4.0.0, and the full artifact is fetched instead.
      const m4 = await release(v4, v1);
      const d4 = m4.artifacts[arch]!.delta!;
      r.serve(v4);
      r.serve(join(v4.path, '..', d4.url.split('/').pop()!));
      const args4 = { ...updateArgs(m4, arch, '1.0.0', { waitS: 600, trialS: 30 })!, delta: { ...d4, from: '3.0.0' } };
      const id4 = await r.update(v4, args4);
      await r.event('update.committed', id4, 120_000);
      assert.ok(r.hits.includes(`/releases/${d4.url.split('/').pop()}`), 'the delta was tried');
      assert.ok(r.hits.includes(`/releases/${name(v4)}`), 'then the full artifact');
      assert.match(r.box.output(), /delta did not verify; downloading the full release/);
      assert.equal(readlinkSync(join(r.root, 'current')), 'releases/4.0.0');
      assert.ok(statSync(join(r.root, 'releases/4.0.0/.artifact.tar.gz')).size > 0, 'the next delta has its base');
    } finally {
      await r.close();
    }
  },
);
