import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, encodeFrame } from '../../firmware-bridge/frame.js';
import {
  COMMAND_RETRY,
  COMMAND_TIMEOUT_MS,
  COMMAND_TYPES,
  decodeCommand,
  decodeError,
  decodeEvent,
  decodeReply,
  encodeCommand,
  encodeError,
  encodeEvent,
  encodeReply,
  kindOfType,
  PayloadError,
  replyType,
  type BoardEvent,
  type Command,
  type CommandName,
  type Replies,
  type StatusFlags,
  type VersionBlock,
} from '../../firmware-bridge/messages.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const noFlags: StatusFlags = {
  ampOn: false,
  ampFault: false,
  doorOpen: false,
  mainsLost: false,
  batteryLow: false,
  lineOpen: false,
  lineShort: false,
  watchdogTripped: false,
  fmNoSignal: false,
};
const version: VersionBlock = {
  protocol: 1,
  minor: 0,
  firmware: { major: 1, minor: 4, patch: 2 },
  bootCount: 70_000,
  resetReason: 'brown-out',
  hwRev: 3,
};

test('PROTOCOL.md §2.5: fm-tune 98.5 MHz with SEQ 0x2A, and its reply, byte for byte', () => {
  const req = encodeCommand({ cmd: 'fm-tune', freq: 9850 });
  assert.deepEqual(encodeFrame({ seq: 0x2a, ...req }), hex('A5 02 01 2A 05 26 7A E8 89'));
  const rep = encodeReply('fm-tune', { freq: 9850, rssi: 45 });
  assert.deepEqual(encodeFrame({ seq: 0x2a, ...rep }), hex('A5 03 01 2A 85 26 7A 2D 65 B0'));
  const ping = encodeCommand({ cmd: 'ping' });
  assert.deepEqual(encodeFrame({ seq: 1, ...ping }), hex('A5 00 01 01 01 90 E0'));
  const pong = encodeReply('ping', { flags: { ...noFlags, ampOn: true }, lastEventSeq: 1, bootCount: 42, input: 'fm' });
  assert.deepEqual(
    encodeFrame({ seq: 1, ...pong }),
    hex('A5 08 01 01 81 00 01 01 00 00 00 2A 01 78 01'),
    'example 4 (1.1)',
  );
});

test('every command round-trips through encodeCommand, a frame, and decodeCommand', () => {
  const all: Command[] = [
    { cmd: 'ping' },
    { cmd: 'get-status' },
    { cmd: 'set-amp', on: true },
    { cmd: 'set-amp', on: false },
    { cmd: 'select-input', input: 'fm' },
    { cmd: 'select-input', input: 'line' },
    { cmd: 'fm-tune', freq: 8750 },
    { cmd: 'fm-tune', freq: 10800 },
    { cmd: 'fm-status' },
    { cmd: 'line-test' },
    { cmd: 'set-watchdog', seconds: 30 },
    { cmd: 'get-version' },
    { cmd: 'get-levels' },
  ];
  for (const c of all) {
    const f = decodeFrame(encodeFrame({ seq: 9, ...encodeCommand(c) }));
    assert.equal(kindOfType(f.type), 'command');
    assert.deepEqual(decodeCommand(f.type, f.payload), c);
  }
  // Every command has a timeout and a retry policy.
  for (const name of Object.keys(COMMAND_TYPES) as CommandName[]) {
    assert.ok(COMMAND_TIMEOUT_MS[name] > 0);
    assert.equal(typeof COMMAND_RETRY[name], 'boolean');
  }
  assert.equal(COMMAND_RETRY['line-test'], false);
});

test('the host refuses out-of-range arguments before sending', () => {
  assert.throws(() => encodeCommand({ cmd: 'fm-tune', freq: 8749 }), /fm-tune freq/);
  assert.throws(() => encodeCommand({ cmd: 'fm-tune', freq: 98.5 }), /fm-tune freq/);
  assert.throws(() => encodeCommand({ cmd: 'set-watchdog', seconds: 2 }), /3\.\.600/);
  assert.throws(() => encodeCommand({ cmd: 'set-watchdog', seconds: 601 }), /3\.\.600/);
});

test('board side: bad commands become the ERROR codes of §5.3', () => {
  assert.deepEqual(decodeCommand(0x3e, Buffer.alloc(0)), { error: 'unknown_type' });
  assert.deepEqual(decodeCommand(COMMAND_TYPES['set-amp'], Buffer.alloc(0)), { error: 'bad_length' });
  assert.deepEqual(decodeCommand(COMMAND_TYPES['set-amp'], hex('02')), { error: 'bad_arg' });
  assert.deepEqual(decodeCommand(COMMAND_TYPES['select-input'], hex('03')), { error: 'bad_arg' });
  assert.deepEqual(decodeCommand(COMMAND_TYPES['fm-tune'], hex('2A 31')), { error: 'bad_arg' }); // 10801: above 108.0 MHz
  assert.deepEqual(decodeCommand(COMMAND_TYPES['set-watchdog'], hex('00 02')), { error: 'bad_arg' });
  // Extra trailing bytes are ignored (a later compatible version may append fields).
  assert.deepEqual(decodeCommand(COMMAND_TYPES['set-amp'], hex('01 FF')), { cmd: 'set-amp', on: true });
});

test('every reply round-trips, and its TYPE is the command | 0x80', () => {
  const replies: { [N in CommandName]: Replies[N] } = {
    ping: { flags: { ...noFlags, doorOpen: true, fmNoSignal: true }, lastEventSeq: 17 },
    'get-status': {
      flags: { ...noFlags, ampOn: true, lineShort: true, watchdogTripped: true },
      input: 'fm',
      fmFreq: 9850,
      fmRssi: 45,
      temperatureC: -12.5,
      batteryMv: 12_600,
      ampCurrentMa: 1_850,
      uptimeS: 86_400 * 400,
      watchdogS: 10,
      lastEventSeq: 255,
    },
    'set-amp': { on: true },
    'select-input': { input: 'line' },
    'fm-tune': { freq: 10_790, rssi: 12 },
    'fm-status': { freq: 9850, rssi: 45, snr: 30, stereo: true, signalOk: false },
    'line-test': { result: 'open', impedance: 0xffff },
    'set-watchdog': { seconds: 600 },
    'get-version': version,
    'get-levels': {
      outDb: null,
      currentMa: 40,
      inDbfs: -100,
      input: 'fm',
      windowMs: 1000,
      lineImpedance: 16,
      lineAgeS: 7,
    },
  };
  for (const name of Object.keys(replies) as CommandName[]) {
    const m = encodeReply(name, replies[name]);
    assert.equal(m.type, COMMAND_TYPES[name] | 0x80);
    assert.equal(m.type, replyType(name));
    assert.equal(kindOfType(m.type), 'reply');
    const f = decodeFrame(encodeFrame({ seq: 3, ...m }));
    assert.deepEqual(decodeReply(name, f.payload), replies[name], name);
  }
});

test('status flags sit on the bits of §5.4', () => {
  const m = encodeReply('ping', { flags: { ...noFlags, ampOn: true, fmNoSignal: true }, lastEventSeq: 0 });
  assert.deepEqual(m.payload, hex('01 01 00'));
  // Unknown high bits are ignored.
  assert.deepEqual(decodeReply('ping', hex('FE 00 05')).flags, noFlags);
});

test('a short reply payload throws PayloadError naming the reply', () => {
  assert.throws(
    () => decodeReply('get-status', Buffer.alloc(18)),
    (e) => e instanceof PayloadError && /get-status reply/.test(e.message),
  );
  assert.throws(() => decodeReply('select-input', hex('07')), PayloadError);
});

test('every event round-trips; an unknown event TYPE decodes to undefined', () => {
  const events: BoardEvent[] = [
    { event: 'boot', ...version },
    { event: 'door', open: true },
    { event: 'mains', lost: true, batteryMv: 12_100 },
    { event: 'battery', low: true, batteryMv: 11_400 },
    { event: 'line', state: 'short', impedance: 2 },
    { event: 'amp-fault', fault: true, cause: 'overtemperature', currentMa: 3_000, temperatureC: 85.5 },
    { event: 'watchdog', seconds: 10 },
    { event: 'fm-signal', lost: true, rssi: 3 },
    { event: 'levels', outDb: -6.2, currentMa: 2_400, inDbfs: -18.1, input: 'ip', windowMs: 1000 },
    { event: 'levels', outDb: null, currentMa: 0, inDbfs: null, input: 'line', windowMs: 1000 },
  ];
  for (const e of events) {
    const m = encodeEvent(e);
    assert.equal(kindOfType(m.type), 'event');
    const f = decodeFrame(encodeFrame({ seq: 1, ...m }));
    assert.deepEqual(decodeEvent(f.type, f.payload), e, e.event);
  }
  assert.equal(decodeEvent(0x7e, Buffer.alloc(4)), undefined);
});

test('boot event bytes: version block of §5.5', () => {
  const m = encodeEvent({ event: 'boot', ...version, resetReason: 'unknown' });
  assert.deepEqual(m.payload, hex('01 01 04 02 00 01 11 70 FF 03'));
  assert.equal(m.type, 0x40);
});

test('1.1 additions, byte for byte: the version block ends with the minor, PING carries boot counter and input', () => {
  const v11 = encodeEvent({ event: 'boot', ...version, minor: 1, resetReason: 'unknown' });
  assert.deepEqual(v11.payload, hex('01 01 04 02 00 01 11 70 FF 03 01'));
  assert.equal((decodeEvent(0x40, v11.payload) as VersionBlock).minor, 1);
  assert.equal(
    (decodeEvent(0x40, hex('01 01 04 02 00 01 11 70 FF 03')) as VersionBlock).minor,
    0,
    'a 10-byte block is a 1.0 board',
  );
  const ping = encodeReply('ping', {
    flags: { ...noFlags, ampOn: true },
    lastEventSeq: 1,
    bootCount: 0x01020304,
    input: 'fm',
  });
  assert.deepEqual(ping.payload, hex('00 01 01 01 02 03 04 01'));
  assert.deepEqual(
    decodeReply('ping', hex('00 01 01')),
    { flags: { ...noFlags, ampOn: true }, lastEventSeq: 1 },
    'a 1.0 reply has neither',
  );
  assert.deepEqual(
    decodeReply('ping', hex('00 01 01 01 02 03 04 01 EE')),
    { flags: { ...noFlags, ampOn: true }, lastEventSeq: 1, bootCount: 0x01020304, input: 'fm' },
    'trailing bytes ignored',
  );
});

test('1.2 additions, byte for byte (PROTOCOL.md §5.6): LEVELS, and GET_LEVELS with the line impedance and its age', () => {
  const ev = encodeEvent({
    event: 'levels',
    outDb: -6.2,
    currentMa: 2_400,
    inDbfs: -18.1,
    input: 'fm',
    windowMs: 1000,
  });
  assert.equal(ev.type, 0x48);
  // out_level −62 (FF C2), current 2400 (09 60), in_level −181 (FF 4B), input fm, window 10.
  assert.deepEqual(ev.payload, hex('FF C2 09 60 FF 4B 01 0A'));
  assert.deepEqual(
    decodeEvent(0x48, hex('80 00 00 28 FC 18 00 0A 77')),
    { event: 'levels', outDb: null, currentMa: 40, inDbfs: -100, input: 'ip', windowMs: 1000 },
    '0x8000 is "not measured"; trailing bytes ignored',
  );
  assert.throws(() => decodeEvent(0x48, hex('FF C2 09 60 FF 4B 01')), PayloadError, 'a 7-byte LEVELS is short');
  assert.equal(COMMAND_TYPES['get-levels'], 0x0a);
  const reply = encodeReply('get-levels', {
    outDb: null,
    currentMa: 40,
    inDbfs: -20,
    input: 'fm',
    windowMs: 1000,
    lineImpedance: null,
    lineAgeS: null,
  });
  assert.deepEqual(reply.payload, hex('80 00 00 28 FF 38 01 0A FF FF FF FF'));
});

test('ERROR frames: codes, the board version on a mismatch, unknown codes kept raw', () => {
  const m = encodeError(0x03, 'hw_fault');
  assert.equal(kindOfType(m.type), 'error');
  assert.deepEqual(decodeError(m.payload), { command: 0x03, code: 'hw_fault', rawCode: 5 });
  assert.deepEqual(decodeError(encodeError(0x02, 'version', 2).payload), {
    command: 0x02,
    code: 'version',
    rawCode: 7,
    boardVersion: 2,
  });
  assert.deepEqual(decodeError(hex('01 63')), { command: 1, code: 'unknown', rawCode: 0x63 });
  assert.throws(() => decodeError(hex('01')), PayloadError);
});
