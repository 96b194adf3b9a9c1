// The small internal contract between GpioBoard (gpio-board.ts) and its two kernel
// backends (gpio-sysfs.ts, gpio-gpiod.ts), so each backend lives in its own module and the
// board never knows which one it drives. Not part of the adapter's public surface.
import type { GpioBackend } from './gpio-board.js';

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
