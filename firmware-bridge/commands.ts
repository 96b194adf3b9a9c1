// Commands, replies and ERROR of PROTOCOL.md §5 (host ↔ board request/response side):
// command TYPEs, per-command timeouts and retry table, and their pure encoders/decoders.
// Split out of messages.ts (which re-exports everything here) to keep each file small;
// board events live in events.ts. Decoders throw PayloadError on a short payload and
// ignore extra trailing bytes.

import {
  INPUTS,
  LINE_STATES,
  enumOf,
  flagsFrom,
  flagsTo,
  indexIn,
  intIn,
  levelsFrom,
  levelsTo,
  need,
  u16,
  u8,
  versionFrom,
  versionTo,
  type AudioInput,
  type Levels,
  type LineState,
  type Message,
  type StatusFlags,
  type VersionBlock,
} from './payload-fields.js';

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
  /** 1.2 (PROTOCOL.md §5.1): never sent to a board of minor < 2. */
  'get-levels': 0x0a,
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
  'get-levels': 200,
};
/** Whether the host may retry on timeout (with a new SEQ). */
export const COMMAND_RETRY: Readonly<Record<CommandName, boolean>> = {
  ping: false, // §7: one keep-alive per period; a retry would hide a missed one
  'get-status': true,
  'set-amp': true,
  'select-input': true,
  'fm-tune': true,
  'fm-status': true,
  'line-test': false,
  'set-watchdog': true,
  'get-version': true,
  'get-levels': true,
};

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
  | { cmd: 'get-version' }
  | { cmd: 'get-levels' };

export interface Replies {
  /** bootCount and input are in the reply from protocol 1.1 on; absent from a 1.0 board. */
  ping: { flags: StatusFlags; lastEventSeq: number; bootCount?: number; input?: AudioInput };
  'get-status': Status;
  'set-amp': { on: boolean };
  'select-input': { input: AudioInput };
  'fm-tune': { freq: number; rssi: number };
  'fm-status': { freq: number; rssi: number; snr: number; stereo: boolean; signalOk: boolean };
  'line-test': { result: LineState; impedance: number };
  'set-watchdog': { seconds: number };
  'get-version': VersionBlock;
  /** The last 1 s window, and the last idle line measurement (null: open / over range, or none yet). */
  'get-levels': Levels & { lineImpedance: number | null; lineAgeS: number | null };
}

export interface BoardError {
  command: number;
  code: ErrorCodeName | 'unknown';
  rawCode: number;
  /** Only with code `version`: the board's protocol version. */
  boardVersion?: number;
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
  const len: Partial<Record<CommandName, number>> = {
    'set-amp': 1,
    'select-input': 1,
    'fm-tune': 2,
    'set-watchdog': 2,
  };
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
      const b = Buffer.alloc(v.bootCount === undefined ? 3 : 8);
      b.writeUInt16BE(flagsTo(v.flags), 0);
      b.writeUInt8(v.lastEventSeq, 2);
      if (v.bootCount !== undefined) {
        b.writeUInt32BE(v.bootCount, 3);
        b.writeUInt8(indexIn(INPUTS, v.input ?? 'ip', 'input'), 7);
      }
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
    case 'get-levels': {
      const v = any as Replies['get-levels'];
      const b = Buffer.alloc(12);
      levelsTo(v).copy(b, 0);
      b.writeUInt16BE(v.lineImpedance === null ? 0xffff : Math.min(0xfffe, v.lineImpedance), 8);
      b.writeUInt16BE(v.lineAgeS === null ? 0xffff : Math.min(0xfffe, v.lineAgeS), 10);
      return { type, payload: b };
    }
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
      // 1.1: boot counter and input appended; a 1.0 board's 3 bytes stop here.
      if (p.length >= 8) r = { ...r, bootCount: p.readUInt32BE(3), input: enumOf(INPUTS, u8(p, 7), 'input') };
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
    case 'get-levels': {
      need(p, 12, what);
      const z = u16(p, 8);
      const age = u16(p, 10);
      r = { ...levelsFrom(p, what), lineImpedance: z === 0xffff ? null : z, lineAgeS: age === 0xffff ? null : age };
      break;
    }
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
