// The stand-in sound card of mpg123-player.ts's `paced` output, for machines without a card:
// mpg123 writes raw s16 PCM to stdout (`-s -e s16`) and the Pacer takes it from the pipe at
// rate × channels × 2 bytes/s (the format of the track's `@S` line), so pipe backpressure
// paces mpg123 as a card would. A null output is not paced (see FINDINGS.md): it would
// "play" a 10 s file in 10 ms. Kept apart from the session so the real-time consumer, which
// knows nothing about mpg123's remote protocol, can be read and reasoned about alone.

export interface PcmFormat {
  rate: number;
  channels: number;
}

const PACE_TICK_MS = 20;
/** PCM this module buffers beyond the kernel pipe (~190 ms at 44.1 kHz stereo). */
const PACE_HIGH_WATER = 32 * 1024;

/**
 * The stand-in sound card of paced mode: takes PCM from the pipe at the real-time rate.
 * Like a card, it starts its clock on the first data and restarts it after an underrun.
 */
export class Pacer {
  underruns = 0;
  finished = false;
  /** mpg123 has written its last track: the pipe emptying now is the end, not a gap. */
  ending = false;
  private queue: Buffer[] = [];
  private queued = 0;
  private format: PcmFormat | null = null;
  private clock: { t0: number; taken: number } | null = null;
  private eof = false;
  private discarding = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly src: NodeJS.ReadableStream,
    private readonly tap: ((pcm: Buffer, f: PcmFormat, handedAt: number) => void) | undefined,
    /** `handedAt`: performance.now() when the card took the PCM (the tick's instant). */
    private readonly on: { audio: (handedAt: number) => void; drained: () => void },
  ) {
    src.on('data', (b: Buffer) => {
      if (this.discarding) return;
      this.queue.push(b);
      this.queued += b.length;
      if (this.queued >= PACE_HIGH_WATER) src.pause();
      if (!this.clock) this.tick();
    });
    src.on('end', () => ((this.eof = true), this.tick()));
    src.on('error', () => ((this.eof = true), this.tick()));
  }

  setFormat(f: PcmFormat): void {
    // A later track in another format: restart the clock (the boundary in the pipe is not
    // known exactly, so pacing is approximate for the few hundred ms around it).
    if (this.format && (this.format.rate !== f.rate || this.format.channels !== f.channels)) this.clock = null;
    this.format = f;
    this.timer ??= setInterval(() => this.tick(), PACE_TICK_MS);
    this.tick();
  }

  discard(): void {
    this.discarding = true;
    this.queue = [];
    this.queued = 0;
    this.src.resume(); // let mpg123 finish its writes so it reads QUIT
    this.finish();
  }

  private tick(): void {
    if (this.finished || !this.format) return;
    const frame = this.format.channels * 2;
    const perMs = (this.format.rate * frame) / 1000;
    const t = performance.now();
    if (!this.clock) {
      if (this.queued < frame) return this.eof ? this.finish() : undefined;
      // A card takes its first period at once.
      this.clock = { t0: t - PACE_TICK_MS, taken: 0 };
    }
    let owed = Math.floor((t - this.clock.t0) * perMs) - this.clock.taken;
    owed -= owed % frame;
    const n = Math.min(owed, this.queued - (this.queued % frame));
    if (n > 0) {
      const pcm = this.take(n);
      this.clock.taken += n;
      // One instant for both, the tick's: what they do (a recording's disk writes) must
      // not move the other's stamp (CI48's year-ahead run saw 51 ms between the two).
      this.tap?.(pcm, this.format, t);
      this.on.audio(t);
    }
    if (this.queued < PACE_HIGH_WATER) this.src.resume();
    if (owed > n && !this.eof && !this.ending) {
      // The pipe ran dry while the card wanted samples: an audible gap.
      this.underruns++;
      this.clock = null;
    }
    if (this.eof && this.queued < frame) this.finish();
  }

  /** The first n queued bytes; copies only what spans chunks. */
  private take(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const head = this.queue[0]!;
      if (head.length <= need) {
        parts.push(head);
        this.queue.shift();
        need -= head.length;
      } else {
        parts.push(head.subarray(0, need));
        this.queue[0] = head.subarray(need);
        need = 0;
      }
    }
    this.queued -= n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    this.on.drained();
  }
}
