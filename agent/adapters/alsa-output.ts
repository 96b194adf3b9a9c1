// The live output on a sound card (the `alsa` adapter of the PcmOutput port, pcm-output.ts):
// `aplay` (alsa-utils) writing to the configured device. aplay says nothing of where the
// card is, so the kernel's report of the PCM aplay opened is read (alsa-status.ts) and
// fitted (domain/card-clock.ts): each pull's instant is where the card is, drift
// included. Where no kernel PCM is aplay's (a file plugin, PulseAudio), the instant is
// estimated at the nominal rate, and the log says so.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Clock, TimerHandle } from './clock.js';
import type { Logger } from '../log.js';
import { findPcmSubstream, parsePcmParams, parsePcmStatus, readText, type PcmParams } from './alsa-status.js';
import { CardClock } from '../domain/card-clock.js';
import { LIVE_OUTPUT_BUFFER_MS, PCM_RATE, type PcmOutput, type PcmStream, type Pull } from './pcm-output.js';

/** How often (on average) the card's position is read and aplay fed. */
const TICK_MS = 10;
/** After a period's end is due, the position is read every millisecond for this long at most. */
const BURST_MS = 5;

/** The ring buffer aplay is asked for, and so the delay from a write to the speaker. */
export const ALSA_BUFFER_MS = LIVE_OUTPUT_BUFFER_MS;
/** How long to look for the kernel PCM aplay opened before estimating instead. */
const FIND_SUBSTREAM_MS = 3_000;
/**
 * Audio waits (silence is written) while the card's timing is about to be known: at most
 * this long for aplay's kernel PCM to appear (aplay opens it in milliseconds; a file
 * plugin or a sound server never shows one, and then the nominal rate it is)...
 */
const HOLD_FOR_PCM_MS = 1_000;
/** ...and at most this long, from when it has or from an xrun, for the card's position (the ring filled, then MIN_SPAN_MS of readings). */
const HOLD_FOR_POSITION_MS = 1_500;

export interface AlsaOutputOptions {
  clock: Clock;
  device: string;
  /** aplay's path (default "aplay"). */
  aplay?: string;
  /** Where the kernel reports PCM positions (default /proc/asound). */
  procAsound?: string;
  log?: Logger;
  /** The reads' random phases (default Math.random; a seeded one replays a test). */
  random?: () => number;
}

export function createAlsaPcmOutput(o: AlsaOutputOptions): PcmOutput {
  return { kind: 'alsa', open: (pull, name) => new AlsaStream(o, pull, name) };
}

/**
 * aplay writing to the card, fed so that it keeps ALSA_BUFFER_MS ahead of where the card
 * is. Where the card is comes from the kernel (alsa-status.ts) through CardClock: its
 * position and drift, so each pull's instant is the card's, not the nominal rate's, and a
 * card slower than the system clock does not pile audio up in front of it. Where the
 * kernel does not say (no substream names aplay's pid within FIND_SUBSTREAM_MS), the
 * instant is estimated at the nominal rate and the log says the drift is not corrected.
 */
class AlsaStream implements PcmStream {
  readonly failed: Promise<string>;
  private xruns = 0;
  private readonly proc: ChildProcess;
  private timer: TimerHandle | undefined;
  private written = 0;
  private readonly monoBase: number;
  /** Frame `written` plays at `at` (wall ms), as known at `wall`/`mono`. */
  private anchor: { written: number; at: number; wall: number; mono: number };
  private tail = '';
  private readonly card = new CardClock(PCM_RATE / 1000);
  /** The substream's /proc directory once found, null once given up on. */
  private substream: string | null | undefined;
  private params: PcmParams | undefined;
  private running = false;
  /** Since when (mono) the card's position has not been known: the stream's start or its last xrun. */
  private unknownSince: number;
  /** The kernel's last report of a running card, in its own frames (hw_ptr), and how they map to ours. */
  private lastReport: { hwPtr: number; beyondRing: number; ratio: number; period: number } | undefined;
  /** When (mono) aplay's kernel PCM was found. */
  private foundAt: number | undefined;
  /** The last tick fed silence while the card's position was not known (see holding). */
  private held = true;

  constructor(
    private readonly o: AlsaOutputOptions,
    private readonly pull: Pull,
    private readonly name: string,
  ) {
    this.random = o.random ?? Math.random;
    this.monoBase = o.clock.monoMs();
    this.unknownSince = this.monoBase;
    const wall = o.clock.now();
    this.anchor = { written: 0, at: wall + ALSA_BUFFER_MS, wall, mono: this.monoBase };
    this.proc = spawn(
      o.aplay ?? 'aplay',
      [
        '-q',
        '-D',
        o.device,
        '-t',
        'raw',
        '-f',
        'S16_LE',
        '-r',
        String(PCM_RATE),
        '-c',
        '1',
        `--buffer-time=${ALSA_BUFFER_MS * 1000}`,
      ],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    this.proc.stdin!.on('error', () => {});
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (s: string) => {
      this.xruns += s.match(/underrun/g)?.length ?? 0;
      this.tail = (this.tail + s).slice(-500);
    });
    this.failed = new Promise((resolve) => {
      this.proc.on('error', (err) => resolve(`aplay: ${err.message} (install alsa-utils)`));
      this.proc.on('exit', (code, signal) => {
        if (!this.stopped) resolve(`aplay exited (code ${code}, signal ${signal}): ${this.tail.trim()}`);
      });
    });
    this.tick();
  }

  private stopped = false;
  private readonly random: () => number;

  get underruns(): number {
    return this.xruns;
  }

  /**
   * Every 5–15 ms, at random: reads of a card that moves its position a period at a time
   * must fall at every phase of the period for CardClock's envelope to find the card.
   * Once the card is followed, also just before each period's end and every millisecond
   * after it until the new position shows (BURST_MS at most): CardClock keeps the first
   * reading of each position, so one read within a millisecond of the change is a point on
   * the card's line. Simulated (a busy machine's reports, 60 runs of 8 s): the drift within
   * 173 ppm instead of 330, the position within 3.0 ms instead of 4.1. Cost, measured on the
   * fake card: ~140 reads a second instead of ~95, the stream's process 6.2-6.9 % of a core
   * instead of 5.6 % (x86 VM, two runs).
   */
  private schedule(mono: number, model: number | undefined): void {
    if (this.stopped) return;
    const random = TICK_MS / 2 + this.random() * TICK_MS;
    const next = this.nextPeriodEnd(mono, model);
    let delay = random;
    // Just before the end (at a random phase of a millisecond, so that the reads do not lock
    // onto the model's own error), then every millisecond until the new position shows.
    if (next !== undefined) delay = next.seen ? Math.min(random, Math.max(1, next.at - 1 - this.random() - mono)) : 1;
    this.timer = this.o.clock.setTimeout(() => this.tick(), delay);
  }

  /**
   * When the card's position next moves (the end of its period), by the model (`model`: its position at `mono`); `seen`:
   * whether the last reading shows the period the model has it in (false: the change is
   * due, up to BURST_MS ago, and not read yet). Undefined until the card is followed.
   */
  private nextPeriodEnd(mono: number, model: number | undefined): { at: number; seen: boolean } | undefined {
    const last = this.lastReport;
    if (!last || model === undefined) return undefined;
    const hw = model * last.ratio + last.beyondRing;
    const start = Math.floor(hw / last.period) * last.period;
    const perMs = this.card.framesPerMs() * last.ratio;
    const overdueMs = (hw - start) / perMs;
    if (last.hwPtr < start && overdueMs <= BURST_MS) return { at: mono, seen: false };
    return { at: mono + (start + last.period - hw) / perMs, seen: true };
  }

  private tick(): void {
    const mono = this.o.clock.monoMs();
    const wall = this.o.clock.now();
    const pos = this.cardPosition(mono);
    const perMs = PCM_RATE / 1000;
    // Ahead of where the card is by one buffer; frame `written` plays once the card has
    // played the frames before it (at the nominal rate over those 200 ms: drift there is µs).
    // Where the card's position is not known (yet, or again after an xrun): on from the
    // last point it was known (at first: written + one buffer), at the nominal rate.
    if (pos !== undefined) this.anchor = { written: this.written, at: wall + (this.written - pos) / perMs, wall, mono };
    const a = this.anchor;
    const target =
      pos !== undefined
        ? pos + ALSA_BUFFER_MS * perMs
        : a.written + (a.wall + (mono - a.mono) + ALSA_BUFFER_MS - a.at) * perMs;
    const n = Math.floor(target) - this.written;
    if (n > 0) {
      const at = a.at + (this.written - a.written) / perMs;
      const heldSince = this.unknownSince;
      const hold = this.holding(pos, mono);
      if (this.held && !hold)
        // Where audio starts again (the stream's start, after an xrun): what came due before
        // this instant was played as silence, by design.
        this.o.log?.info(
          { stream: this.name, audioFromMs: Math.round(at), heldMs: Math.round(mono - heldSince) },
          'live output: audio from here on',
        );
      this.held = hold;
      const pcm = hold ? new Int16Array(n) : this.pull(n, at);
      this.proc.stdin!.write(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
      this.written += n;
    }
    this.schedule(mono, pos);
  }

  /**
   * Silence instead of audio while the card's position is about to be known (the stream's
   * start, after an xrun). Audio pulled for a guessed instant would play off by the guess's
   * error, and the correction that follows would skip the audio between (the timeline
   * jumps): a card that started 1 s late once played the start of a session 800 ms late
   * and then skipped a click, silently. Bounded, so a kernel report that never comes (or
   * does not parse) falls back to the nominal rate.
   */
  private holding(pos: number | undefined, mono: number): boolean {
    if (pos !== undefined) {
      this.unknownSince = Infinity;
      return false;
    }
    if (this.unknownSince === Infinity) this.unknownSince = mono; // an xrun
    if (this.substream === null) return false;
    if (this.substream === undefined) return mono - this.unknownSince < HOLD_FOR_PCM_MS;
    this.foundAt ??= mono;
    return mono - Math.max(this.unknownSince, this.foundAt) < HOLD_FOR_POSITION_MS;
  }

  /** Our frames the card has played by `mono`, from the kernel's report; undefined where it does not say. */
  private cardPosition(mono: number): number | undefined {
    if (this.substream === undefined && this.proc.pid !== undefined) {
      this.substream = findPcmSubstream(this.proc.pid, this.o.procAsound);
      if (this.substream === undefined && mono - this.monoBase > FIND_SUBSTREAM_MS) {
        this.substream = null;
        this.o.log?.warn(
          { device: this.o.device, stream: this.name },
          "live output: the kernel reports no PCM for aplay (not a hardware device?): timing estimated at the nominal rate, the card's drift not corrected",
        );
      }
    }
    if (!this.substream) return undefined;
    const status = parsePcmStatus(readText(join(this.substream, 'status')) ?? '');
    const readAt = this.o.clock.monoMs();
    // Stopped (an xrun: aplay prepares it and refills it): the line it ran on is broken.
    if (status !== undefined && status.state !== 'RUNNING' && this.running) this.card.reset();
    this.running = status?.state === 'RUNNING';
    if (status?.state === 'RUNNING') {
      this.params ??= parsePcmParams(readText(join(this.substream, 'hw_params')) ?? '');
      const ratio = (this.params?.rate ?? PCM_RATE) / PCM_RATE;
      // What the card holds beyond its ring (a codec's FIFO) plays after hw_ptr too.
      const beyondRing = Math.max(0, status.delay - (status.applPtr - status.hwPtr));
      const period = (this.params?.periodFrames ?? (ALSA_BUFFER_MS * PCM_RATE) / 4000) / ratio;
      this.card.observe((status.hwPtr - beyondRing) / ratio, readAt, period);
      this.lastReport = { hwPtr: status.hwPtr, beyondRing, ratio, period: this.params?.periodFrames ?? period };
    }
    return this.card.positionAt(mono);
  }

  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.o.clock.clearTimeout(this.timer);
    const ppm = this.card.ppm();
    if (this.substream)
      this.o.log?.info(
        { stream: this.name, ppm: ppm === undefined ? null : Math.round(ppm * 10) / 10, restarts: this.card.resets },
        "live output: the card's drift against the system clock",
      );
    this.proc.stdin!.end();
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) return resolve();
      const kill = this.o.clock.setTimeout(() => this.proc.kill('SIGKILL'), 300);
      this.proc.once('exit', () => (this.o.clock.clearTimeout(kill), resolve()));
    });
  }
}
