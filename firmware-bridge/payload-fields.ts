// Field types and byte helpers shared by commands.ts and events.ts (PROTOCOL.md §5):
// the enums, status flags and version block that both commands/replies and events carry,
// plus the bounds-checked readers. Split out of messages.ts so neither half owns them.
// Internal to firmware-bridge: messages.ts re-exports only the public types.

export class PayloadError extends Error {
  override readonly name = 'PayloadError';
}

// ---- field types ----

/** The amplifier's source (SELECT_INPUT): the host's audio out, the tuner, the line input. */
export type AudioInput = 'ip' | 'fm' | 'line';
export const INPUTS: readonly AudioInput[] = ['ip', 'fm', 'line'];
export type LineState = 'ok' | 'open' | 'short';
export const LINE_STATES: readonly LineState[] = ['ok', 'open', 'short'];
export type AmpFaultCause = 'none' | 'overcurrent' | 'overtemperature' | 'dc_offset' | 'other';
export const CAUSES: readonly AmpFaultCause[] = ['none', 'overcurrent', 'overtemperature', 'dc_offset', 'other'];
export type ResetReason = 'power-on' | 'brown-out' | 'mcu-watchdog' | 'software' | 'reset-pin' | 'unknown';
export const RESETS: readonly ResetReason[] = ['power-on', 'brown-out', 'mcu-watchdog', 'software', 'reset-pin'];

export const FLAG_BITS = [
  'ampOn',
  'ampFault',
  'doorOpen',
  'mainsLost',
  'batteryLow',
  'lineOpen',
  'lineShort',
  'watchdogTripped',
  'fmNoSignal',
] as const;
export type StatusFlags = Record<(typeof FLAG_BITS)[number], boolean>;

export interface VersionBlock {
  protocol: number;
  /** Minor version of the protocol (1.1 and later append it to the block; a 10-byte block is 1.0). */
  minor: number;
  firmware: { major: number; minor: number; patch: number };
  bootCount: number;
  resetReason: ResetReason;
  hwRev: number;
}

export interface Message {
  type: number;
  payload: Buffer;
}

// ---- byte helpers ----

export function need(p: Uint8Array, n: number, what: string): void {
  if (p.length < n) throw new PayloadError(`${what}: payload of ${p.length} bytes, need ${n}`);
}
export function enumOf<T>(table: readonly T[], v: number, what: string): T {
  const x = table[v];
  if (x === undefined) throw new PayloadError(`${what}: unknown value ${v}`);
  return x;
}
export function indexIn<T>(table: readonly T[], v: T, what: string): number {
  const i = table.indexOf(v);
  if (i < 0) throw new RangeError(`${what}: not one of ${table.join(', ')}`);
  return i;
}
export function intIn(v: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${what} must be an integer in ${min}..${max}, got ${v}`);
  return v;
}
export const u8 = (p: Buffer, o: number): number => p.readUInt8(o);
export const u16 = (p: Buffer, o: number): number => p.readUInt16BE(o);

export function flagsFrom(bits: number): StatusFlags {
  const f = {} as StatusFlags;
  FLAG_BITS.forEach((name, i) => (f[name] = (bits & (1 << i)) !== 0));
  return f;
}
export function flagsTo(f: StatusFlags): number {
  return FLAG_BITS.reduce((bits, name, i) => (f[name] ? bits | (1 << i) : bits), 0);
}

export function versionFrom(p: Buffer, what: string): VersionBlock {
  need(p, 10, what);
  const r = u8(p, 8);
  return {
    protocol: u8(p, 0),
    minor: p.length > 10 ? u8(p, 10) : 0,
    firmware: { major: u8(p, 1), minor: u8(p, 2), patch: u8(p, 3) },
    bootCount: p.readUInt32BE(4),
    resetReason: RESETS[r] ?? 'unknown',
    hwRev: u8(p, 9),
  };
}
/** The block as sent; a 1.0 board (minor 0) sends the 10 bytes of 1.0, without the minor. */
export function versionTo(v: VersionBlock): Buffer {
  const b = Buffer.alloc(v.minor > 0 ? 11 : 10);
  if (v.minor > 0) b.writeUInt8(v.minor, 10);
  b.writeUInt8(v.protocol, 0);
  b.writeUInt8(v.firmware.major, 1);
  b.writeUInt8(v.firmware.minor, 2);
  b.writeUInt8(v.firmware.patch, 3);
  b.writeUInt32BE(v.bootCount, 4);
  b.writeUInt8(v.resetReason === 'unknown' ? 0xff : RESETS.indexOf(v.resetReason), 8);
  b.writeUInt8(v.hwRev, 9);
  return b;
}

/**
 * The levels of a 1 s window (PROTOCOL.md §5.6, 1.2): the LEVELS event's payload and the
 * start of the GET_LEVELS reply. A level the board did not measure is null (`0x8000`).
 */
export interface Levels {
  /** Output voltage, dB relative to the amplifier's rated output (0 = rated). */
  outDb: number | null;
  /** Amplifier supply current, mA. */
  currentMa: number;
  /** The selected input's level at the amplifier's input, dBFS. */
  inDbfs: number | null;
  input: AudioInput;
  windowMs: number;
}

const NOT_MEASURED = -32768;

export function levelsFrom(p: Buffer, what: string): Levels {
  need(p, 8, what);
  const level = (o: number): number | null => (p.readInt16BE(o) === NOT_MEASURED ? null : p.readInt16BE(o) / 10);
  return {
    outDb: level(0),
    currentMa: u16(p, 2),
    inDbfs: level(4),
    input: enumOf(INPUTS, u8(p, 6), 'levels input'),
    windowMs: u8(p, 7) * 100,
  };
}

export function levelsTo(l: Levels): Buffer {
  const p = Buffer.alloc(8);
  const level = (v: number | null): number =>
    v === null ? NOT_MEASURED : Math.max(-32767, Math.min(32767, Math.round(v * 10)));
  p.writeInt16BE(level(l.outDb), 0);
  p.writeUInt16BE(Math.max(0, Math.min(0xffff, Math.round(l.currentMa))), 2);
  p.writeInt16BE(level(l.inDbfs), 4);
  p.writeUInt8(indexIn(INPUTS, l.input, 'levels input'), 6);
  p.writeUInt8(Math.max(1, Math.min(255, Math.round(l.windowMs / 100))), 7);
  return p;
}
