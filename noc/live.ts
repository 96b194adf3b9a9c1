// `noc live`: speak to a device or groups now (contract v1.2 §8). A signed `live` command
// (command key) opens the session on each box; then the voice, from the office's
// microphone (ALSA, `arecord`) or a WAV file played in real time, is encoded as Opus in
// 20 ms packets, put in chunks stamped with the capture instant of their first sample,
// signed with the session's `live` key, and published on `{root}/live/{sessionId}`.
// Every box plays each packet at capture + latency on its own clock.
//
// Each session is recorded (Ogg Opus, and a JSON sidecar: who, when, to whom, which boxes
// answered `listening`) in --record DIR: the station's archive and proof of what was said.
// Ctrl-C (or the end of the file) sends the last chunk with `end: true`.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { EXIT, UsageError, parseArgs, required } from '../cli-kit/index.js';
import { PACKET_MS, alsaCapture, dbfs, fileCapture, meter, readWav, type Capture } from './live-capture.js';
import { OpusEncoder } from '../cli-kit/opus.js';
import { LIVE_LATENCY_MS, MAX_LIVE_S } from '../contract/command-doc.js';
import { signDoc, type SigningKey } from '../contract/index.js';
import { LIVE_TYP } from '../contract/verify.js';
import { fleetFilter, parseDeviceTopic } from '../contract/topics.js';
import { DEFAULT_COMMAND_TTL_S, loadSigningKey } from './docs.js';
import type { Io } from './io.js';
import { BROKER_HELP, BROKER_SPEC, brokerConfig, closeClient, connect } from './mqtt.js';
import { OggOpusWriter } from './ogg-opus.js';
import { bindingOf, topicFor, type Target } from './publish.js';
import { checkId } from './topics.js';
import { prepareDoc, signPrepared } from './sign.js';

const SPEC = {
  ...BROKER_SPEC,
  device: { kind: 'string' },
  group: { kind: 'list' },
  key: { kind: 'string' },
  'live-key': { kind: 'string' },
  file: { kind: 'string' },
  alsa: { kind: 'string' },
  latency: { kind: 'number', min: LIVE_LATENCY_MS.min, max: LIVE_LATENCY_MS.max },
  bitrate: { kind: 'number', min: 6, max: 128 },
  rate: { kind: 'number', min: 16000, max: 48000 },
  priority: { kind: 'number', min: 0, max: 100 },
  volume: { kind: 'number', min: 0, max: 100 },
  'max-duration': { kind: 'number', min: 1, max: MAX_LIVE_S },
  'chunk-ms': { kind: 'number', min: 20, max: 400 },
  record: { kind: 'string' },
  operator: { kind: 'string' },
  session: { kind: 'string' },
} as const;

export const LIVE_HELP = `noc live --broker URL (--device ID | --group G ...) --key cmd.pem --live-key live.pem
         (--file speech.wav | --alsa DEVICE) [--record DIR] [options]

Open a live session on a device or groups (one signed "live" command per target, signed
with --key, a key with the command role) and speak: the audio is encoded as Opus
(20 ms packets), chunked, signed with --live-key (a key with the live role, named in the
command) and published on {root}/live/{sessionId}. Every box plays each packet at its
capture instant + --latency on its own clock. Ctrl-C, or the end of --file, ends the
session (the last chunk says end: true); a source that dies ends it on every box 10 s later.

  --file WAV        play a WAV file (16-bit PCM, mono or stereo, 48 or 16 kHz) in real time
  --alsa DEVICE     capture from an ALSA device (arecord -D DEVICE), e.g. default or hw:1
  --latency MS      capture to horn (default ${LIVE_LATENCY_MS.default}; ${LIVE_LATENCY_MS.min}–${LIVE_LATENCY_MS.max})
  --bitrate KBPS    Opus bitrate (default 24; speech: 16–32)
  --rate HZ         48000 or 16000 (default: the file's, or 48000)
  --priority P      default 75; 100 is an emergency (preempts anything, even a schedule at 100)
  --volume V        item volume 0–100 (default: the box's)
  --max-duration S  the boxes end the session after S s whatever happens (default 3600)
  --chunk-ms MS     audio per chunk, 20–400 (default 200)
  --record DIR      keep the session as DIR/<session>.opus + DIR/<session>.json (default .)
  --operator NAME   who speaks, in the record (default $USER)

${BROKER_HELP}`;

export function newSessionId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15).toLowerCase();
  return `live-${stamp}-${randomBytes(3).toString('hex')}`;
}

export async function liveCommand(argv: string[], io: Io): Promise<number> {
  const { opts, help } = parseArgs(argv, SPEC, 'noc live');
  if (help) return (io.out(LIVE_HELP), EXIT.OK);
  const cfg = brokerConfig(opts, process.env, io.err);
  const groups = opts.group ?? [];
  if ((opts.device === undefined) === (groups.length === 0))
    throw new UsageError('give exactly one of --device ID or --group G (repeatable)');
  const targets: Target[] =
    opts.device !== undefined
      ? [{ device: checkId(opts.device, '--device') }]
      : groups.map((g) => ({ group: checkId(g, '--group') }));
  if ((opts.file === undefined) === (opts.alsa === undefined))
    throw new UsageError('give exactly one of --file WAV or --alsa DEVICE');
  const cmdKey = loadSigningKey(required(opts.key ?? process.env.NOC_KEY, '--key', 'centre-2026.key.pem'), undefined);
  const liveKey = loadSigningKey(required(opts['live-key'], '--live-key', 'studio-live.key.pem'), undefined);
  const bitrate = (opts.bitrate ?? 24) * 1000;
  const chunkPackets = Math.max(1, Math.round((opts['chunk-ms'] ?? 200) / PACKET_MS));
  let capture: Capture;
  if (opts.file !== undefined) {
    const wav = readWav(opts.file);
    capture = fileCapture(wav.pcm, wav.rate as 48_000 | 16_000);
  } else {
    const rate = opts.rate ?? 48_000;
    if (rate !== 48_000 && rate !== 16_000) throw new UsageError('--rate is 48000 or 16000');
    capture = alsaCapture(opts.alsa!, rate);
  }
  const sessionId = opts.session !== undefined ? checkId(opts.session, '--session') : newSessionId();
  const recordDir = opts.record ?? '.';
  mkdirSync(recordDir, { recursive: true });
  const operator = opts.operator ?? process.env.USER ?? 'unknown';
  const args = {
    sessionId,
    kid: liveKey.kid,
    priority: opts.priority ?? 75,
    latencyMs: opts.latency ?? LIVE_LATENCY_MS.default,
    codec: 'opus',
    sampleRate: capture.rate,
    channels: 1,
    maxDurationS: opts['max-duration'] ?? 3600,
    ...(opts.volume !== undefined ? { volume: opts.volume } : {}),
  };
  const commands = await Promise.all(
    targets.map(async (to) => {
      const raw = {
        type: 'command',
        target: to.device !== undefined ? { devices: [to.device] } : { groups: [to.group] },
        action: 'live',
        args,
      };
      const prepared = prepareDoc(raw, 'live command', io, {
        now: Date.now(),
        ttlS: DEFAULT_COMMAND_TTL_S,
        binding: bindingOf(to),
      });
      return { to, cmdId: String(prepared.doc.id), jws: await signPrepared(prepared, cmdKey) };
    }),
  );
  const client = await connect(cfg);
  try {
    return await runSession(client, {
      root: cfg.root,
      commands,
      sessionId,
      liveKey,
      capture,
      bitrate,
      chunkPackets,
      recordDir,
      operator,
      args,
      io,
    });
  } finally {
    await closeClient(client);
  }
}

interface Session {
  root: string;
  commands: { to: Target; cmdId: string; jws: string }[];
  sessionId: string;
  liveKey: SigningKey;
  capture: Capture;
  bitrate: number;
  chunkPackets: number;
  recordDir: string;
  operator: string;
  args: Record<string, unknown>;
  io: Io;
}

async function runSession(client: MqttClient, s: Session): Promise<number> {
  const { io } = s;
  const ids = new Set(s.commands.map((c) => c.cmdId));
  const listening = new Map<string, { state: string; synced?: boolean }>();
  const refused = new Map<string, string>();
  client.on('message', (topic, payload) => {
    const where = parseDeviceTopic(s.root, topic);
    if (where?.leaf !== 'cmd/result') return;
    try {
      const r = JSON.parse(payload.toString('utf8')) as {
        cmdId?: string;
        ok?: boolean;
        result?: { state?: string; synced?: boolean };
        error?: { code?: string; message?: string };
      };
      if (!r.cmdId || !ids.has(r.cmdId)) return;
      if (r.ok) {
        listening.set(where.deviceId, { state: r.result?.state ?? '?', synced: r.result?.synced });
        io.err(
          `${where.deviceId}: ${r.result?.state ?? 'ok'}${r.result?.synced === false ? ' (clock NOT synchronised: plays at arrival + latency)' : ''}`,
        );
      } else {
        refused.set(where.deviceId, `${r.error?.code}: ${r.error?.message}`);
        io.err(`${where.deviceId}: refused ${r.error?.code}: ${r.error?.message}`);
      }
    } catch {
      /* not a result */
    }
  });
  await client.subscribeAsync([fleetFilter(s.root, 'cmd/result')], { qos: 1 });
  for (const c of s.commands) await client.publishAsync(topicFor(s.root, c.to, 'cmd'), c.jws, { qos: 1 });
  io.err(
    `session ${s.sessionId}: opened on ${s.commands.map((c) => c.to.device ?? `group ${c.to.group}`).join(', ')}; speak (Ctrl-C ends)`,
  );

  const startedAt = new Date();
  const opusPath = join(s.recordDir, `${s.sessionId}.opus`);
  const ogg = new OggOpusWriter(opusPath, s.capture.rate, {
    title: `loa live ${s.sessionId}`,
    artist: s.operator,
    date: startedAt.toISOString(),
    loa_session: s.sessionId,
    loa_targets: s.commands.map((c) => c.to.device ?? `g:${c.to.group}`).join(' '),
  });
  const enc = new OpusEncoder(s.capture.rate, s.bitrate);
  const topic = `${s.root}/live/${s.sessionId}`;
  let n = 0;
  let packets: Buffer[] = [];
  let chunkT = 0;
  let firstT: number | null = null;
  let nextT = 0;
  let sentBytes = 0;
  let frames = 0;
  let level: Int16Array[] = [];
  let lastMeter = 0;
  const publish = (end: boolean) => {
    if (packets.length === 0 && !end) return;
    if (packets.length === 0) {
      // An end needs a packet: 20 ms of silence, right after the audio before it.
      packets = [enc.encode(new Int16Array(enc.frame))];
      chunkT = nextT;
    }
    nextT = chunkT + PACKET_MS * packets.length;
    const jws = signDoc(
      {
        s: s.sessionId,
        n: n++,
        t: chunkT,
        f: packets.map((p) => p.toString('base64url')),
        ...(end ? { end: true } : {}),
      },
      s.liveKey,
      LIVE_TYP,
    );
    sentBytes += jws.length;
    client.publish(topic, jws, { qos: 0 });
    ogg.write(packets);
    packets = [];
  };
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      s.capture.stop();
      publish(true);
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      resolve();
    };
    process.on('SIGINT', finish);
    process.on('SIGTERM', finish);
    s.capture.start((pcm, t) => {
      if (done) return;
      if (packets.length === 0) chunkT = t;
      firstT ??= t;
      packets.push(enc.encode(pcm));
      frames++;
      level.push(pcm);
      if (packets.length >= s.chunkPackets) publish(false);
      const now = performance.now();
      if (now - lastMeter >= (io.isTTY ? 100 : 1000)) {
        lastMeter = now;
        const all = new Int16Array(level.reduce((a, x) => a + x.length, 0));
        let o = 0;
        for (const x of level) all.set(x, (o += x.length) - x.length);
        level = [];
        const line = `${meter(dbfs(all))}  ${listening.size} listening`;
        if (io.isTTY) io.write(`\r${line}`);
        else io.err(line);
      }
    }, finish);
  });
  if (io.isTTY) io.write('\n');
  enc.close();
  ogg.close();
  const seconds = (frames * PACKET_MS) / 1000;
  const record = {
    sessionId: s.sessionId,
    commands: s.commands.map((c) => ({ cmdId: c.cmdId, target: c.to })),
    operator: s.operator,
    kid: s.liveKey.kid,
    args: s.args,
    startedAt: startedAt.toISOString(),
    /** The capture instant of the first sample (chunk 0's t), ms since the epoch. */
    captureStartMs: firstT,
    endedAt: new Date().toISOString(),
    seconds,
    chunks: n,
    bytesPublished: sentBytes,
    listening: Object.fromEntries(listening),
    refused: Object.fromEntries(refused),
    audio: `${s.sessionId}.opus`,
  };
  writeFileSync(join(s.recordDir, `${s.sessionId}.json`), JSON.stringify(record, null, 2) + '\n');
  io.out(
    `session ${s.sessionId} ended: ${seconds.toFixed(1)} s in ${n} chunks, ${Math.round((sentBytes * 8) / Math.max(seconds, 0.02) / 1000)} kbit/s on the wire; ${listening.size} listening, ${refused.size} refused; recorded ${opusPath}`,
  );
  return refused.size > 0 && listening.size === 0 ? EXIT.FAIL : EXIT.OK;
}
