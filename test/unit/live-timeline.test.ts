// The live playout timeline (agent/domain/live-timeline.ts) and the chunk checks
// (contract/live-chunk.ts): pure logic, driven with a simulated card. The packet decoder
// here marks each packet's samples with its index; its contract (960 frames per packet
// and per concealment, an empty packet refused) is checked against the real Opus decoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CODEC_DELAY_FRAMES,
  FRAMES_PER_PACKET,
  LiveTimeline,
  type PacketDecoder,
} from '../../agent/domain/live-timeline.js';
import { ChunkChecker } from '../../contract/live-chunk.js';
import { KeyRing, LIVE_TYP } from '../../contract/verify.js';
import { signDoc } from '../../contract/index.js';
import { OpusDecoder, OpusEncoder } from '../../cli-kit/opus.js';
import { makeKey } from '../helpers/signer.js';

/** Packet i decodes to 960 samples of value i + 1; concealment is -1. */
function markingDecoder(): PacketDecoder & { concealed: number } {
  return {
    concealed: 0,
    decode: (p) => {
      if (p.length === 0) throw new Error('empty Opus packet');
      return new Int16Array(FRAMES_PER_PACKET).fill(p.readUInt16LE(0) + 1);
    },
    conceal() {
      this.concealed++;
      return new Int16Array(FRAMES_PER_PACKET).fill(-1);
    },
  };
}
const pkt = (i: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(i);
  return b;
};

for (const [name, make] of [
  ['the marking decoder', () => markingDecoder()],
  ['opusscript', () => new OpusDecoder()],
] as const) {
  test(`decoder contract (${name}): 960 frames per packet and per concealment, an empty packet refused`, () => {
    const d = make();
    const packet = name === 'opusscript' ? new OpusEncoder(48_000, 24_000).encode(new Int16Array(960)) : pkt(3);
    assert.equal(d.decode(packet).length, 960);
    assert.equal(d.conceal().length, 960);
    assert.throws(() => d.decode(Buffer.alloc(0)));
  });
}

test('a card 50 ppm fast over a 30 min session: one sample at a time, the playout never drifts a frame from the system clock', () => {
  const latency = 2500;
  const t0 = 1_800_000_000_000;
  const tl = new LiveTimeline(latency, markingDecoder());
  const ppm = 50;
  const minutes = 30;
  const packets = (minutes * 60 * 1000) / 20;
  // Chunks of 10 packets, all arriving in time (the buffer is not what this tests).
  let next = 0;
  const feed = (untilPacket: number) => {
    for (; next < Math.min(untilPacket, packets); next += 10)
      tl.add(
        { t: t0 + next * 20, packets: Array.from({ length: 10 }, (_, k) => pkt((next + k) % 60000)), end: false },
        0,
        true,
      );
  };
  feed(200);
  // The card takes 480 frames a tick by its own crystal: its ticks are 10 ms / (1 + 50e-6) of system time apart.
  const frames = 480;
  const tickMs = 10 / (1 + ppm * 1e-6);
  const start = t0 + latency - CODEC_DELAY_FRAMES / 48;
  const ticks = Math.floor((minutes * 60 * 1000) / tickMs) - 200;
  let worst = 0;
  for (let k = 0; k < ticks; k++) {
    const at = start + k * tickMs;
    feed(Math.ceil((at - t0) / 20) + 200);
    tl.pull(frames, at);
    worst = Math.max(worst, tl.resetClockErr());
  }
  assert.ok(worst < 0.03, `worst error ${worst} ms (one frame is 0.021 ms)`);
  // 50 ppm of 30 min at 48 kHz is 4,320 frames the card takes beyond the nominal rate.
  assert.ok(Math.abs(tl.stats.driftAdjusts - 4320) < 60, `${tl.stats.driftAdjusts} samples skipped`);
  assert.equal(tl.stats.jumps, 0);
  assert.equal(tl.stats.concealedMs, 0);
});

test('a chunk lost: its packets are concealed and counted; one that comes after its turn is late and never played', () => {
  const d = markingDecoder();
  const tl = new LiveTimeline(1000, d);
  const t0 = 1_000_000;
  const chunk = (n: number) => ({
    t: t0 + n * 200,
    packets: Array.from({ length: 10 }, (_, k) => pkt(n * 10 + k)),
    end: n === 4,
  });
  tl.add(chunk(0), 0, true);
  tl.add(chunk(1), 0, true);
  // chunk 2 lost; 3 and 4 (the end) arrive
  tl.add(chunk(3), 0, true);
  tl.add(chunk(4), 0, true);
  const out: number[] = [];
  const start = t0 + 1000 - CODEC_DELAY_FRAMES / 48;
  for (let k = 0; !tl.done() && k < 200; k++) {
    const pcm = tl.pull(480, start + k * 10);
    for (let i = 0; i < pcm.length; i += 480) out.push(pcm[i]!);
    if (k === 60) assert.equal(tl.add(chunk(2), 0, true), 10, 'chunk 2 after its turn: 10 late packets');
  }
  assert.ok(tl.done(), 'the end chunk played out');
  assert.equal(tl.stats.concealedMs, 200);
  assert.equal(tl.stats.latePackets, 10);
  assert.equal(d.concealed, 5, 'PLC for 5 packets (100 ms), then silence');
  // What played: packets 0-19, 5 concealed, 5 silent, then 30-49 (values are index + 1; each pull covers half a packet).
  const packetsHeard = [...new Set(out.filter((v) => v > 0))];
  assert.deepEqual(packetsHeard, [
    ...Array.from({ length: 20 }, (_, i) => i + 1),
    ...Array.from({ length: 20 }, (_, i) => i + 31),
  ]);
  assert.ok(tl.firstAudioAt !== null && Math.abs(tl.firstAudioAt - start) < 0.001);
});

test('an unsynchronised box plays at arrival + latency, whatever the chunks say their capture was', () => {
  const tl = new LiveTimeline(2000, markingDecoder());
  tl.add({ t: 5_000, packets: [pkt(0)], end: false }, 900_000, false);
  assert.equal(tl.originMs, 902_000);
});

test('chunk checks: signature, role, session key, session id, order and time, each dropped and named', () => {
  const live = makeKey('studio');
  const other = makeKey('other-live');
  const cmd = makeKey('centre');
  const keys = new KeyRing([
    { kid: live.kid, publicKey: live.publicKey, roles: ['live'] },
    { kid: other.kid, publicKey: other.publicKey, roles: ['live'] },
    { kid: cmd.kid, publicKey: cmd.publicKey, roles: ['command'] },
  ]);
  const c = new ChunkChecker(keys, 'sess-1', live.kid);
  const f = [Buffer.from([1, 2, 3]).toString('base64url')];
  const sign = (p: Record<string, unknown>, k = live) => signDoc(p, { key: k.privateKey, kid: k.kid }, LIVE_TYP);
  const ok = (n: number, t: number, packets = 10) => sign({ s: 'sess-1', n, t, f: Array(packets).fill(f[0]) });
  assert.equal(c.check(ok(0, 1000)).ok, true);
  const reason = (p: string) => {
    const v = c.check(p);
    return v.ok ? 'ok' : v.reason;
  };
  assert.equal(reason(ok(0, 1000)), 'order', 'a replay');
  assert.equal(reason(ok(1, 1300)), 'time', 't 100 ms after the audio before it');
  assert.equal(reason(sign({ s: 'sess-1', n: 1, t: 1200, f }, cmd)), 'key', 'a key without the live role');
  assert.equal(reason(sign({ s: 'sess-1', n: 1, t: 1200, f }, other)), 'key', "a live key, not the session's");
  assert.equal(reason(sign({ s: 'sess-2', n: 1, t: 1200, f })), 'session');
  assert.equal(reason(sign({ s: 'sess-1', n: 1, t: 1200, f: [] })), 'invalid');
  assert.equal(reason(ok(1, 1200).slice(0, -4) + 'AAAA'), 'signature');
  assert.equal(reason('garbage'), 'invalid');
  assert.equal(reason(ok(1, 1200)), 'ok');
  // Chunks 2-3 lost: chunk 4 may start anywhere from the end of chunk 1 to 2 × 400 ms later.
  assert.equal(reason(ok(4, 1400 + 900)), 'time');
  assert.equal(reason(ok(4, 1400 + 400)), 'ok');
});

test('an underrun of 13 ms (the card played silence, then pulls again): the position jumps at once, not one sample a pull', () => {
  const tl = new LiveTimeline(1000, markingDecoder());
  const t0 = 1_000_000;
  for (let n = 0; n < 20; n++)
    tl.add({ t: t0 + n * 200, packets: Array.from({ length: 10 }, (_, k) => pkt(n * 10 + k)), end: false }, 0, true);
  const start = t0 + 1000 - CODEC_DELAY_FRAMES / 48;
  for (let k = 0; k < 50; k++) tl.pull(480, start + k * 10);
  tl.resetClockErr();
  // The card lost 13 ms (624 frames) to an underrun: its next pull is for 13 ms later than continuity says.
  const at = start + 50 * 10 + 13;
  tl.pull(480, at);
  assert.equal(tl.stats.jumps, 1);
  tl.resetClockErr();
  const pcm = tl.pull(480, at + 10);
  assert.ok(tl.resetClockErr() < 0.03, 'aligned on the very next pull');
  // What plays at `at + 10` is the packet its instant names: (at + 10 - start) / 20 ms.
  assert.equal(pcm[0], Math.floor((at + 10 - start) / 20) + 1);
});

test("chunk time is anchored to the session's grid: chunks a few ms late each cannot creep; a first chunk far from the box's clock is refused", () => {
  const live = makeKey('studio');
  const keys = new KeyRing([{ kid: live.kid, publicKey: live.publicKey, roles: ['live'] }]);
  const f = Array(10).fill(Buffer.from([1, 2, 3]).toString('base64url'));
  const sign = (n: number, t: number) =>
    signDoc({ s: 's', n, t, f }, { key: live.privateKey, kid: live.kid }, LIVE_TYP);
  const c = new ChunkChecker(keys, 's', live.kid);
  const now = 1_800_000_000_000;
  const first = { now, pastMs: 12_000, aheadMs: 10_000 };
  assert.equal(
    (c.check(sign(0, now - 60_000), first) as { reason?: string }).reason,
    'time',
    'an old session replayed',
  );
  const v0 = c.check(sign(0, now), first);
  assert.equal(v0.ok && v0.slot, now);
  // Each chunk 15 ms later than the one before would have it (within a packet of its neighbour):
  const v1 = c.check(sign(1, now + 200 + 15));
  assert.equal(v1.ok && v1.slot, now + 200, 'placed on the grid');
  assert.equal((c.check(sign(2, now + 400 + 30)) as { reason?: string }).reason, 'time', '30 ms off the grid');
});
