// The simulated IO board: the same contract as the GPIO board (adapters/gpio-board.ts),
// with every relay write kept in `transitions` so tests and the demo can see what the
// hardware would have done, and when.
//
// Deliberately strict where the real board is: writes before init() or after close()
// reject with GPIO_WRITE, and init()/close() always write the safe state (amp off first,
// then input `ip`) even when the state already looks safe, because on real hardware the
// relays may be anywhere after a crash. Other writes that change nothing are not
// recorded (a relay that does not move makes no transition).
import { ampFaultCondition, type AudioInput, type Board, type BoardState, type HwCondition } from './board.js';
import { systemClock, type Clock } from './clock.js';
import { LoaError } from '../errors.js';

export type Transition = { at: number; what: 'amp'; value: boolean } | { at: number; what: 'input'; value: AudioInput };

export interface SimBoardOptions {
  /** `at` of each transition is `clock.now()` when the relay has moved. */
  clock?: Clock;
  /** Each relay write takes this long (a real relay needs 5 to 20 ms); 0 by default. */
  latencyMs?: number;
  /** The relays before init(), e.g. as a crash left them: amp on, input fm. */
  initial?: Partial<BoardState>;
}

export class SimBoard implements Board {
  readonly kind = 'sim' as const;
  /** Every relay write, in order. Public so tests and the demo can read it; do not mutate. */
  readonly transitions: Transition[] = [];
  private st: BoardState;
  private phase: 'new' | 'open' | 'closed' = 'new';
  private readonly clock: Clock;
  private readonly latencyMs: number;
  private readonly faultListeners = new Set<(fault: boolean) => void>();
  private readonly transitionListeners = new Set<(t: Transition) => void>();
  /** Operations run one at a time in call order, as on the real board. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: SimBoardOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.latencyMs = opts.latencyMs ?? 0;
    this.st = { amp: false, input: 'ip', ampFault: false, ...opts.initial };
  }

  init(): Promise<void> {
    return this.serial(async () => {
      this.phase = 'open';
      await this.safe();
    });
  }

  setAmp(on: boolean): Promise<void> {
    return this.serial(async () => {
      this.requireOpen(`setAmp(${on})`);
      await this.move('amp', on, false);
    });
  }

  selectInput(input: AudioInput): Promise<void> {
    return this.serial(async () => {
      this.requireOpen(`selectInput(${input})`);
      await this.move('input', input, false);
    });
  }

  state(): BoardState {
    return { ...this.st };
  }

  onHw(listener: (c: HwCondition) => void): () => void {
    return this.onFault((fault) => listener(ampFaultCondition(fault)));
  }

  onFault(listener: (fault: boolean) => void): () => void {
    this.faultListeners.add(listener);
    return () => this.faultListeners.delete(listener);
  }

  /** Listen to each transition as it happens (the demo prints them); returns the unsubscribe function. */
  onTransition(listener: (t: Transition) => void): () => void {
    this.transitionListeners.add(listener);
    return () => this.transitionListeners.delete(listener);
  }

  /**
   * Simulate the amplifier-fault input. Listeners hear only changes, synchronously: the
   * real board's debounce is its own business, a test wants the event now.
   */
  setFault(on: boolean): void {
    if (this.st.ampFault === on) return;
    this.st.ampFault = on;
    for (const l of [...this.faultListeners]) l(on);
  }

  close(): Promise<void> {
    return this.serial(async () => {
      if (this.phase === 'open') await this.safe();
      this.phase = 'closed';
    });
  }

  private async safe(): Promise<void> {
    await this.move('amp', false, true);
    await this.move('input', 'ip', true);
  }

  private async move(what: 'amp', value: boolean, force: boolean): Promise<void>;
  private async move(what: 'input', value: AudioInput, force: boolean): Promise<void>;
  private async move(what: 'amp' | 'input', value: boolean | AudioInput, force: boolean): Promise<void> {
    if (!force && this.st[what] === value) return;
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    // The overloads above pair `what` with the right value type.
    const t = { at: this.clock.now(), what, value } as Transition;
    if (t.what === 'amp') this.st.amp = t.value;
    else this.st.input = t.value;
    this.transitions.push(t);
    for (const l of [...this.transitionListeners]) l(t);
  }

  private requireOpen(op: string): void {
    if (this.phase !== 'open') {
      throw new LoaError(
        'GPIO_WRITE',
        `${op} on a ${this.phase === 'new' ? 'board not initialised (call init() first)' : 'closed board'}`,
      );
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
