// The simulated board's proof of sound (PROTOCOL.md 1.2, §5.2 LEVELS, §5.6): a LEVELS
// event every second while the amplifier is on (none while it is off, a window in which
// the input changed not sent), and the idle line measurement's age for GET_LEVELS (1 s
// after the amplifier went off, then every 10 s). What the levels are is board-answers.ts's
// levelsOf(); this file keeps their timing.
import { levelsOf, type BoardState, type OutputStage } from './board-answers.js';
import type { AudioInput, BoardEvent } from './messages.js';
import type { TimerHandle, Timers } from './timers.js';

/** A LEVELS event per window while the amplifier is on. */
const LEVELS_MS = 1000;
/** The idle line measurement: first this long after the amplifier went off… */
const LINE_FIRST_MS = 1000;
/** …then this often (1.1's "at least every 10 s"). */
const LINE_EVERY_MS = 10_000;

export class BoardLevels {
  private timer: TimerHandle | undefined;
  /** Since when the amplifier is off (ms), null while it is on: the idle measurements run. */
  private idleSince: number | null = null;
  /** The last idle line measurement before the amplifier went on, or null. */
  private lastLineAt: number | null = null;

  constructor(private readonly d: { timers: Timers; state: BoardState; minor: number; send(e: BoardEvent): void }) {}

  /** Knob: the signal on an input, dBFS (SILENCE_DBFS for dead air: a stream of silence, an FM station off the air). */
  inputLevel(input: AudioInput, dbfs: number): void {
    this.d.state.inputDbfs[input] = dbfs;
  }

  /** Knob: the amplifier's output stage dies (no output), draws nothing at all, or works again (at full gain). */
  outputStage(stage: OutputStage): void {
    this.d.state.output = stage;
    this.d.state.outputLossDb = 0;
  }

  /** Knob: the output stage works, `lossDb` below its gain (a weak amplifier: 6 dB is half the voltage). */
  outputWeak(lossDb: number): void {
    this.d.state.output = 'ok';
    this.d.state.outputLossDb = lossDb;
  }

  /** A reset: no measurement yet, idle from now. */
  reset(): void {
    this.idleSince = this.d.timers.now();
    this.lastLineAt = null;
  }

  stop(): void {
    this.d.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Seconds since the last idle line measurement; null before the first since reset. */
  lineAgeS(): number | null {
    const at = this.lineMeasuredAt();
    return at === null ? null : Math.floor((this.d.timers.now() - at) / 1000);
  }

  /** After anything that may have switched the amplifier. */
  sync(running: boolean): void {
    const t = this.d.timers;
    const s = this.d.state;
    if (!running || !s.amp) {
      this.stop();
      if (this.idleSince === null) this.idleSince = t.now();
      return;
    }
    if (this.idleSince !== null) {
      this.lastLineAt = this.lineMeasuredAt();
      this.idleSince = null;
    }
    if (this.d.minor < 2 || this.timer) return;
    const window = { input: s.input, switches: s.inputSwitches };
    this.timer = t.setTimeout(() => {
      this.timer = undefined;
      if (s.amp && s.input === window.input && s.inputSwitches === window.switches)
        this.d.send({ event: 'levels', ...levelsOf(s) });
      this.sync(running);
    }, LEVELS_MS);
  }

  private lineMeasuredAt(): number | null {
    if (this.idleSince === null) return this.lastLineAt;
    const idle = this.d.timers.now() - this.idleSince;
    if (idle < LINE_FIRST_MS) return this.lastLineAt;
    return this.idleSince + LINE_FIRST_MS + Math.floor((idle - LINE_FIRST_MS) / LINE_EVERY_MS) * LINE_EVERY_MS;
  }
}
