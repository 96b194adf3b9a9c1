// SoundProof (agent/domain/sound-proof.ts): contract v1.2 §9's `output` from the board's
// windows, and the silent run the playback judges. Pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoundProof } from '../../agent/domain/sound-proof.js';

const w = (outDb: number | null, inDbfs: number | null = -18) => ({ outDb, inDbfs, windowMs: 1000 });

test('a play that sounded: the median level, no silence', () => {
  const p = new SoundProof();
  for (const db of [-6, -7, -5, -6.2, -30]) p.add(w(db));
  assert.deepEqual(p.result(5000), { measured: true, levelDb: -6.2, silentMs: 0 });
});

test('silent while the input carried signal counts; silent while the input was quiet (a pause) does not, and does not end the run', () => {
  const p = new SoundProof();
  p.add(w(-6));
  p.add(w(-80));
  p.add(w(-80, -90)); // a pause in speech: nothing to hear, nothing to judge
  p.add(w(-80));
  assert.equal(p.silentRunMs, 2000);
  p.add(w(-6));
  assert.equal(p.silentRunMs, 0, 'the output sounded: the run ends');
  assert.deepEqual(
    p.result(5000),
    { measured: true, levelDb: -80, silentMs: 2000 },
    'the median of -6, -80, -80, -80, -6',
  );
});

test('measured: false where the board measured nothing, or under half of the play (a reset, a 1.1 board)', () => {
  assert.deepEqual(new SoundProof().result(4000), { measured: false });
  const p = new SoundProof();
  p.add(w(-6));
  p.add(w(null));
  assert.deepEqual(p.result(4000), { measured: false }, '1 s measured of 4');
  p.add(w(-6));
  assert.deepEqual(p.result(4000), { measured: true, levelDb: -6, silentMs: 0 }, '2 s of 4');
});
