import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildBirth,
  buildHeartbeat,
  buildShutdown,
  buildWill,
  deviceState,
  HEARTBEAT_MAX_BYTES,
} from '../../contract/telemetry.js';
import { topicsFor } from '../../contract/topics.js';
import { topicMatches } from '../../agent/adapters/mqtt-link.js';

const now = new Date('2026-11-26T06:30:00.123Z');
const sys = { cpuTempC: 48.3, load1: 0.12, memFreeMB: 612, diskFreeMB: 10_240 };

test('a heartbeat with nothing known yet reports nulls, not invented values', () => {
  const hb = buildHeartbeat({ now, bootId: 'b', uptimeS: 12.7, sys, clockSynced: null, outbox: 3 });
  assert.deepEqual(hb, {
    ts: '2026-11-26T06:30:00.123Z',
    bootId: 'b',
    uptimeS: 12,
    state: 'idle',
    playing: null,
    volume: null,
    amp: null,
    fm: null,
    cache: null,
    sys,
    clock: { synced: null },
    net: null,
    schedule: [],
    outbox: 3,
    next: null,
  });
});

/** Every field filled, each at a realistic maximum (the 1 KiB tests). */
const FULL = {
  now,
  bootId: '0b6f3c1e-4f7a-4c61-9a53-1f0e2d3c4b5a',
  uptimeS: 8_640_000,
  sys,
  clockSynced: true,
  clock: { synced: true, source: 'timesyncd' as const, lowerBound: '2026-11-26T09:30:00.000Z', behind: false },
  outbox: 199_999,
  playing: {
    itemId: 'emergency-typhoon-warning-2026-11-26',
    docId: 'c26734-emergency-broadcast',
    source: 'stream' as const,
    startedAt: now.toISOString(),
    priority: 100,
  },
  faults: 0,
  volume: 100,
  volumeWhy: { level: 100, reason: 'emergency' as const },
  amp: { on: true, fault: false },
  fm: { freqMHz: 100.0, rssi: -61 },
  cache: { bytes: 1_073_741_824, ready: 48, pending: 2, failed: 1 },
  net: { bearer: 'lte', signal: -89, operator: 'Viettel' },
  schedule: [
    { id: 'c26734-daily-schedule', version: 4242 },
    { id: 'p79-province-relay', version: 17 },
    { id: 'all-national-relay', version: 311 },
  ],
  next: { itemId: 'evening-news-bulletin', at: '2026-11-26T17:00:00.000Z' },
  mcu: { up: true, resets: 65_535, badFrames: 4_294_967_295, timeouts: 4_294_967_295 },
};

test('a fully populated heartbeat stays under 1 KiB', () => {
  const hb = buildHeartbeat(FULL);
  const bytes = Buffer.byteLength(JSON.stringify(hb));
  assert.deepEqual(hb.mcu, { up: true, resets: 65_535, badFrames: 4_294_967_295, timeouts: 4_294_967_295 });
  assert.ok(bytes < 1024, `${bytes} bytes`);
  assert.equal(hb.state, 'playing');
  assert.deepEqual(hb.volumeWhy, { level: 100, reason: 'emergency' }, 'an emergency plays: its level');
  assert.deepEqual(hb.clock, {
    synced: true,
    source: 'timesyncd',
    lowerBound: '2026-11-26T09:30:00.000Z',
    behind: false,
  });
});

test("a heartbeat over 1 KiB sheds the explanations first, never the contract's state, clock or schedule", () => {
  const base = {
    ...FULL,
    sys: { cpuTempC: 85.5, load1: 12.34, memFreeMB: 123_456, diskFreeMB: 123_456 },
    clockSynced: false,
    // Two documents that vouch for each other, ten years ahead, on a box not yet synchronised.
    clock: {
      synced: false,
      source: 'timesyncd' as const,
      lowerBound: '2036-11-23T09:30:00.000Z',
      behind: true,
      aheadS: 315_360_000,
    },
  };
  const size = (h: object) => Buffer.byteLength(JSON.stringify(h));
  const hb = buildHeartbeat(base);
  assert.ok(size(hb) <= HEARTBEAT_MAX_BYTES, `${size(hb)} bytes`);
  assert.equal(hb.volumeWhy, undefined, 'the explanation went first');
  assert.deepEqual(hb.mcu, base.mcu, 'one field shed was enough');
  assert.deepEqual(hb.clock, base.clock);
  // Longer ids (the contract allows 64 characters): more goes, the contract's core stays.
  const long = (c: string) => c.repeat(64);
  const big = buildHeartbeat({
    ...base,
    schedule: ['a', 'b', 'c'].map((c, v) => ({ id: long(c), version: v })),
    next: { itemId: long('n'), at: base.next.at },
  });
  assert.ok(size(big) <= HEARTBEAT_MAX_BYTES, `${size(big)} bytes`);
  assert.equal(big.mcu, undefined);
  assert.deepEqual(
    [big.state, big.clock, big.schedule.length, big.next?.itemId],
    ['playing', base.clock, 3, long('n')],
  );
  // Under the budget nothing is shed.
  const { clock: _c, ...rest } = base;
  assert.deepEqual(buildHeartbeat(rest).volumeWhy, base.volumeWhy);
});

test('state: fault wins over playing, playing over idle', () => {
  assert.equal(deviceState({ playing: null, faults: 0 }), 'idle');
  assert.equal(
    deviceState({ playing: { itemId: 'a', docId: null, source: 'fm', startedAt: '', priority: 50 } }),
    'playing',
  );
  assert.equal(
    deviceState({ playing: { itemId: 'a', docId: null, source: 'fm', startedAt: '', priority: 50 }, faults: 1 }),
    'fault',
  );
});

test('birth, will and shutdown death carry the same bootId; the will has no ts', () => {
  const birth = buildBirth({
    now,
    bootId: 'b1',
    epoch: 'e1',
    agentVersion: '1.0.0',
    deviceId: 'd',
    groups: ['all'],
    site: { communeCode: '26734' },
    schedule: [{ id: 's', version: 2 }],
    heartbeatS: 30,
  });
  assert.equal(birth.online, true);
  assert.equal(birth.heartbeatS, 30, 'contract v1.1 §5: the periodic heartbeat interval');
  assert.deepEqual(buildWill('b1'), { online: false, bootId: 'b1', reason: 'lost' });
  assert.deepEqual(buildShutdown(now, 'b1'), {
    online: false,
    ts: '2026-11-26T06:30:00.123Z',
    bootId: 'b1',
    reason: 'shutdown',
  });
});

test('topics follow contract §1', () => {
  const t = topicsFor('loa/v1', 'vn-79-26734-01', ['all', 'c26734']);
  assert.equal(t.deviceSchedule, 'loa/v1/d/vn-79-26734-01/schedule');
  assert.deepEqual(t.groupSchedules, ['loa/v1/g/all/schedule', 'loa/v1/g/c26734/schedule']);
  assert.deepEqual(t.groupCmds, ['loa/v1/g/all/cmd', 'loa/v1/g/c26734/cmd']);
  assert.equal(t.status, 'loa/v1/d/vn-79-26734-01/status');
  assert.equal(t.heartbeat, 'loa/v1/d/vn-79-26734-01/heartbeat');
  assert.equal(t.events, 'loa/v1/d/vn-79-26734-01/events');
  assert.equal(t.cmdResult, 'loa/v1/d/vn-79-26734-01/cmd/result');
});

test('topic filters with + and #', () => {
  assert.ok(topicMatches('loa/v1/d/x/cmd', 'loa/v1/d/x/cmd'));
  assert.ok(topicMatches('loa/v1/g/+/schedule', 'loa/v1/g/all/schedule'));
  assert.ok(topicMatches('loa/#', 'loa/v1/d/x/cmd/result'));
  assert.ok(!topicMatches('loa/v1/d/x/cmd', 'loa/v1/d/x/cmd/result'));
  assert.ok(!topicMatches('loa/v1/g/+/schedule', 'loa/v1/g/all/cmd'));
});
