// The small internal contract between GpioBoard (gpio-board.ts) and its two kernel
// backends (gpio-sysfs.ts, gpio-gpiod.ts), so each backend lives in its own module and the
// board never knows which one it drives: the board's options (which both backends read),
// the outputs and the Driver a backend returns. gpio-board.ts re-exports the options,
// its public surface; the rest is not. Imports nothing of the board, so no cycle.
import type { Clock } from './clock.js';
import type { Logger } from '../log.js';

export interface GpioPin {
  /** BCM line number, as printed on pinout diagrams (GPIO17 = 17). */
  line: number;
  /** The relay or signal is active when the pin is low (common for relay boards). */
  activeLow?: boolean;
}

export type GpioBackend = 'sysfs' | 'gpiod';

export interface GpioBoardOptions {
  amp: GpioPin;
  inputFm: GpioPin;
  inputLine: GpioPin;
  ampFault?: GpioPin;
  /** 'auto' (default): sysfs when it works, else gpiod. */
  backend?: 'auto' | GpioBackend;
  /** Where sysfs is mounted; '/sys' by default (tests point it at a fake tree). */
  sysRoot?: string;
  /** gpiochip labels of the SoC's own GPIO controller, in order of preference. */
  chipLabels?: readonly string[];
  /** Fault input polling period; 200 ms by default (gpiod: one gpioget process per poll). */
  faultPollMs?: number;
  /** A fault level must read the same for this long before listeners hear it; 50 ms by default. */
  faultDebounceMs?: number;
  /** A new gpioset that is still running after this long is taken to hold its lines; 100 ms by default. */
  gpiosetSettleMs?: number;
  log: Logger;
  /** Debounce timing and the fault poll's timer (default systemClock). */
  clock?: Clock;
}

export type Output = 'amp' | 'inputFm' | 'inputLine';
/** Amp first: the safe-state order, and the order of lines on gpioset's command line. */
export const OUTPUTS: readonly Output[] = ['amp', 'inputFm', 'inputLine'];
export type Levels = Partial<Record<Output, boolean>>;

/** What a backend does; levels are logical (activeLow is the backend's business). */
export interface Driver {
  readonly backend: GpioBackend;
  readonly describe: Record<string, unknown>;
  /** Sets only the outputs named. Rejects with GPIO_WRITE. */
  write(levels: Levels): Promise<void>;
  readFault(): Promise<boolean>;
  release(): Promise<void>;
}

export const errMsg = (err: unknown) => (err instanceof Error ? err.message : String(err));
