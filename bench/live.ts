// Issue [5/8]: live broadcast (contract v1.2 §8), each number beside its anchor from the
// same run. Real parts: Mosquitto, three built agents whose paced stand-in card records
// what it plays (box C's card 50 ppm fast, box S behind a link that stalls 300 ms every
// 10 s), and the real `noc live` playing a WAV of marker clicks; opusdec (opus-tools) as
// the decoding anchor where installed.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OpusDecoder, OpusEncoder } from '../cli-kit/opus.js';
import { signDoc } from '../contract/index.js';
import { LIVE_TYP } from '../contract/verify.js';
import { CODEC_DELAY_FRAMES, LiveTimeline, type PacketDecoder } from '../agent/domain/live-timeline.js';
import { OggOpusWriter } from '../noc/ogg-opus.js';
import { clickTimes, clicksWav, liveArgs, liveRig, onsets, RATE, readRecording } from '../test/helpers/live-rig.js';
import { makeKey } from '../test/helpers/signer.js';
import { tempDir } from '../test/helpers/tmp.js';
import { spawnNoc } from '../test/integration/noc-cli.js';
import { rssMb, type Add } from './agent-proc.js';
import { size } from './smoke.js';

const LATENCY_MS = 2500;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

/** 60 s of speech: espeak-ng's Vietnamese voice at 48 kHz through sox, or (without them) noise in syllables. */
function speech(dir: string, seconds: number): Int16Array {
  const text =
    'Thông báo của Ủy ban nhân dân xã về việc phòng chống bão số ba. Đề nghị bà con di chuyển đến nơi an toàn. '.repeat(
      12,
    );
  const raw = join(dir, 'speech.wav');
  const out = join(dir, 'speech48.raw');
  const a = spawnSync('espeak-ng', ['-v', 'vi', '-w', raw, text]);
  const b =
    a.status === 0
      ? spawnSync('sox', [raw, '-r', '48000', '-c', '1', '-b', '16', '-e', 'signed', '-t', 'raw', out])
      : a;
  const n = seconds * RATE;
  if (b.status === 0) {
    const buf = readFileSync(out);
    const pcm = new Int16Array(n);
    const src = new Int16Array(buf.buffer, buf.byteOffset, buf.length >> 1);
    for (let i = 0; i < n; i++) pcm[i] = src[i % src.length]!;
    return pcm;
  }
  const pcm = new Int16Array(n);
  for (let i = 0; i < n; i++)
    pcm[i] = Math.round((Math.random() - 0.5) * 12000 * Math.max(0, Math.sin((i / RATE) * Math.PI * 4)));
  return pcm;
}

function cpuOf(cmd: string, args: string[]): number | null {
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', cmd, ...args], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const [u, s] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return (u! + s!) * 1000;
}

/** The codec and the wire, with no broker: decode CPU beside opusdec, bytes per second beside the Opus bitrate. */
function codecRows(add: Add): void {
  const dir = tempDir('bench-live');
  const seconds = size(60, 5);
  const pcm = speech(dir, seconds);
  const enc = new OpusEncoder(48_000, 24_000);
  const packets: Buffer[] = [];
  for (let i = 0; i + 960 <= pcm.length; i += 960) packets.push(enc.encode(pcm.subarray(i, i + 960)));
  enc.close();
  const opusBytes = packets.reduce((a, p) => a + p.length, 0);
  const ogg = join(dir, 'speech.opus');
  const w = new OggOpusWriter(ogg, 48_000, { title: 'bench' });
  for (let i = 0; i < packets.length; i += 10) w.write(packets.slice(i, i + 10));
  w.close();
  const dec = new OpusDecoder();
  const c0 = process.cpuUsage();
  for (const p of packets) dec.decode(p);
  const c = process.cpuUsage(c0);
  dec.close();
  const boxMs = (c.user + c.system) / 1000;
  const opusdec = cpuOf('opusdec', ['--quiet', ogg, join(dir, 'out.wav')]);
  add(
    `live: decode ${seconds} s of 24 kbit/s speech (opusscript, in the agent) | opusdec (opus-tools)`,
    `${boxMs.toFixed(0)} | ${opusdec === null ? 'n/a (no opusdec)' : opusdec.toFixed(0)} CPU-ms`,
    'a few % of a core on a Pi',
  );
  // On the wire: each 200 ms chunk as noc live signs it, plus its MQTT PUBLISH header and topic.
  const key = makeKey('bench-live');
  const topic = 'loa/v1/live/live-20261207-013000-a1b2c3';
  let wire = 0;
  for (let n = 0; n * 10 < packets.length; n++) {
    const f = packets.slice(n * 10, n * 10 + 10).map((p) => p.toString('base64url'));
    const jws = signDoc(
      { s: 'live-20261207-013000-a1b2c3', n, t: 1_796_608_203_400 + n * 200, f },
      { key: key.privateKey, kid: key.kid },
      LIVE_TYP,
    );
    wire += jws.length + topic.length + 2 + 5;
  }
  const ratio = wire / opusBytes;
  add(
    'live: bytes per second per box on the wire | the Opus bitrate (24 kbit/s, 200 ms chunks)',
    `${((wire * 8) / seconds / 1000).toFixed(1)} | ${((opusBytes * 8) / seconds / 1000).toFixed(1)} kbit/s (${ratio.toFixed(2)}x)`,
    '<= 2.5x',
    ratio <= 2.5,
  );
}

/** The playout alone: a card 50 ppm fast over a 30 min session (simulated time). */
function driftRow(add: Add): void {
  const mark: PacketDecoder = { decode: () => new Int16Array(960).fill(1), conceal: () => new Int16Array(960) };
  const t0 = 1_800_000_000_000;
  const tl = new LiveTimeline(LATENCY_MS, mark);
  const minutes = size(30, 1);
  const tickMs = 10 / (1 + 50e-6);
  const start = t0 + LATENCY_MS - CODEC_DELAY_FRAMES / 48;
  let fed = 0;
  let last = 0;
  for (let k = 0; (k + 1) * tickMs < minutes * 60_000 - 1000; k++) {
    const at = start + k * tickMs;
    for (; fed * 20 < at - t0 + 400; fed += 10)
      tl.add({ t: t0 + fed * 20, packets: Array.from({ length: 10 }, () => Buffer.from([1])), end: false }, 0, true);
    tl.pull(480, at);
    last = tl.resetClockErr();
  }
  add(
    `live: playout error after ${minutes} min, sound card 50 ppm fast (simulated)`,
    `${last.toFixed(3)} ms (${tl.stats.driftAdjusts} samples skipped)`,
    '< 5 ms',
    last < 5,
  );
}

/** Three boxes on Mosquitto, noc live with clicks: latency, skew, RSS and CPU, stalls. */
async function sessionRows(add: Add): Promise<void> {
  const r = await liveRig(['bench-a', 'bench-c', 'bench-s'], { 'bench-c': { audio: { pacedPpm: 50 } } }, ['bench-s']);
  try {
    const seconds = size(40, 8);
    const clicks = clickTimes(Math.floor((seconds - 1) / 0.5), 0.5);
    const wav = join(r.dir, 'clicks.wav');
    clicksWav(wav, seconds, clicks);
    const pids = r.boxes.map((b) => b.proc.proc.pid!);
    const idleRss = pids.map((p) => rssMb(p));
    const cpu = (pid: number) => {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(f[11]) + Number(f[12])) * 10;
    };
    const cpu0 = cpu(pids[0]!);
    const t0 = Date.now();
    const noc = spawnNoc(liveArgs(r, { file: wav, latencyMs: LATENCY_MS }));
    let peak = idleRss.slice();
    const sampler = setInterval(() => (peak = peak.map((p, i) => Math.max(p, rssMb(pids[i]!)))), 250);
    const stalls = setInterval(() => r.proxies.get('bench-s')!.stall(300), 10_000);
    const code = await noc.exited;
    clearInterval(stalls);
    if (code !== 0) throw new Error(`noc live exited ${code}: ${noc.stderr()}`);
    const stats: Record<string, Record<string, number>> = {};
    for (const b of r.boxes)
      stats[b.id] = (
        await r.watcher.waitFor(
          (m) => m.topic === `loa/v1/d/${b.id}/events` && m.json().type === 'live.stats' && m.json().reason === 'end',
          30_000,
          `${b.id} end`,
        )
      ).json();
    clearInterval(sampler);
    const boxCpuMs = cpu(pids[0]!) - cpu0;
    const wallMs = Date.now() - t0;
    const rec = JSON.parse(readFileSync(join(r.dir, 'archive', `${readdirSession(r.dir)}.json`), 'utf8')) as {
      captureStartMs: number;
    };
    const offsets: Record<string, number[]> = {};
    for (const b of r.boxes) {
      const { pcm, meta } = readRecording(b.rec);
      offsets[b.id] = onsets(pcm).map(
        (i, k) => meta.firstSampleMs + (i * 1000) / meta.cardRateHz - (rec.captureStartMs + (clicks[k]! * 1000) / RATE),
      );
    }
    const a = offsets['bench-a']!;
    add(
      `live: capture -> first PCM of a click, p50 / p99 (${a.length} clicks, latencyMs ${LATENCY_MS})`,
      `${pct(a, 0.5).toFixed(2)} / ${pct(a, 0.99).toFixed(2)} ms`,
      `p99 <= ${LATENCY_MS + 20} ms`,
      pct(a, 0.99) <= LATENCY_MS + 20 && a.length === clicks.length,
    );
    const c = offsets['bench-c']!;
    const skew = a.map((x, k) => Math.abs(x - (c[k] ?? Infinity)));
    add(
      "live: skew between two boxes on one click, p99 (box C's card 50 ppm fast)",
      `${pct(skew, 0.99).toFixed(3)} ms`,
      '<= 5 ms (Snapcast: < 0.2 ms on a LAN)',
      pct(skew, 0.99) <= 5,
    );
    add(
      `live: box RSS during a session | idle (${r.boxes.length} boxes, max)`,
      `${Math.max(...peak).toFixed(1)} | ${Math.max(...idleRss).toFixed(1)} MB`,
      'a session adds little',
    );
    add(
      'live: box CPU during the session (decode, playout, MQTT)',
      `${((boxCpuMs / wallMs) * 100).toFixed(1)} % of a core`,
      '',
    );
    const s = stats['bench-s']!;
    const others = [stats['bench-a']!, stats['bench-c']!];
    add(
      'live: 300 ms link stalls every 10 s on one box: ms concealed there | on the others',
      `${s.concealedMs} | ${others.map((o) => o.concealedMs).join(', ')} ms (late chunks ${s.late})`,
      'others unaffected',
      others.every((o) => o.concealedMs === 0 && o.late === 0),
    );
  } finally {
    await r.close();
  }
}

function readdirSession(dir: string): string {
  return readdirSync(join(dir, 'archive'))
    .find((f) => f.endsWith('.json'))!
    .replace(/\.json$/, '');
}

export async function benchLive(add: Add): Promise<void> {
  codecRows(add);
  driftRow(add);
  await sessionRows(add);
}
