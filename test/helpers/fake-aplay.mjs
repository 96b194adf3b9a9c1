#!/usr/bin/env node
// A sound card for machines without one, behind aplay's command line (the live output's
// `audio.aplayPath`): it takes raw S16_LE mono from stdin as `aplay -t raw -r RATE -c 1
// --buffer-time=US` does, plays it on a crystal FAKE_CARD_PPM off the system clock, and
// reports its position as the kernel does for a real card, in FAKE_CARD_PROC (the
// agent's `audio.procAsound`): card0/pcm0p/sub0/status and hw_params in the kernel's
// format (sound/core/pcm.c), hw_ptr moving a whole period at a time as the Pi's bcm2835
// moves it. Like aplay it reads stdin only while its ring has room, starts the card once
// the ring is full, and on end of input plays out what it holds (at once, in the record).
//
// FAKE_CARD_RECORD (a directory): what the card played, as the paced stand-in records it
// (`<n>.wav` and `<n>.json` with firstSampleMs, the wall instant of the first frame, and
// cardRateHz, frames per second of the system clock), so the same tools measure both.
// An xrun (the ring dry) stops the card until the ring is full again, silence out and
// counted (`xruns`, `underrunFrames`), as aplay on a real card does.
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';

// A card's position moves on its own crystal and its interrupt, whatever else the machine
// runs; this stand-in moves it on a 2 ms timer, which a loaded machine delays (in full
// runs the drift was measured 700 and 822 ppm of 1,000 set). So it asks the scheduler
// for precedence over the tests' load, as the hardware has it: the agent under test keeps
// its normal priority. Root only (CI); elsewhere it runs as it did.
try {
  setPriority(-15);
} catch {
  // not root: unchanged
}

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`${name}=`));
  return eq ? eq.slice(name.length + 1) : dflt;
};
const rate = Number(arg('-r', '48000'));
const bufferFrames = Math.round((Number(arg('--buffer-time', '200000')) / 1e6) * rate);
const periodFrames = Math.round(bufferFrames / 4);
const ppm = Number(process.env.FAKE_CARD_PPM ?? '0');
const cardRate = rate * (1 + ppm / 1e6);
const proc = process.env.FAKE_CARD_PROC;
const recordDir = process.env.FAKE_CARD_RECORD;
const TICK_MS = 2;

const sub = proc ? join(proc, 'card0', 'pcm0p', 'sub0') : undefined;
if (sub) {
  mkdirSync(sub, { recursive: true });
  writeFileSync(
    join(sub, 'hw_params'),
    `access: RW_INTERLEAVED\nformat: S16_LE\nsubformat: STD\nchannels: 1\nrate: ${rate} (${rate}/1)\nperiod_size: ${periodFrames}\nbuffer_size: ${bufferFrames}\n`,
  );
}

/** Written frames not yet played, as one growing list of chunks. */
const ring = [];
let ringFrames = 0;
let applPtr = 0;
let hwPtr = 0;
let played = 0;
let startMono;
let startWall;
let underrunFrames = 0;
let xruns = 0;
let state = 'PREPARED';
let ended = false;
let pending = Buffer.alloc(0);

const name = `fake-card-${process.pid}`;
const rawPath = recordDir ? join(recordDir, `${name}.raw`) : undefined;
if (recordDir) mkdirSync(recordDir, { recursive: true });
const raw = rawPath ? openSync(rawPath, 'w') : undefined;

function status(state, hw = hwPtr) {
  if (!sub) return;
  const text =
    `state: ${state}\nowner_pid   : ${process.pid}\ntrigger_time: 0.000000000\ntstamp      : 0.000000000\n` +
    `delay       : ${applPtr - hw}\navail       : ${bufferFrames - (applPtr - hw)}\navail_max   : ${periodFrames}\n` +
    `-----\nhw_ptr      : ${hw}\nappl_ptr    : ${applPtr}\n`;
  writeFileSync(join(sub, 'status.tmp'), text);
  renameSync(join(sub, 'status.tmp'), join(sub, 'status'));
}

/** Up to `frames` frames from the ring (fewer when it runs dry). */
function take(frames) {
  const n0 = Math.min(frames, ringFrames);
  const out = Buffer.alloc(n0 * 2);
  let at = 0;
  while (at < n0) {
    const head = ring[0];
    const n = Math.min(n0 - at, head.length / 2);
    head.copy(out, at * 2, 0, n * 2);
    if (n * 2 === head.length) ring.shift();
    else ring[0] = head.subarray(n * 2);
    at += n;
    ringFrames -= n;
  }
  return out;
}

/**
 * The speaker's output is continuous (the recording's frame i is at firstSampleMs + i /
 * cardRate), the card's position is not: as with aplay on a real card, a ring that runs
 * dry is an xrun (the stream stops where it is: hw_ptr = appl_ptr, silence out), and it
 * starts again once the ring is full (aplay prepares it and refills it; its start
 * threshold is the buffer).
 */
function tick() {
  if (startMono === undefined) {
    if (ringFrames >= bufferFrames || (ended && ringFrames > 0)) {
      startMono = performance.now();
      startWall = performance.timeOrigin + startMono;
      state = 'RUNNING';
    } else {
      status('PREPARED');
      return;
    }
  }
  const due = Math.floor(((performance.now() - startMono) / 1000) * cardRate);
  if (state !== 'RUNNING' && ringFrames >= bufferFrames) state = 'RUNNING';
  if (due > played) {
    const want = due - played;
    const pcm = state === 'RUNNING' ? take(want) : Buffer.alloc(0);
    hwPtr += pcm.length / 2;
    if (state === 'RUNNING' && pcm.length / 2 < want) {
      state = 'XRUN';
      xruns++;
    }
    underrunFrames += want - pcm.length / 2;
    if (raw !== undefined) {
      writeSync(raw, pcm);
      if (pcm.length / 2 < want) writeSync(raw, Buffer.alloc((want - pcm.length / 2) * 2));
    }
    played = due;
  }
  // The kernel's hw_ptr: to the last period while running, where the stream stopped otherwise.
  status(state, state === 'RUNNING' ? hwPtr - (hwPtr % periodFrames) : hwPtr);
  if (ringFrames < bufferFrames && !ended) process.stdin.resume();
  if (ended && ringFrames === 0) finish();
}

function finish() {
  clearInterval(timer);
  if (raw !== undefined) {
    closeSync(raw);
    const data = readFileSync(rawPath);
    const h = Buffer.alloc(44);
    h.write('RIFF', 0, 'latin1');
    h.writeUInt32LE(36 + data.length, 4);
    h.write('WAVEfmt ', 8, 'latin1');
    h.writeUInt32LE(16, 16);
    h.writeUInt16LE(1, 20);
    h.writeUInt16LE(1, 22);
    h.writeUInt32LE(rate, 24);
    h.writeUInt32LE(rate * 2, 28);
    h.writeUInt16LE(2, 32);
    h.writeUInt16LE(16, 34);
    h.write('data', 36, 'latin1');
    h.writeUInt32LE(data.length, 40);
    writeFileSync(join(recordDir, `${name}.wav`), Buffer.concat([h, data]));
    unlinkSync(rawPath);
    writeFileSync(
      join(recordDir, `${name}.json`),
      JSON.stringify({ firstSampleMs: startWall ?? null, cardRateHz: cardRate, underrunFrames, xruns }),
    );
  }
  if (sub) status('SETUP');
  process.exit(0);
}

const timer = setInterval(tick, TICK_MS);
process.stdin.on('data', (chunk) => {
  const all = pending.length ? Buffer.concat([pending, chunk]) : chunk;
  const whole = all.length - (all.length % 2);
  pending = all.subarray(whole);
  if (whole > 0) {
    ring.push(Buffer.from(all.subarray(0, whole)));
    ringFrames += whole / 2;
    applPtr += whole / 2;
  }
  if (ringFrames >= bufferFrames) process.stdin.pause();
});
// End of input: what the ring holds plays next, in order, at the card's rate; the
// recording's timing is its index, so it is written now and the card stops (the agent
// gives aplay 300 ms to go).
process.stdin.on('end', () => {
  ended = true;
  if (raw !== undefined && startMono !== undefined) writeSync(raw, take(ringFrames));
  finish();
});
process.on('SIGTERM', finish);
