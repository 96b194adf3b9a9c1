// Every member of a release tarball checked before anything is written (issue [2/8] item
// 3, docs/ota.md §4): the box unpacks with `tar -xf --strip-components=1`, and GNU tar
// then writes a member named `loa//abs/path` to `/abs/path` (exit 0), follows a symlink
// member out of the tree, and creates device files as root. The release key signs the
// artifact's hash, so only a key holder's mistake (or a stolen key) gets here, but what it
// could overwrite is the rollback target. So the archive is read once, header by header
// (ustar, GNU long names, pax paths), and refused at the first member that:
// - is absolute or has an empty or `..` component once the first component is stripped;
// - is a symlink or hard link whose target leaves the tree;
// - is anything but a file, a directory or such a link (devices, FIFOs, sparse files);
// - would make the unpacked tree larger than `maxBytes` (a size the manifest names).
// Streamed: memory is a few blocks whatever the archive's size.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { posix } from 'node:path';

export class TarMemberError extends Error {}

interface Header {
  name: string;
  type: string;
  size: number;
  linkname: string;
}

const BLOCK = 512;

function field(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function octal(b: Buffer, off: number, len: number): number {
  // Base-256 (GNU) for sizes past 8 GiB: high bit of the first byte set.
  if (b[off]! & 0x80) {
    let n = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) n = n * 256 + b[off + i]!;
    return n;
  }
  const s = field(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarMemberError(`not a tar archive (a size field reads ${JSON.stringify(s)})`);
  return parseInt(s, 8);
}

function parseHeader(b: Buffer): Header {
  const sum = octal(b, 148, 8);
  let calc = 0;
  for (let i = 0; i < BLOCK; i++) calc += i >= 148 && i < 156 ? 32 : b[i]!;
  if (sum !== calc) throw new TarMemberError('not a tar archive (a header checksum does not match)');
  const prefix = field(b, 257, 6).startsWith('ustar') ? field(b, 345, 155) : '';
  const name = field(b, 0, 100);
  return {
    name: prefix ? `${prefix}/${name}` : name,
    type: String.fromCharCode(b[156] || 48),
    size: octal(b, 124, 12),
    linkname: field(b, 157, 100),
  };
}

/** pax extended header records: "<len> key=value\n". */
function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(data.subarray(i, sp).toString());
    if (!Number.isInteger(len) || len <= 0 || i + len > data.length)
      throw new TarMemberError('a pax header is malformed');
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** The path a member lands at below the tree after `--strip-components=1`, or why it cannot. */
export function strippedPath(name: string): string | { refused: string } {
  if (name.includes('\0')) return { refused: 'contains a NUL byte' };
  if (name.startsWith('/')) return { refused: 'is absolute' };
  const parts = name.replace(/\/+$/, '').split('/');
  const rest = parts.slice(1);
  if (rest.length === 0) return ''; // the top directory itself
  if (rest.some((p) => p === '')) return { refused: 'has an empty component (GNU tar would write it from /)' };
  if (rest.some((p) => p === '..')) return { refused: 'has a ".." component' };
  return rest.filter((p) => p !== '.').join('/');
}

function checkMember(h: Header, path: string): void {
  const where = `member ${JSON.stringify(h.name)}`;
  switch (h.type) {
    case '0':
    case '7':
    case '5':
      return;
    case '1':
    case '2': {
      // Hard link names are archive paths (stripped like the member); symlinks are relative to the member's directory.
      const kind = h.type === '2' ? 'symlink' : 'hard link';
      if (h.linkname.startsWith('/'))
        throw new TarMemberError(`${where}: ${kind} to the absolute path ${JSON.stringify(h.linkname)}`);
      const target =
        h.type === '1' ? strippedPath(h.linkname) : posix.normalize(posix.join(posix.dirname(path), h.linkname));
      if (typeof target !== 'string' || target === '' || target === '..' || target.startsWith('../'))
        throw new TarMemberError(`${where}: ${kind} to ${JSON.stringify(h.linkname)} leaves the release tree`);
      return;
    }
    default:
      throw new TarMemberError(
        `${where}: type ${JSON.stringify(h.type)} (a device, FIFO or other special file) has no place in a release`,
      );
  }
}

/**
 * Reads the (gzipped when `gzip`) tar at `path` and throws TarMemberError at the first
 * member the box must not unpack; resolves with the member count and unpacked bytes.
 */
export async function checkTarMembers(
  path: string,
  o: { gzip: boolean; maxBytes: number },
): Promise<{ members: number; bytes: number }> {
  const src = createReadStream(path);
  const stream = o.gzip ? src.pipe(createGunzip()) : src;
  let buf: Buffer = Buffer.alloc(0);
  let members = 0;
  let bytes = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  let want:
    | { kind: 'header' }
    | { kind: 'skip'; left: number }
    | { kind: 'collect'; left: number; pad: number; into: 'L' | 'K' | 'x'; parts: Buffer[] } = { kind: 'header' };
  let zeros = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (true) {
        if (want.kind === 'skip') {
          const n = Math.min(want.left, buf.length);
          buf = buf.subarray(n);
          want.left -= n;
          if (want.left > 0) break;
          want = { kind: 'header' };
          continue;
        }
        if (want.kind === 'collect') {
          const n = Math.min(want.left, buf.length);
          want.parts.push(buf.subarray(0, n));
          buf = buf.subarray(n);
          want.left -= n;
          if (want.left > 0) break;
          const data = Buffer.concat(want.parts);
          if (want.into === 'x') pax = { ...pax, ...paxRecords(data) };
          else if (want.into === 'L') longName = field(data, 0, data.length);
          else longLink = field(data, 0, data.length);
          want = want.pad > 0 ? { kind: 'skip', left: want.pad } : { kind: 'header' };
          continue;
        }
        if (buf.length < BLOCK) break;
        const block = buf.subarray(0, BLOCK);
        buf = buf.subarray(BLOCK);
        if (block.every((x) => x === 0)) {
          if (++zeros >= 2) return { members, bytes };
          continue;
        }
        zeros = 0;
        const h = parseHeader(block);
        const padded = Math.ceil(h.size / BLOCK) * BLOCK;
        if (h.type === 'L' || h.type === 'K' || h.type === 'x') {
          if (h.size > 1 << 20) throw new TarMemberError(`a ${h.type} header of ${h.size} bytes`);
          want = { kind: 'collect', left: h.size, pad: padded - h.size, into: h.type, parts: [] };
          continue;
        }
        if (h.type === 'g') {
          want = { kind: 'skip', left: padded };
          continue;
        }
        const name = pax.path ?? longName ?? h.name;
        const linkname = pax.linkpath ?? longLink ?? h.linkname;
        const size = pax.size !== undefined ? Number(pax.size) : h.size;
        longName = longLink = undefined;
        pax = {};
        const member = { ...h, name, linkname, size };
        const stripped = strippedPath(name);
        if (typeof stripped !== 'string')
          throw new TarMemberError(`member ${JSON.stringify(name)} ${stripped.refused}`);
        checkMember(member, stripped);
        members++;
        bytes += size;
        if (bytes > o.maxBytes)
          throw new TarMemberError(
            `the release unpacks to more than ${o.maxBytes} bytes (the manifest's size, with its margin); refused before writing anything`,
          );
        const dataBlocks = Math.ceil(size / BLOCK) * BLOCK;
        if (dataBlocks > 0) want = { kind: 'skip', left: dataBlocks };
      }
    }
  } catch (err) {
    if (err instanceof TarMemberError) throw err;
    throw new TarMemberError(`the release archive cannot be read: ${(err as Error).message}`);
  } finally {
    src.destroy();
  }
  if (members === 0) throw new TarMemberError('the release archive holds no member');
  return { members, bytes };
}
