// Where `noc live` gets its voice (noc/live.ts): a WAV file played in real time, or an
// ALSA capture device through arecord; each as 20 ms frames stamped with the wall-clock
// instant of their first sample. And the level meter it shows.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Failure, UsageError, errorMessage } from '../cli-kit/index.js';

import { PACKET_MS } from './broadcast.js';

/** s16 mono PCM of a WAV file (stereo is mixed down), and its rate. */
export function readWav(path: string): { pcm: Int16Array; rate: number } {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch (err) {
    throw new UsageError(`--file ${path}: ${errorMessage(err)}`);
  }
  if (b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE')
    throw new Failure(`--file ${path}: not a WAV file (RIFF/WAVE)`);
  let off = 12;
  let fmt: { format: number; channels: number; rate: number; bits: number } | null = null;
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ')
      fmt = {
        format: b.readUInt16LE(body),
        channels: b.readUInt16LE(body + 2),
        rate: b.readUInt32LE(body + 4),
        bits: b.readUInt16LE(body + 14),
      };
    if (id === 'data') {
      if (!fmt) throw new Failure(`--file ${path}: data before fmt`);
      if (fmt.format !== 1 || fmt.bits !== 16 || fmt.channels < 1 || fmt.channels > 2)
        throw new Failure(
          `--file ${path}: need 16-bit PCM, mono or stereo (got format ${fmt.format}, ${fmt.bits} bits, ${fmt.channels} channels)`,
        );
      if (fmt.rate !== 48_000 && fmt.rate !== 16_000)
        throw new Failure(
          `--file ${path}: ${fmt.rate} Hz; live sessions take 48000 or 16000 (sox in.wav -r 48000 out.wav)`,
        );
      const end = Math.min(b.length, body + size);
      const frames = Math.floor((end - body) / (2 * fmt.channels));
      const pcm = new Int16Array(frames);
      for (let i = 0; i < frames; i++) {
        const p = body + i * 2 * fmt.channels;
        pcm[i] = fmt.channels === 1 ? b.readInt16LE(p) : (b.readInt16LE(p) + b.readInt16LE(p + 2)) >> 1;
      }
      return { pcm, rate: fmt.rate };
    }
    off = body + size + (size & 1);
  }
  throw new Failure(`--file ${path}: no data chunk`);
}

/** A source of 20 ms frames stamped with the wall-clock instant of their first sample. */
export interface Capture {
  rate: 48_000 | 16_000;
  start(onFrame: (pcm: Int16Array, t: number) => void, onEnd: () => void): void;
  stop(): void;
}

/** A file played in real time: frame k is "captured" at start + 20k ms, delivered when all of it was. */
export function fileCapture(pcm: Int16Array, rate: 48_000 | 16_000): Capture {
  let timer: NodeJS.Timeout | undefined;
  const frame = rate / 50;
  return {
    rate,
    start(onFrame, onEnd) {
      const t0 = Date.now();
      const m0 = performance.now();
      let k = 0;
      const total = Math.ceil(pcm.length / frame);
      const tick = () => {
        const due = Math.floor((performance.now() - m0) / PACKET_MS); // frames fully captured by now
        while (k < Math.min(due, total)) {
          const f = new Int16Array(frame);
          f.set(pcm.subarray(k * frame, Math.min(pcm.length, (k + 1) * frame)));
          onFrame(f, t0 + k * PACKET_MS);
          k++;
        }
        if (k >= total) return onEnd();
        timer = setTimeout(tick, 5);
      };
      timer = setTimeout(tick, 5);
    },
    stop: () => clearTimeout(timer),
  };
}

/** arecord on an ALSA device: the instant of a frame is when its last sample arrived, less its length. */
export function alsaCapture(device: string, rate: 48_000 | 16_000): Capture {
  let proc: ChildProcess | undefined;
  const frame = rate / 50;
  return {
    rate,
    start(onFrame, onEnd) {
      proc = spawn('arecord', ['-q', '-D', device, '-f', 'S16_LE', '-r', String(rate), '-c', '1', '-t', 'raw'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      proc.on('error', (err) => {
        process.stderr.write(`noc live: arecord: ${err.message} (apt-get install alsa-utils)\n`);
        onEnd();
      });
      let buf = Buffer.alloc(0);
      let t0: number | null = null;
      let k = 0;
      proc.stdout!.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        // The card's clock counts the frames; the first data fixes where frame 0 began.
        t0 ??= Date.now() - (buf.length / 2 / rate) * 1000;
        while (buf.length >= frame * 2) {
          const f = new Int16Array(frame);
          for (let i = 0; i < frame; i++) f[i] = buf.readInt16LE(i * 2);
          buf = buf.subarray(frame * 2);
          onFrame(f, t0 + k * PACKET_MS);
          k++;
        }
      });
      proc.on('exit', () => onEnd());
    },
    stop: () => proc?.kill('SIGTERM'),
  };
}

export function meter(db: number): string {
  const n = Math.max(0, Math.min(30, Math.round((db + 60) / 2)));
  return `${'#'.repeat(n)}${'.'.repeat(30 - n)} ${db > -100 ? db.toFixed(0).padStart(4) : '-inf'} dBFS`;
}
