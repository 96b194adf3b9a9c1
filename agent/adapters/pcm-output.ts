// The sound card as a live session sees it (contract v1.2 §8): a pull port. The card's
// adapter asks for frames when it needs them and says when (by the system clock) the
// first of them will leave the output; the playout (domain/live-timeline.ts) answers with
// the samples of that instant. Two adapters:
//
// - `paced`: the stand-in card of machines without one (the demo, CI). Its clock is the
//   monotonic clock, optionally `ppm` off (a knob to measure drift correction), and it
//   keeps `bufferMs` of audio queued as a card's ring buffer does. A tick that comes too
//   late for the card is an underrun: the card played silence there, and the recording
//   says so. With `recordDir`, each stream is recorded as `<name>.wav` (s16 mono 48 kHz,
//   exactly the frames the card played, silence of underruns included) and `<name>.json`
//   (`firstSampleMs`: the wall-clock instant of the first frame; `cardRateHz`: frames per
//   second of the system clock), so a tool outside the agent measures latency and skew.
// - `alsa`: aplay on the card, its position and drift read from the kernel (alsa-output.ts).
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, TimerHandle } from './clock.js';
import type { Logger } from '../log.js';

export const PCM_RATE = 48_000;

/** `frames` frames, the first of which leaves the output at `atMs` (system clock, epoch ms). */
export type Pull = (frames: number, atMs: number) => Int16Array;

export interface PcmStream {
  /** Resolves when the output failed (the device could not be opened, aplay died); never rejects. */
  readonly failed: Promise<string>;
  readonly underruns: number;
  stop(): Promise<void>;
}

export interface PcmOutput {
  readonly kind: 'paced' | 'alsa';
  open(pull: Pull, name: string): PcmStream;
}

const TICK_MS = 10;
/** What the live outputs keep queued: it adds nothing to the latency (each pull says when its frames play). */
export const LIVE_OUTPUT_BUFFER_MS = 200;

export interface PacedOutputOptions {
  clock: Clock;
  /**
   * Audio the card keeps queued (default LIVE_OUTPUT_BUFFER_MS). The agent must pull again
   * within it, or the card plays silence: 60 ms underran on a loaded CI machine (a click
   * lost in CI15's flood test), where a box also has SQLite's fsyncs and a 4G modem.
   */
  bufferMs?: number;
  /** The card's crystal, parts per million fast (+) or slow (−) against the system clock. */
  ppm?: number;
  recordDir?: string;
  log?: Logger;
}

export function createPacedPcmOutput(o: PacedOutputOptions): PcmOutput {
  return { kind: 'paced', open: (pull, name) => new PacedStream(o, pull, name) };
}

class PacedStream implements PcmStream {
  readonly failed = new Promise<string>(() => {});
  underruns = 0;
  private readonly timer: TimerHandle;
  private pulled = 0;
  private readonly monoBase: number;
  private readonly wallBase: number;
  private readonly perMs: number;
  private readonly bufferMs: number;
  private wav: WavFile | null;
  private firstSampleMs: number | null = null;

  constructor(
    private readonly o: PacedOutputOptions,
    private readonly pull: Pull,
    private readonly name: string,
  ) {
    this.bufferMs = o.bufferMs ?? LIVE_OUTPUT_BUFFER_MS;
    this.perMs = (PCM_RATE * (1 + (o.ppm ?? 0) * 1e-6)) / 1000;
    this.monoBase = o.clock.monoMs();
    this.wallBase = o.clock.now();
    this.wav = o.recordDir ? new WavFile(o.recordDir, name) : null;
    this.timer = o.clock.setInterval(() => this.tick(), TICK_MS);
    this.tick();
  }

  /** The wall-clock instant frame `i` leaves the card: it starts once its buffer is full. */
  private wallAt(i: number): number {
    return this.wallBase + this.bufferMs + i / this.perMs;
  }

  /** The recording fails (a full disk): the card plays on unrecorded, and says so once. */
  private record(pcm: Int16Array): void {
    if (!this.wav) return;
    try {
      this.wav.write(pcm);
    } catch (err) {
      this.o.log?.error({ code: 'INTERNAL', err }, 'paced output: recording stopped (audio.recordDir)');
      this.wav = null;
    }
  }

  private tick(): void {
    const elapsed = this.o.clock.monoMs() - this.monoBase;
    const played = Math.floor((elapsed - this.bufferMs) * this.perMs);
    if (played > this.pulled) {
      // The card wanted these frames before we came: it played silence (an underrun).
      this.underruns++;
      this.record(new Int16Array(played - this.pulled));
      this.pulled = played;
    }
    const target = Math.floor(elapsed * this.perMs);
    const n = target - this.pulled;
    if (n <= 0) return;
    const at = this.wallAt(this.pulled);
    this.firstSampleMs ??= at;
    const pcm = this.pull(n, at);
    this.record(pcm);
    this.pulled += n;
  }

  stop(): Promise<void> {
    this.o.clock.clearInterval(this.timer);
    if (this.wav) {
      this.wav.close();
      writeFileSync(
        join(this.o.recordDir!, `${this.name}.json`),
        JSON.stringify({
          firstSampleMs: this.firstSampleMs,
          firstSampleAt: this.firstSampleMs === null ? null : new Date(this.firstSampleMs).toISOString(),
          rate: PCM_RATE,
          cardRateHz: this.perMs * 1000,
          frames: this.pulled,
          underruns: this.underruns,
        }) + '\n',
      );
    }
    return Promise.resolve();
  }
}

/** An s16 WAV written as it plays; the sizes in its header are set at close. */
export class WavFile {
  private readonly fd: number;
  private bytes = 0;
  constructor(
    dir: string,
    name: string,
    private readonly rate = PCM_RATE,
    private readonly channels = 1,
  ) {
    mkdirSync(dir, { recursive: true });
    this.fd = openSync(join(dir, `${name}.wav`), 'w');
    writeSync(this.fd, wavHeader(0, rate, channels));
  }
  write(pcm: Int16Array | Buffer): void {
    if (pcm.length === 0) return;
    writeSync(this.fd, new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    this.bytes += pcm.byteLength;
  }
  close(): void {
    writeSync(this.fd, wavHeader(this.bytes, this.rate, this.channels), 0, 44, 0);
    closeSync(this.fd);
  }
}

/**
 * One play of the paced mpg123 output recorded as it is played (audio.recordDir):
 * `play-<ms>-<pid>.wav` in the track's format and `.json` with `firstSampleMs`. The pacer
 * hands over what the card took since its clock started, so the first frame left the
 * card that long before the first hand-over.
 */
export class PlayRecording {
  private rec: {
    wav: WavFile;
    name: string;
    firstSampleMs: number;
    format: { rate: number; channels: number };
  } | null = null;
  constructor(
    private readonly dir: string,
    private readonly now: () => number,
  ) {}

  /** `handedAt`: performance.now() when the card took `pcm` (default: now). */
  write(
    pcm: Buffer,
    f: { rate: number; channels: number },
    pid: number | undefined,
    handedAt = performance.now(),
  ): void {
    if (!this.rec) {
      const now = this.now() - (performance.now() - handedAt);
      const name = `play-${Math.round(now)}-${pid ?? 0}`;
      const ms = (pcm.length / (2 * f.channels) / f.rate) * 1000;
      this.rec = { wav: new WavFile(this.dir, name, f.rate, f.channels), name, firstSampleMs: now - ms, format: f };
    }
    this.rec.wav.write(pcm);
  }

  close(underruns: number): void {
    const r = this.rec;
    if (!r) return;
    this.rec = null;
    r.wav.close();
    writeFileSync(
      join(this.dir, `${r.name}.json`),
      JSON.stringify({
        firstSampleMs: r.firstSampleMs,
        firstSampleAt: new Date(r.firstSampleMs).toISOString(),
        rate: r.format.rate,
        channels: r.format.channels,
        cardRateHz: r.format.rate,
        underruns,
      }) + '\n',
    );
  }
}

export function wavHeader(dataBytes: number, rate = PCM_RATE, channels = 1): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2 * channels, 28);
  h.writeUInt16LE(2 * channels, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}
