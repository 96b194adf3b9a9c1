// The IO board port: the amplifier power relay, the audio source selector and the
// amplifier-fault input. Implementations: `sim` (adapters/sim-board.ts: records every
// transition, for tests and the demo) and `gpio` (adapters/gpio-board.ts). Issue [4/6]
// adds the microcontroller board behind the same port.

/** Which input the amplifier takes: the box's own audio out (IP audio), the FM tuner, or the line input. */
export type AudioInput = 'ip' | 'fm' | 'line';

export interface BoardState {
  amp: boolean;
  input: AudioInput;
  ampFault: boolean;
}

export interface Board {
  readonly kind: 'sim' | 'gpio';
  /**
   * Put every output into its safe state (amplifier off, input `ip`) before anything
   * else: after a crash the relays may be in any state. Idempotent.
   */
  init(): Promise<void>;
  setAmp(on: boolean): Promise<void>;
  selectInput(input: AudioInput): Promise<void>;
  state(): BoardState;
  /** Fault input changes (debounced by the implementation); returns the unsubscribe function. */
  onFault(listener: (fault: boolean) => void): () => void;
  /** Safe state, then release the hardware. */
  close(): Promise<void>;
}
