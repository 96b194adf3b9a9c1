// The reference board on the rows PROTOCOL.md 1.2 adds (§9 rows 28-31: LEVELS, GET_LEVELS,
// the idle line measurement), and a 1.1 board that has none of them. Manual timers, no sleep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  COMMAND_TYPES,
  EVENT_TYPES,
  decodeError,
  decodeEvent,
  decodeReply,
  encodeCommand,
  type BoardEvent,
} from '../../firmware-bridge/messages.js';
import { SILENCE_DBFS } from '../../firmware-bridge/board-answers.js';
import { bareBoard } from '../helpers/bare-board.js';

type Levels = Extract<BoardEvent, { event: 'levels' }>;

function on(minor?: number) {
  const b = bareBoard(minor === undefined ? {} : { minor });
  b.model.start();
  const amp = (v: boolean) => b.send(COMMAND_TYPES['set-amp'], encodeCommand({ cmd: 'set-amp', on: v }).payload);
  const input = (i: 'ip' | 'fm' | 'line') =>
    b.send(COMMAND_TYPES['select-input'], encodeCommand({ cmd: 'select-input', input: i }).payload);
  const levels = () =>
    b.frames.filter((f) => f.type === EVENT_TYPES.levels).map((f) => decodeEvent(f.type, f.payload) as Levels);
  const getLevels = () => {
    b.send(COMMAND_TYPES['get-levels']);
    const f = b.frames[b.frames.length - 1]!;
    return f.type === (COMMAND_TYPES['get-levels'] | 0x80)
      ? decodeReply('get-levels', f.payload)
      : decodeError(f.payload);
  };
  return { ...b, amp, input, levels, getLevels };
}

test('board 1.2: LEVELS every second while the amplifier is on, the first within 1.1 s; none while off; the window of an input switch is not sent', () => {
  const b = on();
  b.send(COMMAND_TYPES['set-watchdog'], encodeCommand({ cmd: 'set-watchdog', seconds: 600 }).payload);
  b.timers.advance(5000);
  assert.equal(b.levels().length, 0, 'none while off');
  b.amp(true);
  b.timers.advance(1100);
  assert.equal(b.levels().length, 1, 'the first within 1.1 s');
  b.timers.advance(8900);
  assert.equal(b.levels().length, 10, '10 s on: 10 windows');
  const l = b.levels()[0]!;
  assert.equal(l.input, 'ip');
  assert.equal(l.windowMs, 1000);
  assert.ok(l.outDb !== null && l.outDb > -10, `a working amplifier sounds: ${l.outDb} dB`);
  b.timers.advance(500);
  b.input('line');
  b.timers.advance(600);
  assert.equal(b.levels().length, 10, 'the window in which the input switched is not sent');
  b.timers.advance(1000);
  assert.equal(b.levels().at(-1)!.input, 'line');
  b.amp(false);
  const n = b.levels().length;
  b.timers.advance(5000);
  assert.equal(b.levels().length, n, 'none after SET_AMP 0');
  b.model.stop();
});

test('board 1.2: the output follows the input when the amplifier works; a dead output stage, no current, dead air and an open line each show', () => {
  const b = on();
  b.send(COMMAND_TYPES['set-watchdog'], encodeCommand({ cmd: 'set-watchdog', seconds: 600 }).payload);
  b.amp(true);
  const next = () => {
    b.timers.advance(1000);
    return b.levels().at(-1)!;
  };
  const ok = next();
  assert.ok(ok.outDb! > -10 && ok.currentMa > 500 && ok.inDbfs! > -30, JSON.stringify(ok));
  b.model.levels.outputStage('dead');
  const dead = next();
  assert.ok(dead.outDb! <= -60 && dead.currentMa > 100 && dead.inDbfs! > -30, `dead stage: ${JSON.stringify(dead)}`);
  b.model.levels.outputStage('no-current');
  assert.equal(next().currentMa, 0);
  b.model.levels.outputStage('ok');
  b.model.levels.inputLevel('ip', SILENCE_DBFS);
  const air = next();
  assert.ok(air.inDbfs! <= -70 && air.outDb! <= -60, `dead air in, nothing out: ${JSON.stringify(air)}`);
  b.model.levels.inputLevel('ip', -18);
  b.model.line('open');
  const open = next();
  assert.ok(open.outDb! > -10 && open.currentMa < 400, `an open line draws no load current: ${JSON.stringify(open)}`);
  b.model.stop();
});

test('board 1.2: GET_LEVELS any time (amp off: output not measured), with the idle line measurement and its age', () => {
  const b = on();
  const first = b.getLevels();
  assert.ok('outDb' in first);
  assert.equal(first.outDb, null, 'amplifier off: not measured');
  assert.equal(first.inDbfs, -18);
  assert.equal(first.lineAgeS, null, 'no line measurement yet 0 s after the reset');
  b.timers.advance(1500);
  const idle = b.getLevels();
  assert.ok('lineAgeS' in idle);
  assert.equal(idle.lineImpedance, 16);
  assert.equal(idle.lineAgeS, 0, 'measured 1 s after the reset');
  b.timers.advance(9000);
  assert.equal((b.getLevels() as { lineAgeS: number }).lineAgeS, 9);
  b.timers.advance(1000);
  assert.equal((b.getLevels() as { lineAgeS: number }).lineAgeS, 0, 'and every 10 s');
  b.model.line('open');
  b.timers.advance(10_000);
  assert.equal((b.getLevels() as { lineImpedance: number | null }).lineImpedance, null, 'open: over range');
  b.model.stop();
});

test('board 1.1 (minor 1): no LEVELS while on, GET_LEVELS is UNKNOWN_TYPE', () => {
  const b = on(1);
  b.send(COMMAND_TYPES['set-watchdog'], encodeCommand({ cmd: 'set-watchdog', seconds: 600 }).payload);
  b.amp(true);
  b.timers.advance(5000);
  assert.equal(b.levels().length, 0);
  const r = b.getLevels();
  assert.ok('code' in r && r.code === 'unknown_type', JSON.stringify(r));
  b.model.stop();
});
