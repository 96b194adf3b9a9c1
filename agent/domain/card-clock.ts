// Where a sound card is in its stream, from the positions the kernel reports (a live
// session's ALSA output, contract v1.2 §8). Pure: readings come in with their instant.
//
// A card plays at its own crystal's rate, some ppm off the system clock, and the kernel
// says how far it has got (hw_ptr), often only to the last period interrupt (the Pi's
// bcm2835 moves hw_ptr in whole periods, 50 ms for a 200 ms buffer). So a reading is at
// or behind the card, never ahead, and the model is a line along the top of many: of the
// readings only the first at each new position is kept (read soonest after the card got
// there), and the adapter reads at random intervals, so the reads fall at every phase of
// a period.
//
// - The slope (card frames per monotonic ms: the card's drift) is the line through the
//   highest reading of each half-second part of the last SLOPE_WINDOW_MS. A read that a
//   busy machine delayed lies below it and is never chosen; least squares over every
//   reading was pulled 360 ppm off by such delays in 9 s of a loaded CI run.
// - The offset is the highest reading of the last ENVELOPE_MS above a line of that slope.
//
// Measured (test/unit/card-clock.test.ts, simulated cards read every 5–15 ms): within
// 3 ms of the card from 1 s after it starts, 1 ms from 10 s, the drift within 20 ppm after
// a minute; with a report that lags as a busy machine's does, within 4 ms and then 2 ms.
// The line lies at or behind the card, so the error is mostly that sound leaves a little
// early (0.2–1.6 ms in the integration test), rarely late.
//
// A reading ahead of the line by more than a period and RESET_MS, readings behind it by
// that much for BEHIND_MS (a stall, a restart), or a position going back start the model
// over, as does the adapter seeing the stream stop (an xrun). One reading behind does not:
// a busy machine's period interrupt comes late. Time is monotonic: a step of the wall
// clock does not bend it.
export const NOMINAL_FRAMES_PER_MS = 48;
/** The drift is fitted over this long. */
export const SLOPE_WINDOW_MS = 60_000;
/** The offset is taken from the readings of this long (slope-corrected). */
export const ENVELOPE_MS = 10_000;
/** A model needs readings spanning this much before it is trusted (six 50 ms periods). */
export const MIN_SPAN_MS = 300;
/** Off the line by more than a period and this, the card restarted or underran... */
export const RESET_MS = 20;
/**
 * ...once ahead of it, or behind it for this long: a single report behind is a busy
 * machine's late period interrupt (10-50 ms), and starting over on it threw away the
 * readings the drift is fitted from (11 of 60 simulated 16 s runs of test/unit/
 * card-clock.test.ts's busy machine restarted so, and measured 697-1508 ppm of 1,000).
 */
export const BEHIND_MS = 100;
const SLOPE_REFIT_MS = 1_000;
/** The drift is fitted once the readings span this much (the nominal rate before). */
const MIN_FIT_SPAN_MS = 2_000;
/** The drift's fit takes the best reading of each part of its window: parts this long, at most MAX_SEGMENTS. */
const SEGMENT_MS = 500;
const MAX_SEGMENTS = 16;
/** Beyond this, a fitted slope is a broken reading, not a crystal (±0.5 %). */
const MAX_PPM = 5_000;

interface Reading {
  mono: number;
  frames: number;
}

export class CardClock {
  private readings: Reading[] = [];
  private lastRead = -Infinity;
  /** The first of the readings behind the line since the last on it. */
  private behindSince: { mono: number; index: number } | undefined;
  /** The fitted slope, refitted at most every SLOPE_REFIT_MS (a fit walks a minute of readings). */
  private slope: { at: number; value: number } | undefined;
  private resetCount = 0;
  /** The slope fitted before the last reset, if any: the same crystal. */
  private before: number | undefined;

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
    if (mono <= this.lastRead) return;
    this.lastRead = mono;
    // Only the first reading of each new position is kept: taken closest after the card
    // moved, it is the one that says when (a reading of a position already seen says less).
    if (last && frames === last.frames) return;
    const predicted = this.positionAt(mono);
    const tolerance = periodFrames + RESET_MS * this.nominalFramesPerMs;
    const behind = predicted !== undefined && predicted - frames > tolerance;
    if (!behind) this.behindSince = undefined;
    else this.behindSince ??= { mono, index: this.readings.length };
    if ((last && frames < last.frames) || (predicted !== undefined && frames - predicted > tolerance)) this.reset();
    else if (this.behindSince && mono - this.behindSince.mono >= BEHIND_MS) {
      // Behind the line all along: the card stalled (the readings since are its new line).
      const since = this.readings.slice(this.behindSince.index);
      this.reset();
      this.readings = since;
      this.behindSince = undefined;
    }
    this.readings.push({ mono, frames });
    const oldest = mono - SLOPE_WINDOW_MS;
    let drop = 0;
    while (drop < this.readings.length - 2 && this.readings[drop]!.mono < oldest) drop++;
    if (drop > 0) {
      this.readings.splice(0, drop);
      if (this.behindSince) this.behindSince.index = Math.max(0, this.behindSince.index - drop);
    }
    if (this.slope && mono - this.slope.at >= SLOPE_REFIT_MS) this.slope = undefined;
  }

  /**
   * The card stopped (an xrun) or restarted: its old line says nothing of where it is now.
   * Its crystal is the same: the slope fitted before is kept until the new readings fit one.
   */
  reset(): void {
    if (this.readings.length === 0) return;
    const fitted = this.framesPerMs();
    if (fitted !== this.nominalFramesPerMs) this.before = fitted;
    this.readings = [];
    this.slope = undefined;
    this.resetCount++;
  }

  /** Card frames per monotonic ms, fitted; the nominal rate until the readings span enough. */
  framesPerMs(): number {
    this.slope ??= { at: this.readings[this.readings.length - 1]?.mono ?? 0, value: this.fit() };
    return this.slope.value;
  }

  /**
   * The slope of the upper envelope: the window in parts, in each the
   * reading highest above the line (the one read soonest after the card got there), and
   * the least-squares line through those. A read delayed by a busy machine lies below the
   * line and is never chosen: least squares over every reading was pulled 360 ppm off by
   * such delays in 9 s of a loaded CI machine.
   */
  private fit(): number {
    const r = this.readings;
    const span = r.length > 0 ? r[r.length - 1]!.mono - r[0]!.mono : 0;
    const fallback = this.before ?? this.nominalFramesPerMs;
    if (r.length < 3 || span < MIN_FIT_SPAN_MS) return fallback;
    const m0 = r[0]!.mono;
    const f0 = r[0]!.frames;
    // Parts of at least SEGMENT_MS (ten 50 ms periods), at most MAX_SEGMENTS.
    const segments = Math.max(4, Math.min(MAX_SEGMENTS, Math.floor(span / SEGMENT_MS)));
    let slope = this.nominalFramesPerMs;
    for (let pass = 0; pass < 3; pass++) {
      const best: (Reading | undefined)[] = new Array(segments).fill(undefined);
      for (const p of r) {
        const k = Math.min(segments - 1, Math.floor(((p.mono - m0) / span) * segments));
        const b = best[k];
        if (!b || p.frames - slope * p.mono > b.frames - slope * b.mono) best[k] = p;
      }
      const pts = best.filter((p): p is Reading => p !== undefined);
      if (pts.length < 2) return fallback;
      const mx = pts.reduce((a, p) => a + p.mono - m0, 0) / pts.length;
      const my = pts.reduce((a, p) => a + p.frames - f0, 0) / pts.length;
      let sxx = 0;
      let sxy = 0;
      for (const p of pts) {
        sxx += (p.mono - m0 - mx) ** 2;
        sxy += (p.mono - m0 - mx) * (p.frames - f0 - my);
      }
      slope = sxy / sxx;
    }
    const ppm = (slope / this.nominalFramesPerMs - 1) * 1e6;
    return Number.isFinite(slope) && Math.abs(ppm) <= MAX_PPM ? slope : fallback;
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
    let offset = -Infinity;
    for (let i = r.length - 1; i >= 0 && r[i]!.mono >= since; i--)
      offset = Math.max(offset, r[i]!.frames - slope * r[i]!.mono);
    return offset + slope * mono;
  }
}
