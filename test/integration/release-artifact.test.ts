// The OTA release artifact (issue [5/8] item 1, docs/ota.md): `npm run release` builds
// loa-<v>-<arch>.tar.gz for this machine's arch with the real build, the real pruning
// and the real tar; built twice from the same tree it has the same sha256 (what the
// signed manifest names), and its sidecar JSON says what the tarball is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { REPO_ROOT } from '../helpers/agent-process.js';
import { tempDir } from '../helpers/tmp.js';

const ARCH = spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).stdout.trim();
const why = !ARCH ? 'dpkg not found (needed for the Debian arch)' : undefined;
if (why && process.env.CI === 'true') throw new Error(`release artifact test cannot run: ${why}`);

function release(args: string[], env: Record<string, string> = {}) {
  return spawnSync('sh', [join(REPO_ROOT, 'systemd/release.sh'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 300_000,
  });
}
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The member names of a (GNU) tar, and the text of the small ones asked for. */
function tarEntries(tar: Buffer, want: string[]): { names: string[]; files: Map<string, string>; owners: Set<string> } {
  const names: string[] = [];
  const files = new Map<string, string>();
  const owners = new Set<string>();
  let long: string | undefined; // GNU tar: a name over 100 bytes comes in an 'L' entry before its header
  for (let off = 0; off + 512 <= tar.length;) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    const data = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (String.fromCharCode(h[156]!) === 'L') {
      long = data.toString('utf8').replace(/\0.*$/s, '');
      continue;
    }
    const name = long ?? h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    long = undefined;
    owners.add(
      `${parseInt(h.subarray(108, 116).toString('ascii'), 8)}:${parseInt(h.subarray(116, 124).toString('ascii'), 8)}`,
    );
    names.push(name);
    if (want.includes(name)) files.set(name, data.toString('utf8'));
  }
  return { names, files, owners };
}

test(
  'npm run release: one deterministic tarball per arch, with RELEASE.json, production node_modules and its sidecar',
  { skip: why ?? false, timeout: 600_000 },
  () => {
    const a = tempDir('release-a');
    const b = tempDir('release-b');
    const env = { SOURCE_DATE_EPOCH: '1795000000' };
    const first = release(['--version', '9.8.7-test.1', '--out', a], env);
    assert.equal(first.status, 0, first.stderr + first.stdout);
    const second = release(['--no-build', '--version', '9.8.7-test.1', '--out', b], env);
    assert.equal(second.status, 0, second.stderr + second.stdout);
    const name = `loa-9.8.7-test.1-${ARCH}`;
    const gzA = readFileSync(join(a, `${name}.tar.gz`));
    const gzB = readFileSync(join(b, `${name}.tar.gz`));
    assert.equal(sha256(gzA), sha256(gzB), 'the same tree gives the same bytes');

    // The table and the sidecar describe the tarball.
    const side = JSON.parse(readFileSync(join(a, `${name}.json`), 'utf8')) as Record<string, unknown>;
    const tar = gunzipSync(gzA);
    assert.deepEqual(
      { ...side, installedBytes: typeof side.installedBytes },
      {
        path: join(a, `${name}.tar.gz`),
        version: '9.8.7-test.1',
        arch: ARCH,
        bytes: gzA.length,
        sha256: sha256(gzA),
        tarSha256: sha256(tar),
        installedBytes: 'number',
      },
    );
    assert.ok(
      (side.installedBytes as number) > tar.length * 0.8,
      `installedBytes ${String(side.installedBytes)} is about the tree's size (tar ${tar.length})`,
    );
    assert.match(
      first.stdout,
      new RegExp(`${name}\\.tar\\.gz +${gzA.length} +${sha256(gzA)} +${sha256(tar)} +${String(side.installedBytes)}`),
    );

    const top = 'loa/';
    const { names, files, owners } = tarEntries(tar, [`${top}RELEASE.json`, `${top}package.json`]);
    assert.ok(
      names.every((n) => n.startsWith(top)),
      'one top directory',
    );
    assert.deepEqual([...owners], ['0:0']);
    assert.deepEqual(JSON.parse(files.get(`${top}RELEASE.json`)!), {
      version: '9.8.7-test.1',
      arch: ARCH,
      node: '>=20',
      builtAt: new Date(1795000000 * 1000).toISOString().replace('.000Z', 'Z'),
    });
    const pkg = JSON.parse(files.get(`${top}package.json`)!) as { version: string; scripts: Record<string, string> };
    assert.equal(pkg.version, '9.8.7-test.1');
    assert.equal(pkg.scripts.prepare, undefined);
    for (const f of [
      'dist/agent/main.js',
      'package-lock.json',
      'agent/demo-assets/chime.mp3',
      'systemd/loa-agent.service',
      'systemd/install.sh',
      'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
      'node_modules/mqtt/package.json',
    ]) {
      assert.ok(names.includes(top + f), `${f} is in the release`);
    }
    assert.equal(
      names.includes(`${top}systemd/loa-launch`),
      existsSync(join(REPO_ROOT, 'systemd/loa-launch')),
      'loa-launch is carried when the checkout has it',
    );
    assert.ok(
      !names.some((n) => n.startsWith(`${top}node_modules/typescript/`) || n.startsWith(`${top}node_modules/tsx/`)),
      'no dev dependencies',
    );
    assert.ok(!names.some((n) => n.startsWith(`${top}node_modules/better-sqlite3/deps/`)), 'native sources pruned');
    assert.ok(!names.some((n) => n.includes('/obj.target/')), "the linker's second copy of each .node pruned");
  },
);

test(
  'npm run release refuses a version that cannot name a directory, and an unknown arch, saying why',
  { skip: why ?? false },
  () => {
    for (const [args, msg] of [
      [['--version', '../1.0'], /--version \.\.\/1\.0: expected a version like 1\.2\.0/],
      [['--version', '1..2'], /expected a version/],
      [['--arch', 'mips'], /--arch mips: expected amd64, arm64 or armhf/],
    ] as const) {
      const r = release(['--no-build', ...args, '--out', tempDir('release-bad')]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, msg);
    }
  },
);
