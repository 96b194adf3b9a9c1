// The kernel's report of a PCM substream (agent/adapters/alsa-status.ts), in the format of
// sound/core/pcm.c (snd_pcm_substream_proc_status_read, snd_pcm_substream_proc_hw_params_read).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findPcmSubstream, parsePcmParams, parsePcmStatus } from '../../agent/adapters/alsa-status.js';
import { tempDir } from '../helpers/tmp.js';

const RUNNING = `state: RUNNING
owner_pid   : 4242
trigger_time: 8413.336021528
tstamp      : 8414.418153270
delay       : 9700
avail       : 0
avail_max   : 2400
-----
hw_ptr      : 52080
appl_ptr    : 61680
`;

test('a running substream: state, owner, positions and the delay (which includes what the codec holds)', () => {
  assert.deepEqual(parsePcmStatus(RUNNING), {
    state: 'RUNNING',
    ownerPid: 4242,
    hwPtr: 52080,
    applPtr: 61680,
    delay: 9700,
  });
});

test('a closed substream, an error line or a truncated read is no status', () => {
  assert.equal(parsePcmStatus('closed\n'), undefined);
  assert.equal(parsePcmStatus('error -77\n'), undefined);
  assert.equal(parsePcmStatus(RUNNING.slice(0, 60)), undefined);
  assert.equal(parsePcmStatus(RUNNING.replace('52080', 'x')), undefined);
});

test("hw_params: the card's rate (after any plug conversion) and its period", () => {
  const text =
    'access: RW_INTERLEAVED\nformat: S16_LE\nsubformat: STD\nchannels: 2\nrate: 44100 (44100/1)\nperiod_size: 2205\nbuffer_size: 8820\n';
  assert.deepEqual(parsePcmParams(text), { rate: 44100, periodFrames: 2205 });
  assert.equal(parsePcmParams('closed\n'), undefined);
});

test("the substream a pid opened is found among the cards; another pid's or a closed one is not it", () => {
  const root = tempDir('asound');
  const sub = (card: number, pcm: number, n: number, status: string) => {
    const d = join(root, `card${card}`, `pcm${pcm}p`, `sub${n}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'status'), status);
    return d;
  };
  sub(0, 0, 0, 'closed\n');
  sub(0, 0, 1, RUNNING.replace('4242', '999'));
  mkdirSync(join(root, 'card0', 'pcm0c', 'sub0'), { recursive: true }); // a capture device
  const ours = sub(1, 3, 0, RUNNING);
  assert.equal(findPcmSubstream(4242, root), ours);
  assert.equal(findPcmSubstream(5151, root), undefined);
  assert.equal(findPcmSubstream(4242, join(root, 'missing')), undefined);
});
