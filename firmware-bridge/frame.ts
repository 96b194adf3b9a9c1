// One frame of the board protocol (PROTOCOL.md §2), pure: no streams, no I/O.
//
//   offset 0    1    2    3    4     5 .. 5+LEN-1   5+LEN  6+LEN
//          SOF  LEN  VER  SEQ  TYPE  PAYLOAD        CRC_hi CRC_lo
//          A5
//
// LEN counts PAYLOAD bytes only (0..MAX_PAYLOAD). The CRC is CRC-16/IBM-3740
// (a.k.a. CRC-16/CCITT-FALSE) over LEN..end of PAYLOAD (the SOF is not covered),
// sent high byte first. Invariant: a byte buffer is a frame iff inspectFrame says 'ok'.

/** Start of frame. 0xA5 = 10100101: alternating bits, unlikely as idle-line noise (0x00/0xFF). */
export const SOF = 0xa5;
export const PROTOCOL_VERSION = 1;
/** The minor version this side implements (PROTOCOL.md §6): compatible additions, not on the VER byte. */
export const PROTOCOL_MINOR = 2;
/** SOF, LEN, VER, SEQ, TYPE. */
export const HEADER_LEN = 5;
export const CRC_LEN = 2;
/** Largest payload: fits the board's 128-byte UART ring with room for a second frame. */
export const MAX_PAYLOAD = 64;
export const MAX_FRAME = HEADER_LEN + MAX_PAYLOAD + CRC_LEN; // 71

export interface Frame {
  version: number;
  seq: number;
  type: number;
  payload: Buffer;
}

/** The fields of a frame to send; `version` defaults to PROTOCOL_VERSION, `payload` to empty. */
export interface FrameInit {
  seq: number;
  type: number;
  payload?: Uint8Array;
  version?: number;
}

const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/**
 * CRC-16/IBM-3740 (CRC-16/CCITT-FALSE): poly 0x1021, init 0xFFFF, refin false,
 * refout false, xorout 0x0000, check("123456789") = 0x29B1.
 * Pass a previous result as `crc` to continue over several pieces.
 */
export function crc16(data: Uint8Array, start = 0, end = data.length, crc = 0xffff): number {
  for (let i = start; i < end; i++) {
    crc = ((crc << 8) & 0xffff) ^ (CRC_TABLE[((crc >> 8) ^ (data[i] as number)) & 0xff] as number);
  }
  return crc;
}

function checkByte(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff)
    throw new RangeError(`frame ${name} must be a byte (0..255), got ${v}`);
}

export function encodeFrame(init: FrameInit): Buffer {
  const payload = init.payload ?? new Uint8Array(0);
  const version = init.version ?? PROTOCOL_VERSION;
  checkByte('version', version);
  checkByte('seq', init.seq);
  checkByte('type', init.type);
  if (payload.length > MAX_PAYLOAD) {
    throw new RangeError(`frame payload of ${payload.length} bytes exceeds MAX_PAYLOAD ${MAX_PAYLOAD}`);
  }
  const out = Buffer.alloc(HEADER_LEN + payload.length + CRC_LEN);
  out[0] = SOF;
  out[1] = payload.length;
  out[2] = version;
  out[3] = init.seq;
  out[4] = init.type;
  out.set(payload, HEADER_LEN);
  const end = HEADER_LEN + payload.length;
  out.writeUInt16BE(crc16(out, 1, end), end);
  return out;
}

/**
 * What the bytes at `buf[offset]` are, without copying:
 * - `not-sof`: the byte at offset is not SOF
 * - `incomplete`: a frame may start here but more bytes are needed (`need` = its total length, or 0 if LEN is not in yet)
 * - `oversize`: LEN > MAX_PAYLOAD, so this is no frame; decided from 2 bytes, never waits
 * - `bad-crc`: all bytes are in and the CRC does not match
 * - `ok`: a whole frame of `length` bytes
 */
export type Inspection =
  | { kind: 'not-sof' }
  | { kind: 'incomplete'; need: number }
  | { kind: 'oversize'; len: number }
  | { kind: 'bad-crc'; length: number }
  | { kind: 'ok'; length: number };

export function inspectFrame(buf: Uint8Array, offset = 0): Inspection {
  if (buf[offset] !== SOF) return { kind: 'not-sof' };
  const len = buf[offset + 1];
  if (len === undefined) return { kind: 'incomplete', need: 0 };
  if (len > MAX_PAYLOAD) return { kind: 'oversize', len };
  const length = HEADER_LEN + len + CRC_LEN;
  if (buf.length - offset < length) return { kind: 'incomplete', need: length };
  const end = offset + HEADER_LEN + len;
  const sent = ((buf[end] as number) << 8) | (buf[end + 1] as number);
  return crc16(buf, offset + 1, end) === sent ? { kind: 'ok', length } : { kind: 'bad-crc', length };
}

/** Decode exactly one whole frame (`buf` holds nothing else). Throws with the reason otherwise. */
export function decodeFrame(buf: Uint8Array): Frame {
  const r = inspectFrame(buf, 0);
  if (r.kind !== 'ok') throw new Error(`not a frame: ${r.kind}`);
  if (r.length !== buf.length) throw new Error(`not a frame: ${buf.length - r.length} trailing bytes`);
  return frameAt(buf, 0, r.length);
}

/** The frame at `offset` of known-good `length`; the payload is copied so the input can be released. */
export function frameAt(buf: Uint8Array, offset: number, length: number): Frame {
  return {
    version: buf[offset + 2] as number,
    seq: buf[offset + 3] as number,
    type: buf[offset + 4] as number,
    payload: Buffer.from(buf.subarray(offset + HEADER_LEN, offset + length - CRC_LEN)),
  };
}
