// The IO board port: the amplifier power relay, the audio source selector, the fault
// and sensor conditions, and (where the board has one) the FM tuner. Implementations:
// `sim` (adapters/sim-board.ts: records every transition, for tests and the demo),
// `gpio` (adapters/gpio-board.ts: relays on GPIO lines, one amplifier-fault input) and
// `mcu` (adapters/mcu-board.ts: the IO microcontroller over the serial protocol of
// firmware-bridge/PROTOCOL.md, with sensors and the tuner).
import type { BoardReading } from '../domain/hardware-verdicts.js';
import type { HwComponent } from '../../contract/events.js';

/** Which input the amplifier takes: the box's own audio out (IP audio), the FM tuner, or the line input. */
export type AudioInput = 'ip' | 'fm' | 'line';

export interface BoardState {
  amp: boolean;
  input: AudioInput;
  ampFault: boolean;
}

/**
 * A level the board reports: a fault condition that is active or not. The board reports
 * edges as it sees them (with its own electrical debounce); deciding that a flapping door
 * is one fault is the agent's job (domain/fault-tracker.ts).
 */
export interface HwCondition {
  component: HwComponent;
  /** Stable code, e.g. `door_open`, `line_short`, `no_answer` (docs/protocol.md §7). */
  code: string;
  active: boolean;
  message: string;
}

export interface FmState {
  freqMHz: number;
  /** dBµV; null when the board does not answer. */
  rssi: number | null;
}

export interface Tuner {
  /** Tune and wait for it to settle; resolves with what was actually tuned. Rejects if the tuner is not ready. */
  tune(freqMHz: number): Promise<FmState>;
  /** The last tuned frequency and its latest RSSI; null before the first tune. */
  state(): FmState | null;
}

export interface Board {
  readonly kind: 'sim' | 'gpio' | 'mcu';
  /**
   * Put every output into its safe state (amplifier off, input `ip`) before anything
   * else: after a crash the relays may be in any state. Idempotent.
   */
  init(): Promise<void>;
  setAmp(on: boolean): Promise<void>;
  selectInput(input: AudioInput): Promise<void>;
  state(): BoardState;
  /** Fault and sensor condition changes; returns the unsubscribe function. */
  onHw(listener: (c: HwCondition) => void): () => void;
  /** The FM tuner, where the board has one (otherwise the FM input is a fixed receiver). */
  readonly tuner?: Tuner;
  /** Safe state, then release the hardware. */
  close(): Promise<void>;
  /** The health of the link to a board behind a serial line (mcu); boards wired directly have none. */
  link?(): { up: boolean; resets: number; badFrames: number; timeouts: number };
  /** What a board with its own microcontroller can say about itself (the selftest); others have none. */
  readonly diagnostics?: BoardDiagnostics;
  /**
   * What the board measures of the sound (IO board protocol 1.2, contract §9): a board
   * without it (sim, gpio) measures nothing, and the proof of play says so.
   */
  readonly sound?: BoardSound;
}

/** One window of what the board measured (firmware-bridge/PROTOCOL.md §5.6). */
export interface SoundLevels {
  /** Speaker-line voltage, dB of the amplifier's rated output; null: not measured. */
  outDb: number | null;
  currentMa: number;
  /** The amplified input's level, dBFS; null: not measured. */
  inDbfs: number | null;
  input: AudioInput;
  windowMs: number;
}

export interface BoardSound {
  /** Does the board measure now (an IO board of protocol 1.2 or later, answering)? */
  measures(): boolean;
  /** Each window the board measured while the amplifier was on (about one a second). */
  onLevels(listener: (l: SoundLevels) => void): () => void;
}

/** The IO board's firmware, as its version block reports it (firmware-bridge/PROTOCOL.md). */
export interface FirmwareInfo {
  protocol: number;
  minor: number;
  firmware: { major: number; minor: number; patch: number };
  hwRev: number;
  bootCount: number;
  resetReason: string;
}

export interface BoardDiagnostics {
  /** True while the board answers (and speaks our protocol version). */
  answering(): boolean;
  /** Its firmware, once it answered. */
  firmware(): FirmwareInfo | undefined;
  /** Its sensors now (door, mains, battery, amplifier). */
  reading(): Promise<BoardReading>;
  /** Measure the speaker line (interrupts it for up to 3 s: never while playing). */
  lineTest(): Promise<{ result: 'ok' | 'open' | 'short'; impedance: number }>;
}

/** The amplifier-fault input of the sim and GPIO boards, as a condition. */
export function ampFaultCondition(fault: boolean): HwCondition {
  return {
    component: 'amp',
    code: 'amp_fault',
    active: fault,
    message: fault ? 'amplifier fault input active' : 'amplifier fault input cleared',
  };
}
