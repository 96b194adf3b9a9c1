// The sysfs GPIO backend of GpioBoard (gpio-board.ts), through onoff: finds the SoC's
// gpiochip, exports the lines and drives them. Kept apart from the board so the onoff
// specifics (the dynamic sysfs base, the native module, the exit hook) live in one place.
//
// Since kernel 6.6 the sysfs number is a dynamic base + the BCM line (512 on Pi 4, 571
// reported on Pi 5), so the base is read from the gpiochip's label (FINDINGS.md "GPIO").
// onoff hard-codes /sys/class/gpio, so this backend needs sysRoot '/sys'.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { errMsg, OUTPUTS, type Driver, type GpioBoardOptions, type Output } from './gpio-driver.js';
import { LoaError } from '../errors.js';

export interface SysfsChip {
  dir: string;
  label: string;
  base: number;
  ngpio: number;
}

/** The gpiochip under `<sysRoot>/class/gpio` with the first label of `labels` that any chip has; null if none. */
export function findSysfsChip(sysRoot: string, labels: readonly string[]): SysfsChip | null {
  const root = join(sysRoot, 'class/gpio');
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => /^gpiochip\d+$/.test(n));
  } catch {
    return null;
  }
  const chips = names.flatMap((n): SysfsChip[] => {
    try {
      const read = (f: string) => readFileSync(join(root, n, f), 'utf8').trim();
      const c = { dir: join(root, n), label: read('label'), base: Number(read('base')), ngpio: Number(read('ngpio')) };
      return Number.isInteger(c.base) && Number.isInteger(c.ngpio) ? [c] : [];
    } catch {
      return [];
    }
  });
  for (const label of labels) {
    const c = chips.find((x) => x.label === label);
    if (c) return c;
  }
  return null;
}

const FALLBACK_CODES = new Set(['EINVAL', 'ENOENT', 'EACCES', 'EPERM']);

function unexportAll(lines: { unexport(): void }[]): void {
  for (const g of lines.splice(0)) {
    try {
      g.unexport();
    } catch {
      // already released; nothing else holds it
    }
  }
}

async function openSysfs(o: GpioBoardOptions, chip: SysfsChip): Promise<Driver> {
  // Imported here, not at the top: onoff loads the native epoll module, which a box on
  // the gpiod backend does not need to have built.
  const { Gpio } = await import('onoff');
  const made: InstanceType<typeof Gpio>[] = [];
  const outs = {} as Record<Output, InstanceType<typeof Gpio>>;
  let fault: InstanceType<typeof Gpio> | null = null;
  try {
    for (const k of OUTPUTS) {
      const p = o[k];
      // onoff writes active_low before direction, and the kernel applies "high"/"low" to
      // the raw level (gpiod_direction_output_raw): an active-low relay is created off by
      // "high". The pin is thus driven off from its first instant, even if exported before.
      const g = new Gpio(chip.base + p.line, p.activeLow ? 'high' : 'low', undefined, {
        activeLow: p.activeLow === true,
      });
      made.push(g);
      outs[k] = g;
    }
    if (o.ampFault) {
      fault = new Gpio(chip.base + o.ampFault.line, 'in', undefined, { activeLow: o.ampFault.activeLow === true });
      made.push(fault);
    }
  } catch (err) {
    unexportAll(made);
    throw err;
  }
  // sysfs levels outlive the process: on an uncaught exception or process.exit() without
  // close(), drive the amp off synchronously on the way out (a SIGKILL still needs init()).
  const onExit = () => {
    try {
      outs.amp.writeSync(0);
    } catch {
      // nothing more can be done while exiting
    }
  };
  process.on('exit', onExit);
  return {
    backend: 'sysfs',
    describe: {
      chip: chip.label,
      base: chip.base,
      gpio: Object.fromEntries(OUTPUTS.map((k) => [k, chip.base + o[k].line])),
    },
    async write(levels) {
      for (const k of OUTPUTS) {
        const v = levels[k];
        if (v === undefined) continue;
        try {
          outs[k].writeSync(v ? 1 : 0);
        } catch (err) {
          throw new LoaError(
            'GPIO_WRITE',
            `sysfs gpio${chip.base + o[k].line} (${k}) <- ${v ? 1 : 0} failed: ${errMsg(err)}`,
            { cause: err },
          );
        }
      }
    },
    async readFault() {
      return fault !== null && fault.readSync() === 1;
    },
    async release() {
      process.off('exit', onExit);
      unexportAll(made);
    },
  };
}

/** The sysfs driver, or why not (a string). Configuration errors throw. */
export async function trySysfs(
  o: GpioBoardOptions,
  labels: readonly string[],
  maxLine: number,
): Promise<Driver | string> {
  const sysRoot = o.sysRoot ?? '/sys';
  if (!existsSync(join(sysRoot, 'class/gpio'))) return `sysfs GPIO absent (no ${join(sysRoot, 'class/gpio')})`;
  const chip = findSysfsChip(sysRoot, labels);
  if (!chip) return `no gpiochip labelled ${labels.join(' | ')} under ${join(sysRoot, 'class/gpio')}`;
  if (maxLine >= chip.ngpio)
    throw new LoaError('GPIO_SETUP', `line ${maxLine} is beyond ${chip.label} (${chip.ngpio} lines)`);
  if (resolve(sysRoot) !== '/sys') return `onoff drives /sys/class/gpio only, and sysRoot is ${sysRoot}`;
  let Gpio: (typeof import('onoff'))['Gpio'];
  try {
    ({ Gpio } = await import('onoff'));
  } catch (err) {
    return `onoff unavailable (${errMsg(err)})`;
  }
  if (!Gpio.accessible) return 'cannot open /sys/class/gpio/export for writing';
  try {
    return await openSysfs(o, chip);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (FALLBACK_CODES.has(code)) return `sysfs export failed with ${code} (base ${chip.base} from ${chip.label})`;
    throw new LoaError('GPIO_SETUP', `sysfs export failed: ${errMsg(err)}`, { cause: err });
  }
}
