// What the GPIO board tests share (gpio-board.test.ts: detection and the gpiod backend;
// gpio-sysfs.test.ts: the sysfs backend in a mount namespace): the relay board's wiring
// as on the boxes, the GPIO chips of a Pi 4 and a Pi 5, a log line's shape, and the fake
// gpiod tools (gpioset/gpioget/gpiodetect) first on PATH.
import type { GpioBoardOptions } from '../../agent/adapters/gpio-board.js';
import { installFakeGpiod } from '../helpers/fake-gpio.js';
import { tempDir } from '../helpers/tmp.js';

export type LogLine = Record<string, unknown> & { msg: string };

// Relay board wiring as on the boxes: active-low amp relay, fault line pulled low on fault.
export const PINS = {
  amp: { line: 17, activeLow: true },
  inputFm: { line: 22 },
  inputLine: { line: 27 },
  ampFault: { line: 5, activeLow: true },
} satisfies Partial<GpioBoardOptions>;

export const PI4 = { label: 'pinctrl-bcm2711', base: 512, ngpio: 58 };
export const PI4_EXPANDER = { label: 'raspberrypi-exp-gpio', base: 570, ngpio: 8 };
export const PI5 = { label: 'pinctrl-rp1', base: 571, ngpio: 54 };
export const PI5_BRCMSTB = [
  { label: 'gpio-brcmstb@107d508500', base: 512, ngpio: 32 },
  { label: 'gpio-brcmstb@107d517c00', base: 544, ngpio: 15 },
];

/** The fake gpiod tools of a Pi 4, first on PATH for the rest of the file's process. */
export function fakeGpiodOnPath(): ReturnType<typeof installFakeGpiod> {
  const fake = installFakeGpiod(tempDir('gpiod'), [
    { name: 'gpiochip0', label: 'pinctrl-bcm2711', lines: 58 },
    { name: 'gpiochip1', label: 'raspberrypi-exp-gpio', lines: 8 },
  ]);
  process.env.PATH = fake.path;
  return fake;
}
