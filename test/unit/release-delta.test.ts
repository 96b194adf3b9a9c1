// applyDelta (contract/release-delta.ts), the box's half of issue [5/8] item 5,
// with the real gzip and zstd: a delta made by zstd --patch-from rebuilds the new tar
// exactly; a wrong base, a corrupt delta, a wrong expected hash or a missing zstd each
// throw a clear error and leave neither the output nor a temporary file behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyDelta, DELTA_LONG } from '../../contract/release-delta.js';
import { tempDir } from '../helpers/tmp.js';
import { innerTar, makeRelease, randomSeed, releaseFiles, sha256, zstdMissing } from '../helpers/release.js';

const why = zstdMissing();
if (why && process.env.CI === 'true') throw new Error(`release-delta tests cannot run: ${why}`);

function setup() {
  const dir = tempDir('delta');
  const seed = randomSeed();
  const old = makeRelease(dir, '1.1.0', 'arm64', releaseFiles(seed, 'console.log("one");\n'));
  const neu = makeRelease(dir, '1.2.0', 'arm64', releaseFiles(seed, 'console.log("two");\n'));
  writeFileSync(join(dir, 'old.tar'), innerTar(old.path));
  writeFileSync(join(dir, 'new.tar'), innerTar(neu.path));
  const delta = join(dir, 'd.tar.zst');
  const z = spawnSync('zstd', [
    '-q',
    '-19',
    `--long=${DELTA_LONG}`,
    `--patch-from=${join(dir, 'old.tar')}`,
    join(dir, 'new.tar'),
    '-o',
    delta,
  ]);
  assert.equal(z.status, 0, z.stderr.toString());
  const box = tempDir('delta-box'); // where the box works: nothing but the output may remain
  return { dir, old, neu, delta, box, out: join(box, 'new.tar') };
}

test(
  'a delta rebuilds the new release tar byte for byte, far smaller than the tarball',
  { skip: why ?? false },
  async () => {
    const s = setup();
    assert.ok(
      readFileSync(s.delta).length < s.neu.bytes / 20,
      `delta ${readFileSync(s.delta).length} bytes vs tarball ${s.neu.bytes}`,
    );
    await applyDelta({ baseTarGz: s.old.path, deltaPath: s.delta, outTar: s.out, expectTarSha256: s.neu.tarSha256 });
    assert.equal(sha256(readFileSync(s.out)), s.neu.tarSha256);
    assert.deepEqual(readdirSync(s.box), ['new.tar'], 'temporary files removed');
  },
);

test(
  'a wrong expected hash, a delta from another base, a corrupt delta: each refused clearly, nothing left',
  { skip: why ?? false },
  async () => {
    const s = setup();
    const other = makeRelease(s.dir, '1.0.9', 'arm64', releaseFiles(randomSeed(), 'x'));
    const corrupt = join(s.dir, 'corrupt.tar.zst');
    const bytes = readFileSync(s.delta);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(corrupt, bytes);
    const cases: [Parameters<typeof applyDelta>[0], RegExp][] = [
      [
        { baseTarGz: s.old.path, deltaPath: s.delta, outTar: s.out, expectTarSha256: s.old.tarSha256 },
        /the rebuilt tar has sha256 [0-9a-f]{64}, not the release's tarSha256 .*use the full tarball/,
      ],
      [
        { baseTarGz: other.path, deltaPath: s.delta, outTar: s.out, expectTarSha256: s.neu.tarSha256 },
        /delta: (zstd could not apply|the rebuilt tar has sha256)/,
      ],
      [
        { baseTarGz: s.old.path, deltaPath: corrupt, outTar: s.out, expectTarSha256: s.neu.tarSha256 },
        /delta: (zstd could not apply .*corrupt\.tar\.zst|the rebuilt tar has sha256)/,
      ],
      [
        {
          baseTarGz: join(s.dir, 'missing.tar.gz'),
          deltaPath: s.delta,
          outTar: s.out,
          expectTarSha256: s.neu.tarSha256,
        },
        /delta: cannot decompress the base release .*missing\.tar\.gz: gzip -dc .*: exit 1/,
      ],
      [
        {
          baseTarGz: s.old.path,
          deltaPath: s.delta,
          outTar: s.out,
          expectTarSha256: s.neu.tarSha256,
          zstd: '/nonexistent/zstd',
        },
        /zstd could not apply .*\/nonexistent\/zstd not found \(exit 127\)/,
      ],
      [
        { baseTarGz: s.old.path, deltaPath: s.delta, outTar: s.out, expectTarSha256: 'ABC' },
        /expectTarSha256 "ABC" is not 64 lowercase hex digits/,
      ],
    ];
    for (const [o, msg] of cases) {
      await assert.rejects(applyDelta(o), msg);
      assert.equal(existsSync(s.out), false, 'no output');
      assert.deepEqual(readdirSync(s.box), [], 'no temporary file left');
    }
  },
);

test(
  'a delta whose output passes maxBytes (the manifest size) is stopped before the sha256 check, nothing left; within it, rebuilt as before',
  { skip: why ?? false },
  async () => {
    const s = setup();
    // A tiny delta that expands to 64 MiB of zeros: the kind of file that filled 1 GiB of a box's disk.
    const bomb = join(s.dir, 'bomb.tar');
    writeFileSync(bomb, Buffer.concat([readFileSync(join(s.dir, 'old.tar')), Buffer.alloc(64 * 1024 * 1024)]));
    const delta = join(s.dir, 'bomb.tar.zst');
    const z = spawnSync('zstd', [
      '-q',
      '-19',
      `--long=${DELTA_LONG}`,
      `--patch-from=${join(s.dir, 'old.tar')}`,
      bomb,
      '-o',
      delta,
    ]);
    assert.equal(z.status, 0, z.stderr.toString());
    assert.ok(readFileSync(delta).length < 64 * 1024, `the delta is ${readFileSync(delta).length} bytes`);
    await assert.rejects(
      applyDelta({
        baseTarGz: s.old.path,
        deltaPath: delta,
        outTar: s.out,
        expectTarSha256: s.neu.tarSha256,
        maxBytes: 4 * 1024 * 1024,
      }),
      /delta: zstd could not apply .*the rebuilt tar passed 4194304 bytes/,
    );
    assert.deepEqual(readdirSync(s.box), [], 'neither output nor temporary file left');
    await applyDelta({
      baseTarGz: s.old.path,
      deltaPath: s.delta,
      outTar: s.out,
      expectTarSha256: s.neu.tarSha256,
      maxBytes: 64 * 1024 * 1024,
    });
    assert.equal(
      sha256(readFileSync(s.out)),
      s.neu.tarSha256,
      'a delta within the cap rebuilds the tar through the capped path',
    );
  },
);
