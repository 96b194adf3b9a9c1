// An Ogg Opus file (RFC 7845) written as a live session goes: the station's archive of
// what was said (issue [5/8]). One page per chunk of packets; the identification header
// names the input rate; the comment header carries who, when and to whom. Any player
// (opusdec, ffmpeg, a browser) reads it.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, initial 0). */
export function oggCrc(buf: Uint8Array): number {
  let crc = 0;
  for (const b of buf) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  return crc >>> 0;
}

/** Opus's pre-skip for libopus at 48 kHz (its encoder lookahead, 6.5 ms + 1.25 ms): what decoders drop. */
const PRE_SKIP = 312;

export class OggOpusWriter {
  private readonly fd: number;
  private seq = 0;
  private granule = 0n;
  private readonly serial = (Math.random() * 0xffffffff) >>> 0;

  constructor(path: string, inputRate: number, tags: Record<string, string>) {
    this.fd = openSync(path, 'wx');
    const head = Buffer.alloc(19);
    head.write('OpusHead', 0, 'latin1');
    head.writeUInt8(1, 8); // version
    head.writeUInt8(1, 9); // mono
    head.writeUInt16LE(PRE_SKIP, 10);
    head.writeUInt32LE(inputRate, 12);
    head.writeInt16LE(0, 16); // output gain
    head.writeUInt8(0, 18); // mapping family 0
    this.page([head], 0x02, 0n);
    const vendor = Buffer.from('loa noc live (libopus via opusscript)', 'utf8');
    const comments = Object.entries(tags).map(([k, v]) => Buffer.from(`${k.toUpperCase()}=${v}`, 'utf8'));
    const parts: Buffer[] = [Buffer.from('OpusTags', 'latin1'), u32(vendor.length), vendor, u32(comments.length)];
    for (const c of comments) parts.push(u32(c.length), c);
    this.page([Buffer.concat(parts)], 0, 0n);
  }

  /**
   * Packets of 20 ms each, one page. The page is held until the next one (or close()),
   * so the last page of the file carries the end-of-stream flag.
   */
  write(packets: readonly Buffer[]): void {
    if (packets.length === 0) return;
    this.flush(0);
    this.pending = packets;
  }

  /** The last page (end of stream) and the file synced to disk. */
  close(): void {
    this.flush(0x04);
    fsyncSync(this.fd);
    closeSync(this.fd);
  }

  private pending: readonly Buffer[] | null = null;

  private flush(flags: number): void {
    if (!this.pending) return;
    this.granule += BigInt(this.pending.length * 960);
    this.page(this.pending, flags, this.granule);
    this.pending = null;
  }

  private page(packets: readonly Buffer[], flags: number, granule: bigint): void {
    const lacing: number[] = [];
    for (const p of packets) {
      let n = p.length;
      while (n >= 255) {
        lacing.push(255);
        n -= 255;
      }
      lacing.push(n);
    }
    if (lacing.length > 255) throw new Error('an Ogg page holds at most 255 segments');
    const header = Buffer.alloc(27 + lacing.length);
    header.write('OggS', 0, 'latin1');
    header.writeUInt8(0, 4);
    header.writeUInt8(flags, 5);
    header.writeBigInt64LE(granule, 6);
    header.writeUInt32LE(this.serial, 14);
    header.writeUInt32LE(this.seq++, 18);
    header.writeUInt32LE(0, 22);
    header.writeUInt8(lacing.length, 26);
    lacing.forEach((l, i) => header.writeUInt8(l, 27 + i));
    const page = Buffer.concat([header, ...packets]);
    page.writeUInt32LE(oggCrc(page), 22);
    writeSync(this.fd, page);
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
