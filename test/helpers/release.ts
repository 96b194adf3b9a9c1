// Small release tarballs for tests of the OTA centre side (noc release, noc rollout) and
// the delta: laid out and packed as systemd/release.sh does (one top dir loa/, the
// same tar flags, gzip -n, the sidecar JSON), with the real tar, gzip and zstd, but with
// a few files instead of a built agent, so a test makes one in milliseconds.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface TestRelease {
  path: string;
  version: string;
  arch: string;
  bytes: number;
  sha256: string;
  tarSha256: string;
  installedBytes: number;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Why the delta tests cannot run here (zstd missing), or undefined. */
export function zstdMissing(): string | undefined {
  return spawnSync('zstd', ['--version']).status === 0 ? undefined : 'zstd not found (apt-get install zstd)';
}

/**
 * The shared payload of two "consecutive releases": `size` bytes of incompressible
 * data (as node_modules' binaries are, to a compressor) plus a JS file.
 */
export function releaseFiles(seed: Buffer, js: string): Record<string, string | Buffer> {
  return { 'dist/agent/main.js': js, 'node_modules/blob.bin': seed, 'package.json': '{"name":"loa"}\n' };
}

export function randomSeed(bytes = 512 * 1024): Buffer {
  return randomBytes(bytes);
}

export function makeRelease(
  outDir: string,
  version: string,
  arch: string,
  files: Record<string, string | Buffer>,
): TestRelease {
  const work = join(outDir, `.tree-${version}-${arch}`);
  const top = 'loa';
  for (const [rel, content] of Object.entries({
    ...files,
    'RELEASE.json': JSON.stringify({ version, arch, node: '>=20', builtAt: '2026-11-27T00:00:00Z' }) + '\n',
  })) {
    const p = join(work, top, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  const name = `loa-${version}-${arch}`;
  const tar = spawnSync(
    'tar',
    [
      '-C',
      work,
      '--sort=name',
      '--mtime=@1795000000',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--format=gnu',
      '-cf',
      '-',
      top,
    ],
    { maxBuffer: 1 << 30 },
  );
  if (tar.status !== 0) throw new Error(`tar: ${tar.stderr.toString()}`);
  const gz = spawnSync('gzip', ['-n', '-9', '-c'], { input: tar.stdout, maxBuffer: 1 << 30 });
  if (gz.status !== 0) throw new Error(`gzip: ${gz.stderr.toString()}`);
  const path = join(outDir, `${name}.tar.gz`);
  writeFileSync(path, gz.stdout);
  const r: TestRelease = {
    path,
    version,
    arch,
    bytes: gz.stdout.length,
    sha256: sha256(gz.stdout),
    tarSha256: sha256(tar.stdout),
    installedBytes: tar.stdout.length,
  };
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify(r) + '\n');
  return r;
}

/** The uncompressed tar of a .tar.gz. */
export function innerTar(path: string): Buffer {
  return gunzipSync(readFileSync(path));
}
