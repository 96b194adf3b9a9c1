// Where a sound card is in its stream, from the positions the kernel reports (a live
// session's ALSA output, contract v1.2 §8). Pure: readings come in with their instant.
//
// A card plays at its own crystal's rate, some ppm off the system clock, and the kernel
// says how far it has got (hw_ptr), often only to the last period interrupt (the Pi's
// bcm2835 moves hw_ptr in whole periods, 50 ms for a 200 ms buffer). So a single reading
// is up to a period behind the card, and the model is a line fitted to many. Of the
// readings only the first at each new position is kept: the card got there between the
// read before it and this one.
//
// - The slope (card frames per monotonic ms), by least squares over the last
//   SLOPE_WINDOW_MS: the card's drift.
// - The offset, from the last ENVELOPE_MS: each kept reading says the line is at or above
//   it (lower envelope) and, for a card that moves a period at a time, that it was not
//   there yet at the read before (upper envelope); the line is between the two. The
//   adapter reads at random intervals, so the reads fall at every phase of a period.
//
// Measured on simulated cards (test/unit/card-clock.test.ts, reads every 5–15 ms, each up
// to 1 ms stale): within 2.5 ms of the card from 1 s after it starts, 1 ms from 10 s, and
// the drift within 20 ppm after a minute; on a card whose reads are fresh (/proc is),
// 0.05–0.2 ms once settled.
//
// A reading far from the line (more than a period and RESET_MS: an underrun, a restart)
// or going back starts the model over. Time is monotonic: a step of the wall clock does
// not bend it.
export const NOMINAL_FRAMES_PER_MS = 48;
/** The drift is fitted over this long. */
export const SLOPE_WINDOW_MS = 60_000;
/** The offset is taken from the readings of this long (slope-corrected). */
export const ENVELOPE_MS = 10_000;
/** A model needs readings spanning this much before it is trusted (six 50 ms periods). */
export const MIN_SPAN_MS = 300;
/** Off the line by more than a period and this, the card restarted or underran. */
export const RESET_MS = 20;
const SLOPE_REFIT_MS = 1_000;
/** Beyond this, a fitted slope is a broken reading, not a crystal (±0.5 %). */
const MAX_PPM = 5_000;

interface Reading {
  mono: number;
  frames: number;
  /** The read before this one: the card was not yet at `frames` then. */
  before: number;
  /** The card moved a period or more since the last position kept: it reports in periods. */
  coarse: boolean;
}

export class CardClock {
  private readings: Reading[] = [];
  private lastRead = -Infinity;
  /** The fitted slope, refitted at most every SLOPE_REFIT_MS (a fit walks a minute of readings). */
  private slope: { at: number; value: number } | undefined;
  private resetCount = 0;

  /** `nominalFramesPerMs`: the card's frame rate as configured (48 at 48 kHz). */
  constructor(private readonly nominalFramesPerMs = NOMINAL_FRAMES_PER_MS) {}

  /** Times the model started over (underruns, restarts). */
  get resets(): number {
    return this.resetCount;
  }

  /**
   * A reading: the card had played `frames` frames (at least) by monotonic instant `mono`.
   * `periodFrames`: the stream's period, to tell a card that reports in periods and a restart from a step.
   */
  observe(frames: number, mono: number, periodFrames: number): void {
    const last = this.readings[this.readings.length - 1];
    const before = this.lastRead;
    if (mono <= before) return;
    this.lastRead = mono;
    // Only the first reading of each new position is kept: taken closest after the card
    // moved, it is the one that says when (a reading of a position already seen says less).
    if (last && frames === last.frames) return;
    const predicted = this.positionAt(mono);
    const tolerance = periodFrames + RESET_MS * this.nominalFramesPerMs;
    if ((last && frames < last.frames) || (predicted !== undefined && Math.abs(frames - predicted) > tolerance)) {
      this.readings = [];
      this.slope = undefined;
      this.resetCount++;
    }
    const coarse = last !== undefined && frames - last.frames >= periodFrames / 2;
    this.readings.push({ mono, frames, before, coarse });
    const oldest = mono - SLOPE_WINDOW_MS;
    let drop = 0;
    while (drop < this.readings.length - 2 && this.readings[drop]!.mono < oldest) drop++;
    if (drop > 0) this.readings.splice(0, drop);
    if (this.slope && mono - this.slope.at >= SLOPE_REFIT_MS) this.slope = undefined;
  }

  /** Card frames per monotonic ms, fitted; the nominal rate until the readings span enough. */
  framesPerMs(): number {
    this.slope ??= { at: this.readings[this.readings.length - 1]?.mono ?? 0, value: this.fit() };
    return this.slope.value;
  }

  private fit(): number {
    const r = this.readings;
    if (r.length < 3 || r[r.length - 1]!.mono - r[0]!.mono < 2_000) return this.nominalFramesPerMs;
    const m0 = r[0]!.mono;
    const f0 = r[0]!.frames;
    let sx = 0;
    let sy = 0;
    for (const p of r) {
      sx += p.mono - m0;
      sy += p.frames - f0;
    }
    const mx = sx / r.length;
    const my = sy / r.length;
    let sxx = 0;
    let sxy = 0;
    for (const p of r) {
      const dx = p.mono - m0 - mx;
      sxx += dx * dx;
      sxy += dx * (p.frames - f0 - my);
    }
    const slope = sxy / sxx;
    const ppm = (slope / this.nominalFramesPerMs - 1) * 1e6;
    return Number.isFinite(slope) && Math.abs(ppm) <= MAX_PPM ? slope : this.nominalFramesPerMs;
  }

  /** The card's rate against the system clock, in ppm (+: fast), once fitted. */
  ppm(): number | undefined {
    const s = this.framesPerMs();
    return s === this.nominalFramesPerMs ? undefined : (s / this.nominalFramesPerMs - 1) * 1e6;
  }

  /** The card's position (frames played) at monotonic instant `mono`, or undefined until trusted. */
  positionAt(mono: number): number | undefined {
    const r = this.readings;
    if (r.length < 2 || r[r.length - 1]!.mono - r[0]!.mono < MIN_SPAN_MS) return undefined;
    const slope = this.framesPerMs();
    const since = r[r.length - 1]!.mono - ENVELOPE_MS;
    let lower = -Infinity;
    let upper = Infinity;
    for (let i = r.length - 1; i >= 0 && r[i]!.mono >= since; i--) {
      lower = Math.max(lower, r[i]!.frames - slope * r[i]!.mono);
      if (r[i]!.coarse) upper = Math.min(upper, r[i]!.frames - slope * r[i]!.before);
    }
    // A card that reports in periods got to each position between two reads: the line lies
    // between the two envelopes, and their middle is where it is. One that reports every
    // frame is where it said when it was read: the lower envelope.
    const offset = r[r.length - 1]!.coarse && upper >= lower ? (lower + upper) / 2 : lower;
    return offset + slope * mono;
  }
}
