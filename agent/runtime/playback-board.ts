// The board as playback drives it: relay and amplifier operations one at a time, in
// order (a failure is logged and reported, never thrown), the warm-up before an item,
// and the amplifier held on after the last one, then off with the input back to `ip`.
// runtime/playback.ts says when; this file knows how.
import type { Clock, TimerHandle } from '../adapters/clock.js';
import type { Board, AudioInput, HwCondition } from '../adapters/board.js';
import type { EventSink, SourceKind } from '../../contract/events.js';
import type { PlaySource } from '../domain/occurrence.js';
import type { Logger } from '../log.js';

export function inputFor(kind: SourceKind): AudioInput {
  return kind === 'fm' ? 'fm' : kind === 'line' ? 'line' : 'ip';
}

export interface PlaybackBoardDeps {
  clock: Clock;
  board: Board;
  events: EventSink;
  log: Logger;
  warmUpMs: number;
  holdMs: number;
  /** A board operation failed (active) or worked again (inactive); the fault tracker debounces. */
  reportHw?: (c: HwCondition) => void;
}

export class PlaybackBoard {
  private chain: Promise<void> = Promise.resolve();
  private ampOffTimer: TimerHandle | undefined;

  /** `idle`: nothing plays (the amplifier may go off). */
  constructor(
    private readonly d: PlaybackBoardDeps,
    private readonly idle: () => boolean,
  ) {}

  /** Board operations run one at a time, in order; a failure is logged, not thrown. */
  step(op: () => Promise<void>): Promise<void> {
    const component = this.d.board.kind === 'mcu' ? 'mcu' : 'gpio';
    this.chain = this.chain.then(op).then(
      () => this.d.reportHw?.({ component, code: 'write', active: false, message: 'board operations work again' }),
      (err: unknown) => {
        this.d.log.error({ code: 'BOARD_WRITE', err }, 'board operation failed');
        const message = (err as Error).message.slice(0, 300);
        if (this.d.reportHw) this.d.reportHw({ component, code: 'write', active: true, message });
        else this.d.events.emit('hw.fault', { component, code: 'write', message });
      },
    );
    return this.chain;
  }

  /** Input (FM tuned first) and amplifier on for `source`; off again if its item then does not play. */
  warmUp(src: PlaySource): void {
    this.keepOn();
    void this.step(async () => {
      // Tune during the warm-up so the receiver has settled at the instant; a failure is
      // retried (and failed over) when the occurrence fires.
      if (src.kind === 'fm' && this.d.board.tuner) await this.d.board.tuner.tune(src.freqMHz).catch(() => undefined);
      await this.d.board.selectInput(inputFor(src.kind));
      await this.d.board.setAmp(true);
    });
    // If the occurrence then does not play (skipped, media missing), the amplifier goes off.
    this.armAmpOff(this.d.warmUpMs + this.d.holdMs + 1000);
  }

  /** Nothing plays: the amplifier is held on for a next item, then goes off. */
  release(): void {
    // Held on for a next item, but silent: the player's input carries nothing now, while a
    // live one (an FM station, the line) would stay on air for the whole hold.
    void this.step(async () => {
      if (this.idle()) await this.d.board.selectInput('ip');
    });
    this.armAmpOff(this.d.holdMs);
  }

  /** Amplifier off and the player's input, now (stop, shutdown). */
  silence(): Promise<void> {
    this.keepOn();
    return this.step(async () => {
      await this.d.board.setAmp(false);
      await this.d.board.selectInput('ip');
    });
  }

  /** The operations queued so far are done. */
  settled(): Promise<void> {
    return this.chain;
  }

  /** Something plays (or is about to): the amplifier is not to go off. */
  keepOn(): void {
    this.d.clock.clearTimeout(this.ampOffTimer);
  }

  private armAmpOff(ms: number): void {
    this.d.clock.clearTimeout(this.ampOffTimer);
    this.ampOffTimer = this.d.clock.setTimeout(() => {
      if (!this.idle()) return;
      void this.step(async () => {
        if (!this.idle()) return;
        await this.d.board.setAmp(false);
        await this.d.board.selectInput('ip');
      });
    }, ms);
  }
}
