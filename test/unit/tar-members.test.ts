// A release tarball's members, checked before anything is unpacked (agent/adapters/
// tar-members.ts), on archives GNU tar itself makes: what the box's `tar -xf
// --strip-components=1` would write outside the release tree, or as a special file, or
// past the manifest's size, is refused naming the member; a release as `npm run
// release` lays it out (files, directories, relative symlinks inside it) passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync, linkSync } from 'node:fs';
import { join } from 'node:path';
import { checkTarMembers, strippedPath } from '../../agent/adapters/tar-members.js';
import { compareVersions, downgradeRefusal } from '../../contract/versions.js';
import { tempDir } from '../helpers/tmp.js';

function tree(): string {
  const dir = tempDir('tarm');
  mkdirSync(join(dir, 'loa/dist/agent'), { recursive: true });
  mkdirSync(join(dir, 'loa/node_modules/.bin'), { recursive: true });
  writeFileSync(join(dir, 'loa/dist/agent/main.js'), 'console.log(1)\n');
  symlinkSync('../../dist/agent/main.js', join(dir, 'loa/node_modules/.bin/loa'));
  return dir;
}

function tar(dir: string, out: string, args: string[]): string {
  const path = join(dir, out);
  const r = spawnSync('tar', ['-C', dir, ...args, '-f', path, ...(args.includes('--files-from') ? [] : ['loa'])]);
  assert.equal(r.status, 0, r.stderr.toString());
  return path;
}

const MB = 1024 * 1024;
const refused = (p: Promise<unknown>, re: RegExp) => assert.rejects(p, re);

test('a release laid out as npm run release does (files, directories, a relative symlink inside) passes, gzipped or not', async () => {
  const dir = tree();
  const gz = await checkTarMembers(tar(dir, 'r.tar.gz', ['-cz']), { gzip: true, maxBytes: MB });
  assert.deepEqual(gz, { members: 7, bytes: 15 });
  assert.equal(
    (await checkTarMembers(tar(dir, 'r.tar', ['-c', '--format=pax']), { gzip: false, maxBytes: MB })).members,
    7,
  );
});

test('members that leave the tree after --strip-components=1 are refused before anything is written', async () => {
  const dir = tree();
  const evil = (name: string, fmt = 'gnu') =>
    tar(dir, `${name.replace(/\W/g, '_')}-${fmt}.tar`, [
      '-c',
      `--format=${fmt}`,
      '--transform',
      `s,^loa/dist/agent/main.js,${name},`,
    ]);
  // GNU tar writes this one to /abs/path, exit 0 (seen on the box's own tar).
  await refused(
    checkTarMembers(evil('loa//abs/path'), { gzip: false, maxBytes: MB }),
    /member "loa\/\/abs\/path" has an empty component/,
  );
  await refused(checkTarMembers(evil('loa//abs/path', 'pax'), { gzip: false, maxBytes: MB }), /has an empty component/);
  await refused(
    checkTarMembers(evil('loa/../../etc/cron.d/x'), { gzip: false, maxBytes: MB }),
    /has a "\.\." component/,
  );
  const long = `loa//${'d'.repeat(120)}/x`; // past ustar's 100 bytes: a GNU long name or a pax path
  await refused(checkTarMembers(evil(long), { gzip: false, maxBytes: MB }), /has an empty component/);
  await refused(checkTarMembers(evil(long, 'pax'), { gzip: false, maxBytes: MB }), /has an empty component/);
  assert.deepEqual(strippedPath('loa/dist/./a.js'), 'dist/a.js');
  assert.deepEqual(strippedPath('/loa/x'), { refused: 'is absolute' });
});

test('links out of the tree, special files and a release past its size are refused', async () => {
  const dir = tree();
  symlinkSync('../../../../var/lib/loa', join(dir, 'loa/dist/escape'));
  await refused(
    checkTarMembers(tar(dir, 'sym.tar', ['-c']), { gzip: false, maxBytes: MB }),
    /member "loa\/dist\/escape": symlink to "\.\.\/\.\.\/\.\.\/\.\.\/var\/lib\/loa" leaves the release tree/,
  );
  const abs = tree();
  symlinkSync('/etc/shadow', join(abs, 'loa/dist/abs'));
  await refused(
    checkTarMembers(tar(abs, 'abs.tar', ['-c']), { gzip: false, maxBytes: MB }),
    /symlink to the absolute path "\/etc\/shadow"/,
  );
  const hard = tree();
  writeFileSync(join(hard, 'outside'), 'x');
  linkSync(join(hard, 'outside'), join(hard, 'loa/dist/hard'));
  writeFileSync(join(hard, 'list'), 'outside\nloa/dist/hard\n');
  await refused(
    checkTarMembers(tar(hard, 'hard.tar', ['-c', '--files-from', join(hard, 'list')]), { gzip: false, maxBytes: MB }),
    /member "loa\/dist\/hard": hard link to "outside" leaves the release tree/,
  );
  const fifo = tree();
  spawnSync('mkfifo', [join(fifo, 'loa/dist/pipe')]);
  await refused(
    checkTarMembers(tar(fifo, 'fifo.tar', ['-c']), { gzip: false, maxBytes: MB }),
    /member "loa\/dist\/pipe": type "6" \(a device, FIFO or other special file\)/,
  );
  const big = tree();
  writeFileSync(join(big, 'loa/dist/big.bin'), Buffer.alloc(2 * MB));
  await refused(
    checkTarMembers(tar(big, 'big.tar.gz', ['-cz']), { gzip: true, maxBytes: MB }),
    /unpacks to more than 1048576 bytes/,
  );
  const junk = join(big, 'junk.tar');
  writeFileSync(junk, Buffer.alloc(4096, 7));
  await refused(checkTarMembers(junk, { gzip: false, maxBytes: MB }), /not a tar archive/);
  await refused(checkTarMembers(junk, { gzip: true, maxBytes: MB }), /cannot be read/);
});

test('versions: semver order; a downgrade only with allowDowngrade', () => {
  const order = ['0.9.0', '1.0.0-rc.1', '1.0.0-rc.2', '1.0.0-rc.10', '1.0.0', '1.0.1', '1.2.0', '1.10.0', '2.0.0'];
  for (let i = 0; i < order.length; i++)
    for (let j = 0; j < order.length; j++)
      assert.equal(Math.sign(compareVersions(order[i]!, order[j]!)), Math.sign(i - j), `${order[i]} vs ${order[j]}`);
  assert.equal(downgradeRefusal('1.2.0', '1.2.0', false), null);
  assert.equal(downgradeRefusal('1.3.0', '1.2.0', false), null);
  assert.match(
    downgradeRefusal('1.1.9', '1.2.0', false) ?? '',
    /version 1\.1\.9 is older than the running 1\.2\.0: a downgrade needs args\.allowDowngrade true/,
  );
  assert.equal(downgradeRefusal('1.1.9', '1.2.0', true), null);
});
