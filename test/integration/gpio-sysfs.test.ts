// The GPIO board's sysfs backend through the real onoff, with a fake tree mounted at
// /sys/class in a private mount namespace (skipped, with the reason, where that cannot be
// made); each case runs the board in a child process. Detection and the gpiod backend:
// gpio-board.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { buildSysfsTree, mountNamespaceUnavailable, readSysfsGpio, runWithSysClass } from '../helpers/fake-gpio.js';
import { PI4, PI4_EXPANDER, PINS, fakeGpiodOnPath, type LogLine } from './gpio-rig.js';

// A sysfs export that never appears falls back to gpiod: the fakes, first on PATH.
fakeGpiodOnPath();

const nsUnavailable = mountNamespaceUnavailable();
if (nsUnavailable) console.log(`# sysfs/onoff tests skipped: ${nsUnavailable}`);
const BOARD_URL = new URL('../../agent/adapters/gpio-board.ts', import.meta.url).href;

/** A child script: `body` runs with `board`, `fs`, `val(n)` and `out` in scope; `out` and the log come back as JSON. */
function child(opts: Record<string, unknown>, body: string): string {
  return `
    const { GpioBoard } = await import(${JSON.stringify(BOARD_URL)});
    const { pino } = await import('pino');
    const fs = await import('node:fs');
    const logs = [];
    const log = pino({ base: undefined }, { write: (s) => logs.push(JSON.parse(s)) });
    const val = (n) => fs.readFileSync('/sys/class/gpio/gpio' + n + '/value', 'utf8').slice(0, 1);
    const out = {};
    const board = new GpioBoard({ ...${JSON.stringify({ ...PINS, ...opts })}, log });
    try { ${body} } finally { console.log(JSON.stringify({ out, logs })); }`;
}

async function runChild(classDir: string, script: string, emulateExport = false) {
  const r = await runWithSysClass(classDir, script, { emulateExport });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  const parse = (): { out: Record<string, unknown>; logs: LogLine[] } | null => {
    try {
      return JSON.parse(last) as { out: Record<string, unknown>; logs: LogLine[] };
    } catch {
      return null; // the assertions report the child's output
    }
  };
  return { ...r, parsed: parse(), why: `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}` };
}

// BCM 17, 22, 27, 5 on a Pi 4 (base 512).
const AMP = 529;
const FM = 534;
const LINE = 539;
const FAULT = 517;

test(
  'sysfs/onoff: lines already exported; values after each step, fault input, safe close',
  { skip: nsUnavailable ?? false },
  async () => {
    const root = tempDir('ns-sys');
    const gpio = buildSysfsTree(root, [PI4_EXPANDER, PI4], [AMP, FM, LINE, FAULT]);
    const script = child(
      { backend: 'auto', faultPollMs: 20, faultDebounceMs: 40 },
      `
    const { Gpio } = await import('onoff');
    out.accessible = Gpio.accessible;
    const snap = () => [val(${AMP}), val(${FM}), val(${LINE})].join('');
    const steps = (out.steps = []);
    await board.init(); steps.push(['init', snap()]); out.backend = board.backend;
    await board.setAmp(true); steps.push(['amp on', snap()]);
    await board.selectInput('fm'); steps.push(['fm', snap()]);
    await board.selectInput('line'); steps.push(['line', snap()]);
    const heard = new Promise((r) => board.onFault(r));
    fs.writeFileSync('/sys/class/gpio/gpio${FAULT}/value', '1'); // the kernel applies active_low: this is "fault"
    out.fault = await Promise.race([heard, new Promise((r) => setTimeout(r, 5000, 'timeout').unref())]);
    await board.setAmp(false); steps.push(['amp off', snap()]);
    await board.setAmp(true);
    await board.close(); steps.push(['close', snap()]);
    out.unexport = fs.readFileSync('/sys/class/gpio/unexport', 'utf8');`,
    );
    const r = await runChild(join(root, 'class'), script);
    assert.equal(r.code, 0, r.why);
    const out = r.parsed?.out;
    assert.equal(out?.accessible, true, 'onoff sees the fake export file as accessible');
    assert.equal(out?.backend, 'sysfs');
    // amp, fm, line as read from the value files (logical: the kernel inverts active-low lines).
    assert.deepEqual(out?.steps, [
      ['init', '000'],
      ['amp on', '100'],
      ['fm', '110'],
      ['line', '101'],
      ['amp off', '001'],
      ['close', '000'],
    ]);
    assert.equal(out?.fault, true);
    assert.equal(out?.unexport, String(FAULT), 'lines unexported on close (the last write stays in the fake file)');
    const line = r.parsed?.logs.find((l) => l.backend === 'sysfs');
    assert.match(line?.msg ?? '', /gpio backend sysfs: pinctrl-bcm2711 has base 512/);
    assert.deepEqual(line?.gpio, { amp: AMP, inputFm: FM, inputLine: LINE });
    // Created off: an active-low output starts at raw "high" (see openSysfs), the others at "low".
    assert.deepEqual(readSysfsGpio(gpio, AMP), { direction: 'high', value: '0', activeLow: '1' });
    assert.deepEqual(readSysfsGpio(gpio, FM), { direction: 'low', value: '0', activeLow: '0' });
    assert.deepEqual(readSysfsGpio(gpio, FAULT).direction, 'in');
    assert.deepEqual(readSysfsGpio(gpio, FAULT).activeLow, '1');
  },
);

test(
  'sysfs/onoff: fresh export through an emulated kernel (export FIFO -> gpioN appears)',
  { skip: nsUnavailable ?? false },
  async () => {
    const root = tempDir('ns-export');
    const gpio = buildSysfsTree(root, [PI4], []);
    const script = child(
      { backend: 'sysfs' },
      `
    await board.init();
    await board.setAmp(true);
    out.ampOn = val(${AMP});
    await board.close();`,
    );
    const r = await runChild(join(root, 'class'), script, true);
    assert.equal(r.code, 0, r.why);
    assert.equal(r.parsed?.out.ampOn, '1');
    for (const n of [AMP, FM, LINE, FAULT])
      assert.ok(existsSync(join(gpio, `gpio${n}`)), `gpio${n} exported as base 512 + line`);
    assert.ok(!existsSync(join(gpio, 'gpio17')), 'the plain BCM number is never exported');
    assert.deepEqual(readSysfsGpio(gpio, AMP), { direction: 'high', value: '0', activeLow: '1' });
    assert.deepEqual(readSysfsGpio(gpio, LINE), { direction: 'low', value: '0', activeLow: '0' });
    assert.equal(readSysfsGpio(gpio, FAULT).direction, 'in');
  },
);

test(
  'sysfs/onoff: an uncaught exception with the amp on still leaves it off',
  { skip: nsUnavailable ?? false },
  async () => {
    const root = tempDir('ns-crash');
    const gpio = buildSysfsTree(root, [PI4], [AMP, FM, LINE, FAULT]);
    const script = child(
      { backend: 'sysfs' },
      `
    await board.init();
    await board.setAmp(true);
    await board.selectInput('fm');
    out.before = val(${AMP});
    setTimeout(() => { throw new Error('simulated crash'); }, 10);`,
    );
    const r = await runChild(join(root, 'class'), script);
    assert.notEqual(r.code, 0, r.why);
    assert.match(r.stderr, /simulated crash/);
    assert.equal(r.parsed?.out.before, '1');
    assert.equal(readSysfsGpio(gpio, AMP).value, '0', 'the exit hook drove the amp off');
  },
);

test(
  'sysfs/onoff: an export that never appears (ENOENT) falls back to gpiod',
  { skip: nsUnavailable ?? false },
  async () => {
    const root = tempDir('ns-enoent');
    buildSysfsTree(root, [PI4], []); // export is a plain file: nothing creates gpioN
    const script = child(
      { backend: 'auto' },
      `
    await board.init();
    out.backend = board.backend;
    await board.close();`,
    );
    const r = await runChild(join(root, 'class'), script);
    assert.equal(r.code, 0, r.why);
    assert.equal(r.parsed?.out.backend, 'gpiod');
    const line = r.parsed?.logs.find((l) => l.backend === 'gpiod');
    assert.match(String(line?.reason), /sysfs export failed with ENOENT \(base 512 from pinctrl-bcm2711\)/);
    assert.ok(!existsSync(join(root, 'class/gpio/gpio529')));
    assert.equal(readFileSync(join(root, 'class/gpio/export'), 'utf8'), String(AMP), 'onoff tried base + line');
  },
);
