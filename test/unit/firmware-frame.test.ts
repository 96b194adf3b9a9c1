import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  crc16,
  decodeFrame,
  encodeFrame,
  inspectFrame,
  MAX_FRAME,
  MAX_PAYLOAD,
  PROTOCOL_VERSION,
  SOF,
} from '../../firmware-bridge/frame.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('crc16 is CRC-16/IBM-3740: check value of "123456789" is 0x29B1', () => {
  assert.equal(crc16(Buffer.from('123456789', 'ascii')), 0x29b1);
  assert.equal(crc16(Buffer.alloc(0)), 0xffff, 'init 0xFFFF, xorout 0');
});

test('crc16 over pieces equals crc16 over the whole', () => {
  const data = Buffer.from('123456789', 'ascii');
  assert.equal(crc16(data, 4, 9, crc16(data, 0, 4)), 0x29b1);
});

test('PROTOCOL.md §2.5 worked examples: exact bytes', () => {
  assert.deepEqual(encodeFrame({ seq: 0x01, type: 0x01 }), hex('A5 00 01 01 01 90 E0'));
  assert.deepEqual(
    encodeFrame({ seq: 0x2a, type: 0x05, payload: Buffer.from([0x26, 0x7a]) }),
    hex('A5 02 01 2A 05 26 7A E8 89'),
  );
  assert.deepEqual(
    encodeFrame({ seq: 0x2a, type: 0x85, payload: Buffer.from([0x26, 0x7a, 0x2d]) }),
    hex('A5 03 01 2A 85 26 7A 2D 65 B0'),
  );
});

test('the residue is zero: CRC over LEN..PAYLOAD plus the CRC bytes', () => {
  const f = encodeFrame({ seq: 7, type: 0x44, payload: Buffer.from([1, 0xff, 0xff]) });
  assert.equal(crc16(f, 1), 0);
});

test('round trip: decode(encode(x)) for empty, small and maximum payloads', () => {
  for (const len of [0, 1, 19, MAX_PAYLOAD]) {
    const payload = Buffer.from(Array.from({ length: len }, (_, i) => (i * 37 + 11) & 0xff));
    const bytes = encodeFrame({ seq: 200, type: 0x82, payload });
    assert.equal(bytes.length, 7 + len);
    assert.equal(bytes[0], SOF);
    assert.deepEqual(decodeFrame(bytes), { version: PROTOCOL_VERSION, seq: 200, type: 0x82, payload });
  }
  assert.equal(encodeFrame({ seq: 1, type: 1, payload: Buffer.alloc(MAX_PAYLOAD) }).length, MAX_FRAME);
});

test('another version is carried, not rejected, by the framing layer', () => {
  assert.equal(decodeFrame(encodeFrame({ seq: 1, type: 0x40, version: 2 })).version, 2);
});

test('encode refuses payloads over MAX_PAYLOAD and fields that are not bytes', () => {
  assert.throws(() => encodeFrame({ seq: 1, type: 1, payload: Buffer.alloc(MAX_PAYLOAD + 1) }), /MAX_PAYLOAD/);
  assert.throws(() => encodeFrame({ seq: 256, type: 1 }), /seq/);
  assert.throws(() => encodeFrame({ seq: 1, type: -1 }), /type/);
  assert.throws(() => encodeFrame({ seq: 1.5, type: 1 }), /seq/);
});

test('inspectFrame: not-sof, incomplete, oversize from two bytes, bad-crc, ok', () => {
  const f = encodeFrame({ seq: 3, type: 2, payload: Buffer.from([9, 9]) });
  assert.deepEqual(inspectFrame(hex('00')), { kind: 'not-sof' });
  assert.deepEqual(inspectFrame(hex('A5')), { kind: 'incomplete', need: 0 });
  assert.deepEqual(inspectFrame(f.subarray(0, 8)), { kind: 'incomplete', need: 9 });
  assert.deepEqual(inspectFrame(hex('A5 41')), { kind: 'oversize', len: 0x41 });
  const bad = Buffer.from(f);
  bad[5] = 8;
  assert.deepEqual(inspectFrame(bad), { kind: 'bad-crc', length: 9 });
  assert.deepEqual(inspectFrame(Buffer.concat([hex('00 00'), f]), 2), { kind: 'ok', length: 9 });
});

test('decodeFrame says why bytes are not one frame', () => {
  const f = encodeFrame({ seq: 3, type: 2 });
  assert.throws(() => decodeFrame(Buffer.concat([f, hex('00')])), /trailing/);
  assert.throws(() => decodeFrame(f.subarray(0, 5)), /incomplete/);
  const bad = Buffer.from(f);
  bad[3] = 4;
  assert.throws(() => decodeFrame(bad), /bad-crc/);
});
