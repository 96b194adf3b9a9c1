// Test audio made on the spot with real encoders: sox synthesises a sine to WAV and lame
// encodes it (Debian packages `sox` and `lame`; mpg123 decodes it in the tests). Files are
// cached per parameter set inside one temp dir for the test process.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

export interface ToneSpec {
  seconds: number;
  freq?: number;
  rate?: number;
  channels?: 1 | 2;
  kbps?: number;
  /** Peak amplitude, fraction of full scale (default 0.5, so decoding never clips). */
  amplitude?: number;
  /** A sine (default), or pink noise: the costliest signal for an MP3 decoder. */
  signal?: 'sine' | 'pinknoise';
}

let dir: string | undefined;
const audioDir = (): string => (dir ??= tempDir('audio'));

/** Which of the tools the audio tests need are installed. */
export function audioTools(): { mpg123: boolean; sox: boolean; lame: boolean } {
  const has = (bin: string, arg: string) => spawnSync(bin, [arg], { stdio: 'ignore' }).error === undefined;
  return { mpg123: has('mpg123', '--version'), sox: has('sox', '--version'), lame: has('lame', '--version') };
}

/** A CBR MP3 of a sine tone (or noise); returns its path. */
export function makeTone(spec: ToneSpec): string {
  const { seconds, freq = 440, rate = 44100, channels = 2, kbps = 128, amplitude = 0.5, signal = 'sine' } = spec;
  const base = join(audioDir(), `${signal}-${seconds}s-${freq}-${rate}-${channels}-${kbps}-${amplitude}`);
  if (existsSync(`${base}.mp3`)) return `${base}.mp3`;
  const synth = signal === 'sine' ? ['sine', String(freq)] : ['pinknoise'];
  execFileSync('sox', [
    '-n',
    '-r',
    String(rate),
    '-c',
    String(channels),
    '-b',
    '16',
    `${base}.wav`,
    'synth',
    String(seconds),
    ...synth,
    'vol',
    String(amplitude),
  ]);
  execFileSync('lame', ['--quiet', '--cbr', '-b', String(kbps), `${base}.wav`, `${base}.mp3`]);
  return `${base}.mp3`;
}

/** A file that is not audio at all (mpg123 finds no MPEG frame in it). */
export function makeNotAudio(): string {
  const path = join(audioDir(), 'not-audio.mp3');
  writeFileSync(path, 'This is a text file with an .mp3 name, as a broken download might leave.\n'.repeat(200));
  return path;
}

/** PCM bytes mpg123 decodes a file to (s16, native rate and channels), from one unpaced run. */
export function decodedBytes(path: string): number {
  return execFileSync('mpg123', ['-q', '-s', '-e', 's16', path], { maxBuffer: 1 << 28 }).length;
}

/** Largest absolute sample of s16le PCM. */
export function pcmPeak(pcm: Buffer): number {
  let peak = 0;
  for (let i = 0; i + 1 < pcm.length; i += 2) peak = Math.max(peak, Math.abs(pcm.readInt16LE(i)));
  return peak;
}

/**
 * A "sound card" that records: an ALSA `file` PCM (libasound2's plugin, over the `null`
 * PCM) named `device`, writing every sample a player sends it to `path`, raw, as the
 * player negotiated it (mpg123: s16le at the file's rate). An agent process started with
 * `env` (HOME pointing at the `.asoundrc` here) and `audio.device` = `device` really plays
 * into it, so a test reads the level that came out. The null PCM does not pace: a file
 * plays in milliseconds. Each player session truncates the file when it opens the device.
 */
export interface AlsaCapture {
  device: string;
  path: string;
  env: NodeJS.ProcessEnv;
  /** Why it cannot record here (no mpg123 ALSA output, no libasound2), or undefined. */
  unusable(): string | undefined;
  /** Peak of what was recorded since the last session opened the device (0: nothing). */
  peak(): number;
}

export function alsaCapture(dir: string): AlsaCapture {
  const device = 'loacapture';
  const path = join(dir, 'alsa-out.raw');
  writeFileSync(
    join(dir, '.asoundrc'),
    `pcm.${device} {\n  type file\n  slave.pcm "null"\n  file "${path}"\n  format "raw"\n}\n`,
  );
  const env = { HOME: dir };
  return {
    device,
    path,
    env,
    unusable() {
      const r = spawnSync('mpg123', ['-q', '-o', 'alsa', '-a', device, makeTone({ seconds: 0.2 })], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
        timeout: 10_000,
      });
      if (r.error || r.status !== 0)
        return `mpg123 cannot play into an ALSA file PCM (needs mpg123's ALSA output and libasound2): ${r.error?.message ?? r.stderr.trim().slice(0, 200)}`;
      return existsSync(path) && readFileSync(path).length > 0 ? undefined : 'the ALSA file PCM recorded nothing';
    },
    peak: () => (existsSync(path) ? pcmPeak(readFileSync(path)) : 0),
  };
}
