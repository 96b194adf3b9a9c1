// The live ALSA output's first second (agent/adapters/alsa-output.ts), on the injected
// clock: aplay is a real process (a script that records what it is given), the kernel's
// report of its PCM is written by the test as a card whose truth is known. A card that
// opens late must not be fed audio at a guessed instant: CI42 lost a live session's first
// click when the card started after the nominal guess and the correction skipped audio.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAlsaPcmOutput } from '../../agent/adapters/alsa-output.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import { pino } from 'pino';
import { seeded } from '../helpers/seeded.js';

const PERIOD = 2400;

interface Pull {
  frames: number;
  at: number;
  mono: number;
}

async function startOutput(opts: { opensAfterMs: number; reports: boolean; ppm?: number; frozen?: boolean }) {
  const dir = tempDir('alsa-start');
  const proc = join(dir, 'proc');
  const sub = join(proc, 'card0', 'pcm0p', 'sub0');
  const script = join(dir, 'aplay');
  const written = join(dir, 'written.raw');
  // aplay's command line, aplay's process; what it is given is kept for the count of frames.
  writeFileSync(script, `#!/bin/sh\necho $$ > ${join(dir, 'pid')}\nexec cat > ${written}\n`);
  chmodSync(script, 0o755);
  const clock = new ManualClock();
  const pulls: Pull[] = [];
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
  const output = createAlsaPcmOutput({
    clock,
    device: 'hw:0',
    aplay: script,
    procAsound: proc,
    log,
    random: seeded(1),
  });
  const stream = output.open((frames, at) => {
    pulls.push({ frames, at, mono: clock.monoMs() });
    return new Int16Array(frames);
  }, 'start');
  const pid = Number(
    await until(() => existsSync(join(dir, 'pid')) && readFileSync(join(dir, 'pid'), 'utf8'), 10_000, 'aplay'),
  );
  const opened = clock.monoMs();
  /** The card, as the kernel reports it: opened after `opensAfterMs`, running 50 ms later, hw_ptr a period at a time. */
  let startWall: number | undefined;
  const report = () => {
    const t = clock.monoMs() - opened;
    if (!opts.reports || t < opts.opensAfterMs) return;
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'hw_params'), `rate: 48000 (48000/1)\nperiod_size: ${PERIOD}\nbuffer_size: 9600\n`);
    const run = t - opts.opensAfterMs - 50;
    if (run >= 0) startWall ??= clock.now() - run;
    const hw = run < 0 || opts.frozen ? 0 : Math.floor((run * 48 * (1 + (opts.ppm ?? 0) / 1e6)) / PERIOD) * PERIOD;
    const state = run < 0 ? 'PREPARED' : 'RUNNING';
    const status = `state: ${state}\nowner_pid   : ${pid}\ndelay       : 9600\n-----\nhw_ptr      : ${hw}\nappl_ptr    : ${hw + 9600}\n`;
    if (status !== shown) writeFileSync(join(sub, 'status'), (shown = status));
  };
  let shown = '';
  /** Time moves in quarters of a millisecond, the card's report with it (a kernel's moves at the interrupt). */
  const step = (ms: number) => {
    for (let i = 0; i < ms * 4; i++) {
      report();
      clock.advance(0.25);
    }
  };
  const stop = async () => {
    await stream.stop();
    await until(() => !existsSync(`/proc/${pid}`), 10_000, 'aplay gone');
    return statSync(written).size / 2;
  };
  /** The drift the stream logged when it stopped. */
  const drift = () =>
    lines.map((l) => JSON.parse(l) as { msg: string; ppm?: number }).find((l) => /the card's drift/.test(l.msg))?.ppm;
  return { pulls, step, stop, opened, drift, start: () => startWall };
}

test(
  'a card that opens 700 ms late: silence until its position is known, then the first audio pulled for the instant the card plays it (±5 ms)',
  { timeout: 30_000 },
  async () => {
    const o = await startOutput({ opensAfterMs: 700, reports: true });
    o.step(700);
    assert.equal(o.pulls.length, 0, 'no audio while the kernel shows no PCM of aplay');
    o.step(1_000);
    assert.ok(o.pulls.length > 0, 'audio once the card is followed');
    const total = await o.stop();
    const pulled = o.pulls.reduce((a, p) => a + p.frames, 0);
    // Frames before the first pull were silence; the card plays frame k at its start + k / 48.
    const first = o.pulls[0]!;
    const due = o.start()! + (total - pulled) / 48;
    assert.ok(Math.abs(first.at - due) <= 5, `first audio pulled for ${(first.at - due).toFixed(2)} ms off the card`);
  },
);

test(
  'no kernel PCM at all (a file plugin, a sound server): audio at the nominal rate after a second at most (and one feed, 5-15 ms)',
  { timeout: 30_000 },
  async () => {
    const o = await startOutput({ opensAfterMs: 0, reports: false });
    o.step(1_100);
    assert.ok(o.pulls.length > 0);
    assert.ok(o.pulls[0]!.mono - o.opened <= 1_015, `the first pull ${o.pulls[0]!.mono - o.opened} ms after the start`);
    await o.stop();
  },
);

// A driver that lies: RUNNING, and its position never moves. The position never becomes
// known, so the wait for it ends at its bound and the session plays at the nominal rate
// (an emergency still sounds, its timing estimated).
test(
  'a card reported RUNNING whose position never moves: audio at the nominal rate 1.5 s after its PCM showed (and one feed)',
  { timeout: 30_000 },
  async () => {
    const o = await startOutput({ opensAfterMs: 0, reports: true, frozen: true });
    o.step(1_400);
    assert.equal(o.pulls.length, 0, 'silence while the position may still come');
    o.step(300);
    assert.ok(o.pulls.length > 0, 'audio once the wait is over');
    assert.ok(o.pulls[0]!.mono - o.opened <= 1_515, `the first pull ${o.pulls[0]!.mono - o.opened} ms after the start`);
    await o.stop();
  },
);

// The card moves its position a period (50 ms) at a time: read at random 5-15 ms
// intervals, the first reading of a new position comes up to 15 ms after it moved. Read
// also around each period's end, it comes within a millisecond, and the line is the card's.
test(
  'a card 1,000 ppm fast, followed for 8 s: the drift measured within 60 ppm (reads at each period end; at random times alone, 164 ppm off in this run)',
  { timeout: 30_000 },
  async () => {
    const o = await startOutput({ opensAfterMs: 0, reports: true, ppm: 1000 });
    o.step(8_000);
    await o.stop();
    const ppm = o.drift();
    assert.ok(ppm !== undefined && Math.abs(ppm - 1000) < 60, `the drift measured ${ppm} ppm`);
  },
);
