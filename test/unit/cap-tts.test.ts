// Text to speech (noc/cap/tts.ts): the issue-time phrase, command templates, WAV
// duration; and the real default engine (espeak-ng + lame) when installed (under
// CI=true its absence fails).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { expand, issuedPhrase, splitTemplate, synthesise, voiceFor, wavDurationMs } from '../../noc/cap/tts.js';

test('the spoken text says when the bulletin was issued, in the issuer’s own time', () => {
  assert.equal(issuedPhrase('2026-11-27T14:05:00+07:00', 'vi-VN'), 'Bản tin phát lúc 14 giờ 05 ngày 27/11/2026.');
  assert.equal(issuedPhrase('2026-11-27T09:05:00+07:00', 'vi'), 'Bản tin phát lúc 9 giờ 05 ngày 27/11/2026.');
  assert.equal(issuedPhrase('2026-11-27T14:05:00+07:00', 'en-US'), 'Issued at 14:05 on 27 November 2026.');
  assert.equal(voiceFor('vi-VN'), 'vi');
  assert.equal(voiceFor('en-US'), 'en');
});

test('templates split into arguments without a shell; placeholders replaced inside arguments', () => {
  assert.deepEqual(splitTemplate(`piper --model '/srv/my voice.onnx' --output_file {wav}`), [
    'piper',
    '--model',
    '/srv/my voice.onnx',
    '--output_file',
    '{wav}',
  ]);
  assert.deepEqual(
    expand('espeak-ng -v {voice} -w {wav} {text}', { voice: 'vi', wav: '/t/a.wav', text: 'a; rm -rf / $(x)' }),
    ['espeak-ng', '-v', 'vi', '-w', '/t/a.wav', 'a; rm -rf / $(x)'],
  );
  assert.throws(() => splitTemplate(`lame '{wav}`), /quote is not closed/);
});

test('WAV duration from the fmt and data chunks', () => {
  const wav = Buffer.alloc(44 + 22050 * 2);
  wav.write('RIFF', 0, 'ascii');
  wav.write('WAVE', 8, 'ascii');
  wav.write('fmt ', 12, 'ascii');
  wav.writeUInt32LE(16, 16);
  wav.writeUInt32LE(22050 * 2, 28); // byte rate, mono 16-bit 22050 Hz
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(0xffffffff, 40); // a streamed header: the file length decides
  assert.equal(wavDurationMs(wav), 1000);
  assert.equal(wavDurationMs(Buffer.from('not a wav')), undefined);
});

const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const missing = ['espeak-ng', 'lame'].filter((b) => !have(b));
if (missing.length && process.env.CI === 'true')
  test('espeak-ng and lame are installed (CI must install them)', () =>
    assert.fail(`missing: ${missing.join(', ')} (apt-get install -y espeak-ng lame)`));

test(
  'the default engine synthesises Vietnamese into an MP3, much faster than real time',
  { skip: missing.length ? `${missing.join(', ')} not installed (apt-get install -y espeak-ng lame)` : false },
  async () => {
    const s = await synthesise(
      'Cảnh báo bão số 9. Người dân chằng chống nhà cửa, không ra khơi.',
      'vi-VN',
      '2026-11-27T14:05:00+07:00',
    );
    assert.match(s.spoken, /^Bản tin phát lúc 14 giờ 05 ngày 27\/11\/2026\. Cảnh báo/);
    assert.ok(s.mp3.length > 1000);
    assert.ok(
      s.mp3.subarray(0, 3).toString('latin1') === 'ID3' || (s.mp3[0] === 0xff && (s.mp3[1]! & 0xe0) === 0xe0),
      'an MP3 (ID3 tag or frame sync)',
    );
    assert.match(s.sha256, /^[0-9a-f]{64}$/);
    assert.ok(s.durationMs! > 3000, `speech of ${s.durationMs} ms`);
    assert.ok(s.synthMs / s.durationMs! < 0.5, `real-time factor ${s.synthMs / s.durationMs!}`);
  },
);

test('a missing engine is a clear error', async () => {
  await assert.rejects(
    synthesise('x', 'vi', '2026-11-27T14:05:00+07:00', { command: 'no-such-tts-engine {wav}' }),
    /no-such-tts-engine not found/,
  );
});
