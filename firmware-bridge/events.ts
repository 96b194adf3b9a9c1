// Board events of PROTOCOL.md §5 (board → host, unsolicited): event TYPEs, the
// BoardEvent union and its pure encoder/decoder. Split out of messages.ts (which
// re-exports everything here); commands and replies live in commands.ts.

import {
  CAUSES,
  LINE_STATES,
  enumOf,
  indexIn,
  levelsFrom,
  levelsTo,
  need,
  u16,
  u8,
  versionFrom,
  versionTo,
  type AmpFaultCause,
  type Levels,
  type LineState,
  type Message,
  type VersionBlock,
} from './payload-fields.js';

export const EVENT_TYPES = {
  boot: 0x40,
  door: 0x41,
  mains: 0x42,
  battery: 0x43,
  line: 0x44,
  'amp-fault': 0x45,
  watchdog: 0x46,
  'fm-signal': 0x47,
  levels: 0x48,
} as const;

export type BoardEvent =
  | ({ event: 'boot' } & VersionBlock)
  | { event: 'door'; open: boolean }
  | { event: 'mains'; lost: boolean; batteryMv: number }
  | { event: 'battery'; low: boolean; batteryMv: number }
  | { event: 'line'; state: LineState; impedance: number }
  | { event: 'amp-fault'; fault: boolean; cause: AmpFaultCause; currentMa: number; temperatureC: number }
  | { event: 'watchdog'; seconds: number }
  | { event: 'fm-signal'; lost: boolean; rssi: number }
  /** 1.2: every second while the amplifier is on (PROTOCOL.md §5.2, §5.6). */
  | ({ event: 'levels' } & Levels);

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
    case 'levels':
      return { type, payload: levelsTo(e) };
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
    case EVENT_TYPES.levels:
      return { event: 'levels', ...levelsFrom(p, 'levels event') };
    default:
      return undefined;
  }
}
