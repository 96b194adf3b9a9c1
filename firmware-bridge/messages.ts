// Typed payloads of PROTOCOL.md §5: commands, replies, events, ERROR. Pure.
// Encoders produce `{ type, payload }` for encodeFrame; decoders take a frame's TYPE and
// payload. Decoders throw PayloadError on a payload shorter than specified and ignore
// extra trailing bytes (§5: later compatible versions append fields).

import type { AudioInput } from '../agent/adapters/board.js';

export const REPLY_BIT = 0x80;
export const ERROR_TYPE = 0xff;

export const COMMAND_TYPES = {
  ping: 0x01,
  'get-status': 0x02,
  'set-amp': 0x03,
  'select-input': 0x04,
  'fm-tune': 0x05,
  'fm-status': 0x06,
  'line-test': 0x07,
  'set-watchdog': 0x08,
  'get-version': 0x09,
} as const;
export type CommandName = keyof typeof COMMAND_TYPES;

/** Host-side reply timeout per command (PROTOCOL.md §5.1). */
export const COMMAND_TIMEOUT_MS: Readonly<Record<CommandName, number>> = {
  ping: 200,
  'get-status': 200,
  'set-amp': 500,
  'select-input': 500,
  'fm-tune': 1000,
  'fm-status': 200,
  'line-test': 3000,
  'set-watchdog': 200,
  'get-version': 200,
};
/** Whether the host may retry on timeout (with a new SEQ). */
export const COMMAND_RETRY: Readonly<Record<CommandName, boolean>> = {
  ping: true,
  'get-status': true,
  'set-amp': true,
  'select-input': true,
  'fm-tune': true,
  'fm-status': true,
  'line-test': false,
  'set-watchdog': true,
  'get-version': true,
};

export const EVENT_TYPES = {
  boot: 0x40,
  door: 0x41,
  mains: 0x42,
  battery: 0x43,
  line: 0x44,
  'amp-fault': 0x45,
  watchdog: 0x46,
  'fm-signal': 0x47,
} as const;

export const ERROR_CODES = {
  unknown_type: 0x01,
  bad_length: 0x02,
  bad_arg: 0x03,
  busy: 0x04,
  hw_fault: 0x05,
  not_ready: 0x06,
  version: 0x07,
} as const;
export type ErrorCodeName = keyof typeof ERROR_CODES;

export const WATCHDOG_MIN_S = 3;
export const WATCHDOG_MAX_S = 600;
export const WATCHDOG_DEFAULT_S = 10;
/** FM frequencies travel in 10 kHz units: 8750 = 87.5 MHz. */
export const FM_MIN = 8750;
export const FM_MAX = 10800;

export class PayloadError extends Error {
  override readonly name = 'PayloadError';
}

// ---- field types ----

const INPUTS: readonly AudioInput[] = ['ip', 'fm', 'line'];
export type LineState = 'ok' | 'open' | 'short';
const LINE_STATES: readonly LineState[] = ['ok', 'open', 'short'];
export type AmpFaultCause = 'none' | 'overcurrent' | 'overtemperature' | 'dc_offset' | 'other';
const CAUSES: readonly AmpFaultCause[] = ['none', 'overcurrent', 'overtemperature', 'dc_offset', 'other'];
export type ResetReason = 'power-on' | 'brown-out' | 'mcu-watchdog' | 'software' | 'reset-pin' | 'unknown';
const RESETS: readonly ResetReason[] = ['power-on', 'brown-out', 'mcu-watchdog', 'software', 'reset-pin'];

const FLAG_BITS = [
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
  firmware: { major: number; minor: number; patch: number };
  bootCount: number;
  resetReason: ResetReason;
  hwRev: number;
}

export interface Status {
  flags: StatusFlags;
  input: AudioInput;
  fmFreq: number;
  fmRssi: number;
  /** °C, 0.1 resolution. */
  temperatureC: number;
  batteryMv: number;
  ampCurrentMa: number;
  uptimeS: number;
  watchdogS: number;
  lastEventSeq: number;
}

export type Command =
  | { cmd: 'ping' }
  | { cmd: 'get-status' }
  | { cmd: 'set-amp'; on: boolean }
  | { cmd: 'select-input'; input: AudioInput }
  | { cmd: 'fm-tune'; freq: number }
  | { cmd: 'fm-status' }
  | { cmd: 'line-test' }
  | { cmd: 'set-watchdog'; seconds: number }
  | { cmd: 'get-version' };

export interface Replies {
  ping: { flags: StatusFlags; lastEventSeq: number };
  'get-status': Status;
  'set-amp': { on: boolean };
  'select-input': { input: AudioInput };
  'fm-tune': { freq: number; rssi: number };
  'fm-status': { freq: number; rssi: number; snr: number; stereo: boolean; signalOk: boolean };
  'line-test': { result: LineState; impedance: number };
  'set-watchdog': { seconds: number };
  'get-version': VersionBlock;
}

export type BoardEvent =
  | ({ event: 'boot' } & VersionBlock)
  | { event: 'door'; open: boolean }
  | { event: 'mains'; lost: boolean; batteryMv: number }
  | { event: 'battery'; low: boolean; batteryMv: number }
  | { event: 'line'; state: LineState; impedance: number }
  | { event: 'amp-fault'; fault: boolean; cause: AmpFaultCause; currentMa: number; temperatureC: number }
  | { event: 'watchdog'; seconds: number }
  | { event: 'fm-signal'; lost: boolean; rssi: number };

export interface BoardError {
  command: number;
  code: ErrorCodeName | 'unknown';
  rawCode: number;
  /** Only with code `version`: the board's protocol version. */
  boardVersion?: number;
}

export interface Message {
  type: number;
  payload: Buffer;
}

// ---- byte helpers ----

function need(p: Uint8Array, n: number, what: string): void {
  if (p.length < n) throw new PayloadError(`${what}: payload of ${p.length} bytes, need ${n}`);
}
function enumOf<T>(table: readonly T[], v: number, what: string): T {
  const x = table[v];
  if (x === undefined) throw new PayloadError(`${what}: unknown value ${v}`);
  return x;
}
function indexIn<T>(table: readonly T[], v: T, what: string): number {
  const i = table.indexOf(v);
  if (i < 0) throw new RangeError(`${what}: not one of ${table.join(', ')}`);
  return i;
}
function intIn(v: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${what} must be an integer in ${min}..${max}, got ${v}`);
  return v;
}
const u8 = (p: Buffer, o: number): number => p.readUInt8(o);
const u16 = (p: Buffer, o: number): number => p.readUInt16BE(o);

function flagsFrom(bits: number): StatusFlags {
  const f = {} as StatusFlags;
  FLAG_BITS.forEach((name, i) => (f[name] = (bits & (1 << i)) !== 0));
  return f;
}
function flagsTo(f: StatusFlags): number {
  return FLAG_BITS.reduce((bits, name, i) => (f[name] ? bits | (1 << i) : bits), 0);
}

function versionFrom(p: Buffer, what: string): VersionBlock {
  need(p, 10, what);
  const r = u8(p, 8);
  return {
    protocol: u8(p, 0),
    firmware: { major: u8(p, 1), minor: u8(p, 2), patch: u8(p, 3) },
    bootCount: p.readUInt32BE(4),
    resetReason: RESETS[r] ?? 'unknown',
    hwRev: u8(p, 9),
  };
}
function versionTo(v: VersionBlock): Buffer {
  const b = Buffer.alloc(10);
  b.writeUInt8(v.protocol, 0);
  b.writeUInt8(v.firmware.major, 1);
  b.writeUInt8(v.firmware.minor, 2);
  b.writeUInt8(v.firmware.patch, 3);
  b.writeUInt32BE(v.bootCount, 4);
  b.writeUInt8(v.resetReason === 'unknown' ? 0xff : RESETS.indexOf(v.resetReason), 8);
  b.writeUInt8(v.hwRev, 9);
  return b;
}

// ---- commands (host → board) ----

export function encodeCommand(c: Command): Message {
  const type = COMMAND_TYPES[c.cmd];
  switch (c.cmd) {
    case 'set-amp':
      return { type, payload: Buffer.from([c.on ? 1 : 0]) };
    case 'select-input':
      return { type, payload: Buffer.from([indexIn(INPUTS, c.input, 'input')]) };
    case 'fm-tune': {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(intIn(c.freq, FM_MIN, FM_MAX, 'fm-tune freq (10 kHz units)'));
      return { type, payload: b };
    }
    case 'set-watchdog': {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(intIn(c.seconds, WATCHDOG_MIN_S, WATCHDOG_MAX_S, 'set-watchdog seconds'));
      return { type, payload: b };
    }
    default:
      return { type, payload: Buffer.alloc(0) };
  }
}

const COMMAND_BY_TYPE = new Map<number, CommandName>(
  Object.entries(COMMAND_TYPES).map(([name, t]) => [t, name as CommandName]),
);

export function commandName(type: number): CommandName | undefined {
  return COMMAND_BY_TYPE.get(type);
}

/**
 * Board side (the simulator): decode a command. Returns the ERROR code to answer with
 * instead of throwing, since every failure of a command is a reply.
 */
export function decodeCommand(type: number, p: Buffer): Command | { error: ErrorCodeName } {
  const name = COMMAND_BY_TYPE.get(type);
  if (!name) return { error: 'unknown_type' };
  const len: Partial<Record<CommandName, number>> = { 'set-amp': 1, 'select-input': 1, 'fm-tune': 2, 'set-watchdog': 2 };
  if (p.length < (len[name] ?? 0)) return { error: 'bad_length' };
  switch (name) {
    case 'set-amp': {
      const v = u8(p, 0);
      return v > 1 ? { error: 'bad_arg' } : { cmd: name, on: v === 1 };
    }
    case 'select-input': {
      const input = INPUTS[u8(p, 0)];
      return input ? { cmd: name, input } : { error: 'bad_arg' };
    }
    case 'fm-tune': {
      const freq = u16(p, 0);
      return freq < FM_MIN || freq > FM_MAX ? { error: 'bad_arg' } : { cmd: name, freq };
    }
    case 'set-watchdog': {
      const seconds = u16(p, 0);
      return seconds < WATCHDOG_MIN_S || seconds > WATCHDOG_MAX_S ? { error: 'bad_arg' } : { cmd: name, seconds };
    }
    default:
      return { cmd: name };
  }
}

// ---- replies (board → host) ----

export function replyType(name: CommandName): number {
  return COMMAND_TYPES[name] | REPLY_BIT;
}

export function encodeReply<N extends CommandName>(name: N, r: Replies[N]): Message {
  const type = replyType(name);
  // One cast per case: TypeScript does not narrow `r` through a generic `name`.
  const any = r as Replies[CommandName];
  switch (name) {
    case 'ping': {
      const v = any as Replies['ping'];
      const b = Buffer.alloc(3);
      b.writeUInt16BE(flagsTo(v.flags), 0);
      b.writeUInt8(v.lastEventSeq, 2);
      return { type, payload: b };
    }
    case 'get-status': {
      const v = any as Status;
      const b = Buffer.alloc(19);
      b.writeUInt16BE(flagsTo(v.flags), 0);
      b.writeUInt8(indexIn(INPUTS, v.input, 'input'), 2);
      b.writeUInt16BE(v.fmFreq, 3);
      b.writeUInt8(v.fmRssi, 5);
      b.writeInt16BE(Math.round(v.temperatureC * 10), 6);
      b.writeUInt16BE(v.batteryMv, 8);
      b.writeUInt16BE(v.ampCurrentMa, 10);
      b.writeUInt32BE(v.uptimeS, 12);
      b.writeUInt16BE(v.watchdogS, 16);
      b.writeUInt8(v.lastEventSeq, 18);
      return { type, payload: b };
    }
    case 'set-amp':
      return { type, payload: Buffer.from([(any as Replies['set-amp']).on ? 1 : 0]) };
    case 'select-input':
      return { type, payload: Buffer.from([indexIn(INPUTS, (any as Replies['select-input']).input, 'input')]) };
    case 'fm-tune': {
      const v = any as Replies['fm-tune'];
      const b = Buffer.alloc(3);
      b.writeUInt16BE(v.freq, 0);
      b.writeUInt8(v.rssi, 2);
      return { type, payload: b };
    }
    case 'fm-status': {
      const v = any as Replies['fm-status'];
      const b = Buffer.alloc(5);
      b.writeUInt16BE(v.freq, 0);
      b.writeUInt8(v.rssi, 2);
      b.writeUInt8(v.snr, 3);
      b.writeUInt8((v.stereo ? 1 : 0) | (v.signalOk ? 2 : 0), 4);
      return { type, payload: b };
    }
    case 'line-test': {
      const v = any as Replies['line-test'];
      const b = Buffer.alloc(3);
      b.writeUInt8(indexIn(LINE_STATES, v.result, 'line result'), 0);
      b.writeUInt16BE(v.impedance, 1);
      return { type, payload: b };
    }
    case 'set-watchdog': {
      const b = Buffer.alloc(2);
      b.writeUInt16BE((any as Replies['set-watchdog']).seconds);
      return { type, payload: b };
    }
    case 'get-version':
      return { type, payload: versionTo(any as VersionBlock) };
  }
  throw new RangeError(`no reply encoder for ${String(name)}`);
}

/** Host side: decode the reply to `name`. The caller has matched SEQ and TYPE already. */
export function decodeReply<N extends CommandName>(name: N, p: Buffer): Replies[N] {
  const what = `${name} reply`;
  let r: Replies[CommandName];
  switch (name as CommandName) {
    case 'ping':
      need(p, 3, what);
      r = { flags: flagsFrom(u16(p, 0)), lastEventSeq: u8(p, 2) };
      break;
    case 'get-status':
      need(p, 19, what);
      r = {
        flags: flagsFrom(u16(p, 0)),
        input: enumOf(INPUTS, u8(p, 2), 'input'),
        fmFreq: u16(p, 3),
        fmRssi: u8(p, 5),
        temperatureC: p.readInt16BE(6) / 10,
        batteryMv: u16(p, 8),
        ampCurrentMa: u16(p, 10),
        uptimeS: p.readUInt32BE(12),
        watchdogS: u16(p, 16),
        lastEventSeq: u8(p, 18),
      };
      break;
    case 'set-amp':
      need(p, 1, what);
      r = { on: u8(p, 0) === 1 };
      break;
    case 'select-input':
      need(p, 1, what);
      r = { input: enumOf(INPUTS, u8(p, 0), 'input') };
      break;
    case 'fm-tune':
      need(p, 3, what);
      r = { freq: u16(p, 0), rssi: u8(p, 2) };
      break;
    case 'fm-status': {
      need(p, 5, what);
      const f = u8(p, 4);
      r = { freq: u16(p, 0), rssi: u8(p, 2), snr: u8(p, 3), stereo: (f & 1) !== 0, signalOk: (f & 2) !== 0 };
      break;
    }
    case 'line-test':
      need(p, 3, what);
      r = { result: enumOf(LINE_STATES, u8(p, 0), 'line result'), impedance: u16(p, 1) };
      break;
    case 'set-watchdog':
      need(p, 2, what);
      r = { seconds: u16(p, 0) };
      break;
    case 'get-version':
      r = versionFrom(p, what);
      break;
  }
  return r as Replies[N];
}

// ---- ERROR (board → host) ----

export function encodeError(command: number, code: ErrorCodeName, boardVersion?: number): Message {
  const bytes = [command, ERROR_CODES[code]];
  if (code === 'version') bytes.push(boardVersion ?? 0);
  return { type: ERROR_TYPE, payload: Buffer.from(bytes) };
}

export function decodeError(p: Buffer): BoardError {
  need(p, 2, 'error');
  const rawCode = u8(p, 1);
  const code = (Object.keys(ERROR_CODES) as ErrorCodeName[]).find((k) => ERROR_CODES[k] === rawCode) ?? 'unknown';
  const e: BoardError = { command: u8(p, 0), code, rawCode };
  if (code === 'version' && p.length >= 3) e.boardVersion = u8(p, 2);
  return e;
}

// ---- events (board → host) ----

export function encodeEvent(e: BoardEvent): Message {
  const type = EVENT_TYPES[e.event];
  const b = (n: number): Buffer => Buffer.alloc(n);
  switch (e.event) {
    case 'boot':
      return { type, payload: versionTo(e) };
    case 'door':
      return { type, payload: Buffer.from([e.open ? 1 : 0]) };
    case 'mains':
    case 'battery': {
      const p = b(3);
      p.writeUInt8(e.event === 'mains' ? (e.lost ? 1 : 0) : e.low ? 1 : 0, 0);
      p.writeUInt16BE(e.batteryMv, 1);
      return { type, payload: p };
    }
    case 'line': {
      const p = b(3);
      p.writeUInt8(indexIn(LINE_STATES, e.state, 'line state'), 0);
      p.writeUInt16BE(e.impedance, 1);
      return { type, payload: p };
    }
    case 'amp-fault': {
      const p = b(6);
      p.writeUInt8(e.fault ? 1 : 0, 0);
      p.writeUInt8(indexIn(CAUSES, e.cause, 'amp fault cause'), 1);
      p.writeUInt16BE(e.currentMa, 2);
      p.writeInt16BE(Math.round(e.temperatureC * 10), 4);
      return { type, payload: p };
    }
    case 'watchdog': {
      const p = b(2);
      p.writeUInt16BE(e.seconds, 0);
      return { type, payload: p };
    }
    case 'fm-signal':
      return { type, payload: Buffer.from([e.lost ? 1 : 0, e.rssi]) };
  }
}

/** Decode an event; `undefined` for a TYPE this host does not know (count it and go on, §6). */
export function decodeEvent(type: number, p: Buffer): BoardEvent | undefined {
  switch (type) {
    case EVENT_TYPES.boot:
      return { event: 'boot', ...versionFrom(p, 'boot event') };
    case EVENT_TYPES.door:
      need(p, 1, 'door event');
      return { event: 'door', open: u8(p, 0) === 1 };
    case EVENT_TYPES.mains:
      need(p, 3, 'mains event');
      return { event: 'mains', lost: u8(p, 0) === 1, batteryMv: u16(p, 1) };
    case EVENT_TYPES.battery:
      need(p, 3, 'battery event');
      return { event: 'battery', low: u8(p, 0) === 1, batteryMv: u16(p, 1) };
    case EVENT_TYPES.line:
      need(p, 3, 'line event');
      return { event: 'line', state: enumOf(LINE_STATES, u8(p, 0), 'line state'), impedance: u16(p, 1) };
    case EVENT_TYPES['amp-fault']:
      need(p, 6, 'amp-fault event');
      return {
        event: 'amp-fault',
        fault: u8(p, 0) === 1,
        cause: CAUSES[u8(p, 1)] ?? 'other',
        currentMa: u16(p, 2),
        temperatureC: p.readInt16BE(4) / 10,
      };
    case EVENT_TYPES.watchdog:
      need(p, 2, 'watchdog event');
      return { event: 'watchdog', seconds: u16(p, 0) };
    case EVENT_TYPES['fm-signal']:
      need(p, 2, 'fm-signal event');
      return { event: 'fm-signal', lost: u8(p, 0) === 1, rssi: u8(p, 1) };
    default:
      return undefined;
  }
}

/** What a received TYPE is (PROTOCOL.md §5 ranges). */
export function kindOfType(type: number): 'command' | 'event' | 'reply' | 'error' | 'unknown' {
  if (type === ERROR_TYPE) return 'error';
  if (type >= 0x01 && type <= 0x3f) return 'command';
  if (type >= 0x40 && type <= 0x7f) return 'event';
  if (type >= 0x81 && type <= 0xbf) return 'reply';
  return 'unknown';
}
