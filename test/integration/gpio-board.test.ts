// The GPIO board against fakes of the Linux interfaces (this machine has no GPIO):
// (a) sysfs base detection and backend choice on fake sysfs trees;
// (b) the gpiod backend against fake gpioset/gpioget/gpiodetect on PATH.
// (c) the sysfs backend through the real onoff in a mount namespace: gpio-sysfs.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import { Debouncer, findSysfsChip, GpioBoard } from '../../agent/adapters/gpio-board.js';
import { LoaError } from '../../agent/errors.js';
import { boardContract } from '../contract/board.contract.js';
import { tempDir } from '../helpers/tmp.js';
import { PI4, PI4_EXPANDER, PI5, PI5_BRCMSTB, PINS, fakeGpiodOnPath, type LogLine } from './gpio-rig.js';
import { onLines, until } from '../helpers/wait.js';
import { buildSysfsTree, installFakeGpiod, isAlive } from '../helpers/fake-gpio.js';

function captureLog() {
  const lines: LogLine[] = [];
  const log = pino(
    { level: 'debug', base: undefined },
    { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) },
  );
  return {
    log,
    lines,
    backendLine: () => lines.find((l) => typeof l.backend === 'string' && l.msg.startsWith('gpio backend')),
  };
}

/** `cond` holds within `timeoutMs` (test/helpers/wait.ts until, with the names this file uses). */
const waitFor = (what: string, cond: () => boolean, timeoutMs = 5000): Promise<boolean> =>
  until(cond, timeoutMs, what, 20);

// The gpiod part runs against the fakes, first on PATH for this whole file.
const fake = fakeGpiodOnPath();

// ---------------------------------------------------------------- (a) detection

test('sysfs base detection: Pi 4 (512), Pi 5 rp1 (571), old kernel (0); unrelated chips ignored', () => {
  const pi4 = tempDir('sys-pi4');
  buildSysfsTree(pi4, [PI4_EXPANDER, PI4]);
  assert.equal(findSysfsChip(pi4, ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1'])?.base, 512);

  const pi5 = tempDir('sys-pi5');
  buildSysfsTree(pi5, [...PI5_BRCMSTB, PI5]);
  const c5 = findSysfsChip(pi5, ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1']);
  assert.deepEqual([c5?.label, c5?.base, c5?.ngpio], ['pinctrl-rp1', 571, 54]);

  const old = tempDir('sys-old');
  buildSysfsTree(old, [{ label: 'pinctrl-bcm2835', base: 0, ngpio: 54 }]);
  assert.equal(findSysfsChip(old, ['pinctrl-bcm2835'])?.base, 0, 'a base of 0 is read, never assumed');

  const other = tempDir('sys-other');
  buildSysfsTree(other, [PI4_EXPANDER, ...PI5_BRCMSTB]);
  assert.equal(findSysfsChip(other, ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1']), null);
  assert.equal(findSysfsChip(join(tempDir('sys-none'), 'nothing'), ['pinctrl-bcm2711']), null);
});

test('backend choice: auto falls back to gpiod, saying why in one log line; forced sysfs fails loudly', async () => {
  const cases: [string, (root: string) => void, RegExp][] = [
    [
      'no matching chip',
      (r) => buildSysfsTree(r, [PI4_EXPANDER]),
      /no gpiochip labelled pinctrl-bcm2835 \| pinctrl-bcm2711 \| pinctrl-rp1/,
    ],
    ['no sysfs gpio', () => undefined, /sysfs GPIO absent/],
    // A Pi 4 tree, but not at /sys: onoff would write to the real /sys/class/gpio.
    ['fake root', (r) => buildSysfsTree(r, [PI4]), /onoff drives \/sys\/class\/gpio only/],
  ];
  for (const [name, build, reason] of cases) {
    const root = tempDir('sys-choice');
    build(root);
    const cap = captureLog();
    const b = new GpioBoard({ ...PINS, sysRoot: root, log: cap.log });
    await b.init();
    assert.equal(b.backend, 'gpiod', name);
    const line = cap.backendLine();
    assert.equal(line?.backend, 'gpiod', name);
    assert.equal(line?.chip, 'gpiochip0', `${name}: found by label, not the expander`);
    assert.match(String(line?.reason), reason, name);
    assert.equal(cap.lines.filter((l) => l.msg.startsWith('gpio backend')).length, 1, 'one line');
    await b.close();
  }
  const root = tempDir('sys-forced');
  buildSysfsTree(root, [PI4_EXPANDER]);
  const b = new GpioBoard({ ...PINS, sysRoot: root, backend: 'sysfs', log: captureLog().log });
  await assert.rejects(
    b.init(),
    (e: unknown) => e instanceof LoaError && e.code === 'GPIO_SETUP' && /no gpiochip labelled/.test(e.message),
  );
  assert.deepEqual(fake.aliveGpioset(), []);
});

test('pin configuration errors are GPIO_SETUP before any line is touched', async () => {
  const before = fake.calls().length;
  const b = new GpioBoard({ ...PINS, inputLine: { line: 17 }, backend: 'gpiod', log: captureLog().log });
  await assert.rejects(
    b.init(),
    (e: unknown) => e instanceof LoaError && e.code === 'GPIO_SETUP' && /share a GPIO line/.test(e.message),
  );
  const far = new GpioBoard({ ...PINS, inputLine: { line: 60 }, backend: 'gpiod', log: captureLog().log });
  await assert.rejects(
    far.init(),
    (e: unknown) => e instanceof LoaError && e.code === 'GPIO_SETUP' && /beyond gpiochip0/.test(e.message),
  );
  assert.equal(
    fake
      .calls()
      .slice(before)
      .filter((c) => c.tool === 'gpioset').length,
    0,
  );
});

// ---------------------------------------------------------------- (b) gpiod

// The Board contract, on the gpiod backend and the fake tools (line 5 is active-low: 0 is a fault).
boardContract('gpio (gpiod)', () => {
  fake.setLevel(5, 1);
  return {
    board: new GpioBoard({ ...PINS, backend: 'gpiod', faultPollMs: 20, faultDebounceMs: 20, log: captureLog().log }),
    setAmpFault: (active) => fake.setLevel(5, active ? 0 : 1),
    dispose: () => fake.setLevel(5, 1),
  };
});

test('gpiod: exact gpioset command lines, raw levels for active-low, break-before-make, one holder at a time', async () => {
  const b = new GpioBoard({ ...PINS, ampFault: undefined, backend: 'gpiod', log: captureLog().log });
  const from = fake.gpiosetLines().length;
  const step = async (what: string, op: () => Promise<void>, lines: string[]) => {
    const n = fake.gpiosetLines().length;
    await op();
    assert.deepEqual(fake.gpiosetLines().slice(n), lines, what);
    assert.equal(fake.aliveGpioset().length, 1, `${what}: exactly one gpioset holds the lines`);
  };
  const g = (v: string) => `gpioset --mode=wait gpiochip0 ${v}`;
  // Amp off is 17=1 (active-low); amp off first, alone, then the inputs.
  await step('init', () => b.init(), [g('17=1'), g('17=1 22=0 27=0')]);
  assert.deepEqual(b.state(), { amp: false, input: 'ip', ampFault: false });
  await step('amp on', () => b.setAmp(true), [g('17=0 22=0 27=0')]);
  await step('amp on again', () => b.setAmp(true), []);
  await step('input fm', () => b.selectInput('fm'), [g('17=0 22=1 27=0')]);
  await step('input line', () => b.selectInput('line'), [g('17=0 22=0 27=0'), g('17=0 22=0 27=1')]);
  assert.deepEqual(b.state(), { amp: true, input: 'line', ampFault: false });
  await step('amp off', () => b.setAmp(false), [g('17=1 22=0 27=1')]);
  const n = fake.gpiosetLines().length;
  await b.close();
  assert.deepEqual(fake.gpiosetLines().slice(n), [g('17=1 22=0 27=1'), g('17=1 22=0 27=0')], 'close: amp off, then ip');
  assert.deepEqual(fake.aliveGpioset(), [], 'no gpioset left after close()');

  const calls = fake.calls();
  assert.equal(calls.filter((c) => c.event === 'busy').length, 0, 'no gpioset ever found the lines held by another');
  const started = calls.filter((c) => c.tool === 'gpioset' && c.event === 'start').slice(from);
  assert.equal(started.length, 9);
  for (const s of started)
    assert.ok(
      calls.some((c) => c.pid === s.pid && c.event === 'exit'),
      `gpioset ${s.pid} ended its wait`,
    );
  await assert.rejects(b.setAmp(true), (e: unknown) => e instanceof LoaError && e.code === 'GPIO_WRITE');
});

test('gpiod: a gpioset that fails is a GPIO_WRITE with its stderr; the next write is not skipped', async () => {
  // A generous settle time: on a loaded machine the failing fake may take more than 100 ms to exit.
  const b = new GpioBoard({
    ...PINS,
    ampFault: undefined,
    backend: 'gpiod',
    gpiosetSettleMs: 400,
    log: captureLog().log,
  });
  await b.init();
  fake.failGpioset('gpioset: error requesting GPIO lines: Device or resource busy');
  await assert.rejects(
    b.setAmp(true),
    (e: unknown) => e instanceof LoaError && e.code === 'GPIO_WRITE' && /Device or resource busy/.test(e.message),
  );
  assert.equal(b.state().amp, false);
  fake.failGpioset(null);
  const n = fake.gpiosetLines().length;
  // The state says "off" already, but the pin level is unknown after the failure: written again.
  await b.setAmp(false);
  assert.deepEqual(fake.gpiosetLines().slice(n), ['gpioset --mode=wait gpiochip0 17=1 22=0 27=0']);
  await b.close();
  assert.deepEqual(fake.aliveGpioset(), []);
});

test('gpiod: fault input polled with gpioget on the chip found by label (Pi 5: gpiochip4), active-low, debounced', async () => {
  const pi5 = installFakeGpiod(tempDir('gpiod-pi5'), [
    { name: 'gpiochip0', label: 'gpio-brcmstb@107d508500', lines: 32 },
    { name: 'gpiochip1', label: 'gpio-brcmstb@107d517c00', lines: 15 },
    { name: 'gpiochip4', label: 'pinctrl-rp1', lines: 54 },
  ]);
  process.env.PATH = pi5.path;
  try {
    pi5.setLevel(5, 1); // pulled up: no fault
    const b = new GpioBoard({ ...PINS, backend: 'gpiod', faultPollMs: 50, faultDebounceMs: 50, log: captureLog().log });
    const heard: boolean[] = [];
    b.onFault((f) => heard.push(f));
    await b.init();
    assert.equal(pi5.gpiosetLines()[0], 'gpioset --mode=wait gpiochip4 17=1');
    await waitFor('a few polls', () => pi5.calls().filter((c) => c.tool === 'gpioget').length >= 3);
    assert.deepEqual(heard, []);
    assert.deepEqual(pi5.calls().find((c) => c.tool === 'gpioget')?.args, ['gpiochip4', '5']);
    pi5.setLevel(5, 0); // the amplifier pulls the line low: fault
    await waitFor('fault heard', () => heard.length === 1);
    assert.deepEqual(heard, [true]);
    assert.equal(b.state().ampFault, true);
    pi5.setLevel(5, 1);
    await waitFor('fault cleared', () => heard.length === 2);
    assert.deepEqual(heard, [true, false]);
    await b.close();
    assert.deepEqual(pi5.aliveGpioset(), []);
  } finally {
    process.env.PATH = fake.path;
  }
});

test('debounce: a level must read the same for stableMs before it is reported', () => {
  const heard: [boolean, number][] = [];
  let now = 0;
  const d = new Debouncer(false, 50, (v) => heard.push([v, now]));
  const at = (t: number, v: boolean) => ((now = t), d.sample(v, t));
  at(0, false);
  at(20, true); // a 20 ms glitch
  at(40, false);
  at(100, true);
  at(120, true); // 20 ms stable: not yet
  at(150, true); // 50 ms stable: reported
  at(160, true);
  at(200, false);
  at(260, false);
  assert.deepEqual(heard, [
    [true, 150],
    [false, 260],
  ]);
});

/**
 * A node child on the gpiod fakes that turns the amp on with input fm, runs `then` (which
 * must not block: a timer, a signal handler) and prints "amp on": what `then` sets up is
 * in place before the test hears the line.
 */
async function agentChild(then: string) {
  const board = new URL('../../agent/adapters/gpio-board.ts', import.meta.url).href;
  const script = `
    const { GpioBoard } = await import(${JSON.stringify(board)});
    const { pino } = await import('pino');
    const b = new GpioBoard({ ...${JSON.stringify({ ...PINS, ampFault: undefined })}, backend: 'gpiod', log: pino({ level: 'silent' }) });
    await b.init();
    await b.setAmp(true);
    await b.selectInput('fm');
    ${then}
    console.log('amp on');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await new Promise<void>((res, rej) => {
    onLines(child.stdout, (line) => line === 'amp on' && res());
    void exited.then((code) => rej(new Error(`child exited ${code} before amp on`)));
  });
  const holder = fake
    .calls()
    .filter((c) => c.tool === 'gpioset' && c.event === 'start')
    .at(-1);
  assert.deepEqual(holder?.args, ['--mode=wait', 'gpiochip0', '17=0', '22=1', '27=0']);
  assert.ok(holder && isAlive(holder.pid));
  return { child, exited, holder };
}

test('gpiod: when the agent is SIGKILLed, its gpioset ends too instead of holding the lines', async () => {
  const { child, holder } = await agentChild('setInterval(() => {}, 1000);');
  child.kill('SIGKILL');
  await waitFor('the orphaned gpioset to end', () => !isAlive(holder.pid));
  assert.ok(
    fake.calls().some((c) => c.pid === holder.pid && c.event === 'exit'),
    'it saw EOF on stdin and released the lines',
  );
});

test('gpiod: an uncaught exception with the amp on sets the safe levels on the way out', async () => {
  const n = fake.gpiosetLines().length;
  // It crashes when told (SIGUSR2), once the test has seen its holder alive: a crash 10 ms
  // after "amp on" beat that check on a loaded machine.
  const { child, exited, holder } = await agentChild(
    "process.on('SIGUSR2', () => { throw new Error('simulated crash'); }); setInterval(() => {}, 1000);",
  );
  child.kill('SIGUSR2');
  assert.equal(await exited, 1);
  assert.deepEqual(fake.gpiosetLines().slice(n).at(-1), 'gpioset --mode=exit gpiochip0 17=1 22=0 27=0');
  assert.ok(!isAlive(holder.pid));
  assert.deepEqual(fake.aliveGpioset(), []);
});
