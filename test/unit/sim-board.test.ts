import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimBoard, type Transition } from '../../agent/adapters/sim-board.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { boardContract } from '../contract/board.contract.js';
import { LoaError } from '../../agent/errors.js';

boardContract('sim', () => {
  const board = new SimBoard({ clock: new ManualClock() });
  return { board, setAmpFault: (on) => board.setFault(on) };
});

/** A clock the test steps by hand. */
function fakeClock(start = 1_000_000): ManualClock {
  return new ManualClock({ now: start, mono: start });
}

test('init puts a crashed board (amp on, fm) into the safe state: amp off first, then ip', async () => {
  const clock = fakeClock();
  const b = new SimBoard({ clock, initial: { amp: true, input: 'fm' } });
  assert.deepEqual(b.state(), { amp: true, input: 'fm', ampFault: false });
  await b.init();
  assert.deepEqual(b.transitions, [
    { at: 1_000_000, what: 'amp', value: false },
    { at: 1_000_000, what: 'input', value: 'ip' },
  ]);
  assert.deepEqual(b.state(), { amp: false, input: 'ip', ampFault: false });
});

test('transitions are recorded in call order with the injected clock, and no-ops are not transitions', async () => {
  const clock = fakeClock(0);
  const b = new SimBoard({ clock });
  const seen: Transition[] = [];
  b.onTransition((t) => seen.push(t));
  await b.init();
  clock.advance(100);
  await b.selectInput('fm');
  clock.advance(50);
  await b.setAmp(true);
  await b.setAmp(true); // already on: the relay does not move
  clock.advance(1000);
  await b.setAmp(false);
  await b.selectInput('ip');
  assert.deepEqual(b.transitions, [
    { at: 0, what: 'amp', value: false },
    { at: 0, what: 'input', value: 'ip' },
    { at: 100, what: 'input', value: 'fm' },
    { at: 150, what: 'amp', value: true },
    { at: 1150, what: 'amp', value: false },
    { at: 1150, what: 'input', value: 'ip' },
  ]);
  assert.deepEqual(seen, b.transitions, 'the listener heard each one as it happened');
});

test('with latency, concurrent calls still apply one at a time in call order', async () => {
  const b = new SimBoard({ latencyMs: 20 });
  await b.init();
  const t0 = Date.now();
  // Not awaited one by one: the board must serialise them itself.
  await Promise.all([b.selectInput('line'), b.setAmp(true), b.selectInput('fm')]);
  assert.ok(Date.now() - t0 >= 55, 'three relay moves of 20 ms each, one after the other');
  assert.deepEqual(
    b.transitions.slice(2).map((t) => `${t.what}=${String(t.value)}`),
    ['input=line', 'amp=true', 'input=fm'],
  );
  const ats = b.transitions.map((t) => t.at);
  assert.deepEqual(
    [...ats].sort((x, y) => x - y),
    ats,
    'timestamps never go back',
  );
  await b.close();
});

test('close writes the safe state; writes before init and after close reject with GPIO_WRITE', async () => {
  const b = new SimBoard();
  await assert.rejects(
    b.setAmp(true),
    (e: unknown) => e instanceof LoaError && e.code === 'GPIO_WRITE' && /init\(\)/.test(e.message),
  );
  await b.init();
  await b.selectInput('line');
  await b.setAmp(true);
  const before = b.transitions.length;
  await b.close();
  assert.deepEqual(
    b.transitions.slice(before).map((t) => `${t.what}=${String(t.value)}`),
    ['amp=false', 'input=ip'],
  );
  await assert.rejects(b.selectInput('fm'), (e: unknown) => e instanceof LoaError && e.code === 'GPIO_WRITE');
  await b.close(); // idempotent, writes nothing more
  assert.equal(b.transitions.length, before + 2);
});

test('fault listeners hear changes only, and stop hearing after unsubscribing', async () => {
  const b = new SimBoard();
  await b.init();
  const heard: boolean[] = [];
  const off = b.onFault((f) => heard.push(f));
  b.setFault(true);
  b.setFault(true);
  assert.equal(b.state().ampFault, true);
  b.setFault(false);
  off();
  b.setFault(true);
  assert.deepEqual(heard, [true, false]);
  assert.equal(
    b.transitions.some((t) => (t.what as string) === 'fault'),
    false,
    'the fault input is not a relay transition',
  );
});
