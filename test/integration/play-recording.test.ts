// audio.recordDir's record of a paced play (agent/adapters/mpg123-pacer.ts and
// pcm-output.ts's PlayRecording) against the instant the player says sound went out
// (mpg123-player.ts onAudio, which turns the pacer's instant into wall time the same way):
// what the tap does, the recording's own disk writes included, must move neither. CI48's
// year-ahead run saw them 51 ms apart (the bound is 25 ms): a file created on a loaded
// machine came between the two stamps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Pacer } from '../../agent/adapters/mpg123-pacer.js';
import { createMpg123Player } from '../../agent/adapters/mpg123-player.js';
import { PlayRecording } from '../../agent/adapters/pcm-output.js';
import { audioTools, makeTone } from '../helpers/audio.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const tools = audioTools();
assert.ok(
  tools.mpg123 && tools.sox && tools.lame,
  `the player test needs mpg123, sox and lame: ${JSON.stringify(tools)}`,
);

/** Holds the thread for `ms`, as a write to a disk that stalls does. */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('the first frame recorded and the start said agree however long the tap takes', async () => {
  const dir = tempDir('play-rec');
  const rec = new PlayRecording(dir, Date.now);
  const src = new PassThrough();
  let started: number | undefined;
  const pacer = new Pacer(
    src,
    (pcm, f, handedAt) => {
      stall(60);
      rec.write(pcm, f, 1, handedAt);
      stall(60);
    },
    { audio: (handedAt) => (started ??= Date.now() - (performance.now() - handedAt)), drained: () => {} },
  );
  pacer.setFormat({ rate: 8000, channels: 1 });
  src.end(Buffer.alloc(8000 * 2 * 0.2)); // 200 ms of silence
  await until(() => pacer.finished, 5000, 'the pacer to take it all');
  rec.close(pacer.underruns);
  const json = readdirSync(dir).find((f) => f.endsWith('.json'))!;
  const meta = JSON.parse(readFileSync(join(dir, json), 'utf8')) as { firstSampleMs: number };
  // A card takes its first 20 ms period at once: its first frame went out up to 20 ms before.
  assert.ok(started !== undefined, 'sound said to go out');
  const gap = started - meta.firstSampleMs;
  assert.ok(gap >= 0 && gap <= 25, `first frame ${meta.firstSampleMs}, started ${started} (${gap} ms)`);
});

test('the recorded first frame and the start agree when what is done with the PCM is slow (a loaded disk)', async () => {
  // CI48's year-ahead run: 51 ms between the two (a file created on a loaded machine came
  // between their stamps). Here 60 ms of work on the first PCM, before the recording's.
  const dir = tempDir('rec-slow');
  let first = true;
  const onPcm = () => {
    if (!first) return;
    first = false;
    const end = performance.now() + 60;
    while (performance.now() < end);
  };
  const s = createMpg123Player({ output: { kind: 'paced', recordDir: dir, onPcm } }).play({
    source: { kind: 'file' as const, paths: [makeTone({ seconds: 0.5 })] },
    volume: 50,
  });
  const at = await s.started;
  assert.equal((await s.ended).reason, 'end');
  const json = readdirSync(dir).find((f) => f.endsWith('.json'))!;
  const meta = JSON.parse(readFileSync(join(dir, json), 'utf8')) as { firstSampleMs: number };
  assert.ok(Math.abs(meta.firstSampleMs - at) <= 25, `first frame ${meta.firstSampleMs}, started ${at}`);
});
