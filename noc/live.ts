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
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, UsageError, parseArgs, required } from '../cli-kit/index.js';
import { LIVE_LATENCY_MS, MAX_LIVE_S } from '../contract/command-doc.js';
import { Broadcast, PACKET_MS, newSessionId } from './broadcast.js';
import { loadSigningKey } from './docs.js';
import type { Io } from './io.js';
import { alsaCapture, fileCapture, meter, readWav, type Capture } from './live-capture.js';
import { BROKER_HELP, BROKER_SPEC, brokerConfig, closeClient, connect } from './mqtt.js';
import type { Target } from './publish.js';
import { checkId } from './topics.js';

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
  const client = await connect(cfg);
  try {
    const b = new Broadcast(client, {
      root: cfg.root,
      targets,
      sessionId,
      commandKey: cmdKey,
      liveKey,
      rate: capture.rate,
      bitrate,
      chunkPackets,
      recordDir,
      operator: opts.operator ?? process.env.USER ?? 'unknown',
      args: {
        priority: opts.priority ?? 75,
        latencyMs: opts.latency ?? LIVE_LATENCY_MS.default,
        maxDurationS: opts['max-duration'] ?? 3600,
        ...(opts.volume !== undefined ? { volume: opts.volume } : {}),
      },
      say: io.err,
    });
    await b.open(io);
    io.err(
      `session ${sessionId}: opened on ${targets.map((t) => t.device ?? `group ${t.group}`).join(', ')}; speak (Ctrl-C ends)`,
    );
    await speak(b, capture, io);
    const rec = b.end();
    io.out(
      `session ${sessionId} ended: ${b.seconds.toFixed(1)} s in ${String(rec.chunks)} chunks, ${Math.round((b.bytesPublished * 8) / Math.max(b.seconds, 0.02) / 1000)} kbit/s on the wire; ${b.listening.size} listening, ${b.refused.size} refused; recorded ${join(recordDir, `${sessionId}.opus`)}`,
    );
    return b.refused.size > 0 && b.listening.size === 0 ? EXIT.FAIL : EXIT.OK;
  } finally {
    await closeClient(client);
  }
}

/** The capture into the broadcast, with a level meter, until the source ends or Ctrl-C. */
async function speak(b: Broadcast, capture: Capture, io: Io): Promise<void> {
  let lastMeter = 0;
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      capture.stop();
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      resolve();
    };
    process.on('SIGINT', finish);
    process.on('SIGTERM', finish);
    capture.start((pcm, t) => {
      if (done) return;
      b.frame(pcm, t);
      const now = performance.now();
      if (now - lastMeter < (io.isTTY ? 100 : 1000)) return;
      lastMeter = now;
      const line = `${meter(b.levelDb())}  ${b.listening.size} listening`;
      if (io.isTTY) io.write(`\r${line}`);
      else io.err(line);
    }, finish);
  });
  if (io.isTTY) io.write('\n');
}
