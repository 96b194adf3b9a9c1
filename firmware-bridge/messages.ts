// Typed payloads of PROTOCOL.md §5: commands, replies, events, ERROR. Pure.
// Encoders produce `{ type, payload }` for encodeFrame; decoders take a frame's TYPE and
// payload. Decoders throw PayloadError on a payload shorter than specified and ignore
// extra trailing bytes (§5: later compatible versions append fields).
//
// This module is the public entry point; the code lives in commands.ts (commands,
// replies, ERROR, timeouts, retry table), events.ts (board events) and payload-fields.ts
// (shared field types and byte helpers).

import { ERROR_TYPE } from './commands.js';

export {
  COMMAND_RETRY,
  COMMAND_TIMEOUT_MS,
  COMMAND_TYPES,
  ERROR_CODES,
  ERROR_TYPE,
  FM_MAX,
  FM_MIN,
  REPLY_BIT,
  WATCHDOG_DEFAULT_S,
  WATCHDOG_MAX_S,
  WATCHDOG_MIN_S,
  commandName,
  decodeCommand,
  decodeError,
  decodeReply,
  encodeCommand,
  encodeError,
  encodeReply,
  replyType,
  type BoardError,
  type Command,
  type CommandName,
  type ErrorCodeName,
  type Replies,
  type Status,
} from './commands.js';
export { EVENT_TYPES, decodeEvent, encodeEvent, type BoardEvent } from './events.js';
export {
  PayloadError,
  type AmpFaultCause,
  type AudioInput,
  type Levels,
  type LineState,
  type Message,
  type ResetReason,
  type StatusFlags,
  type VersionBlock,
} from './payload-fields.js';

/** What a received TYPE is (PROTOCOL.md §5 ranges). */
export function kindOfType(type: number): 'command' | 'event' | 'reply' | 'error' | 'unknown' {
  if (type === ERROR_TYPE) return 'error';
  if (type >= 0x01 && type <= 0x3f) return 'command';
  if (type >= 0x40 && type <= 0x7f) return 'event';
  if (type >= 0x81 && type <= 0xbf) return 'reply';
  return 'unknown';
}
