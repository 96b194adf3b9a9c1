// Text to speech at the centre (docs/cap.md): text → WAV by a configured command line,
// WAV → MP3 by another. The default engine is espeak-ng (Debian package, Vietnamese
// voices) and lame; any other engine is one template, e.g. piper with a voice file:
//   --tts-command 'piper --model /srv/vi_VN-vais1000-medium.onnx --output_file {wav}'
// Placeholders, replaced inside each argument (no shell: the text is never parsed):
//   {text} the text, {textfile} a file holding it, {wav} {mp3} the files, {voice} the voice.
// The text is also given on standard input (piper reads it there).
// Every spoken bulletin starts with when it was issued (Decision 03/2020/QĐ-TTg asks
// repeats to restate it): "Bản tin phát lúc 14 giờ 05 ngày 27/11/2026." in Vietnamese.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorMessage, Failure } from '../../cli-kit/index.js';

export const DEFAULT_TTS_COMMAND = 'espeak-ng -v {voice} -w {wav} {text}';
export const DEFAULT_ENCODE_COMMAND = 'lame --quiet -b 64 {wav} {mp3}';

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/**
 * "When it was issued", as the issuer wrote it: the wall time of the CAP `sent` value in
 * its own offset (2026-11-27T14:05:00+07:00 → 14 giờ 05 ngày 27/11/2026).
 */
export function issuedPhrase(sent: string, lang: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(sent);
  if (!m) throw new Failure(`issued time "${sent}" is not an RFC 3339 / CAP dateTime`);
  const [, y, mo, d, h, mi] = m;
  if (lang.toLowerCase().startsWith('vi')) return `Bản tin phát lúc ${Number(h)} giờ ${mi} ngày ${d}/${mo}/${y}.`;
  return `Issued at ${h}:${mi} on ${Number(d)} ${MONTHS[Number(mo) - 1]} ${y}.`;
}

/** The voice espeak-ng knows for a CAP language tag (vi-VN → vi, en-US → en). */
export function voiceFor(lang: string): string {
  return lang.toLowerCase().split('-')[0] || 'en';
}

/** Splits a command template into arguments: white space separates, '…' and "…" quote. */
export function splitTemplate(template: string): string[] {
  const args: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let any = false;
  for (const ch of template) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      any = true;
    } else if (/\s/.test(ch)) {
      if (any || cur) args.push(cur);
      cur = '';
      any = false;
    } else cur += ch;
  }
  if (quote) throw new Failure(`command template ${JSON.stringify(template)}: a ${quote} quote is not closed`);
  if (any || cur) args.push(cur);
  if (!args.length) throw new Failure('the command template is empty');
  return args;
}

export function expand(template: string, vars: Record<string, string>): string[] {
  return splitTemplate(template).map((a) => a.replace(/\{(\w+)\}/g, (whole, k: string) => vars[k] ?? whole));
}

function run(argv: string[], input: string, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, _out, stderr) => {
      if (!err) return resolve();
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      if (e.code === 'ENOENT')
        return reject(
          new Failure(
            `${what}: ${argv[0]} not found (install it: apt-get install -y espeak-ng lame, or configure another command)`,
          ),
        );
      if (e.killed) return reject(new Failure(`${what}: ${argv[0]} did not finish within ${timeoutMs / 1000} s`));
      reject(
        new Failure(
          `${what}: ${argv[0]} failed (${errorMessage(err)}${stderr ? `: ${String(stderr).trim().slice(0, 300)}` : ''})`,
        ),
      );
    });
    child.stdin?.on('error', () => {}); // an engine that does not read stdin closes it early
    child.stdin?.end(input);
  });
}

/** Duration of a PCM WAV file in ms, from its fmt and data chunks (undefined when not one). */
export function wavDurationMs(wav: Buffer): number | undefined {
  if (wav.length < 12 || wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE')
    return undefined;
  let byteRate = 0;
  for (let at = 12; at + 8 <= wav.length;) {
    const id = wav.toString('ascii', at, at + 4);
    const size = wav.readUInt32LE(at + 4);
    if (id === 'fmt ' && at + 16 <= wav.length) byteRate = wav.readUInt32LE(at + 16);
    if (id === 'data') {
      const bytes = Math.min(size, wav.length - at - 8); // a streamed header may say 0xffffffff
      return byteRate ? Math.round((bytes / byteRate) * 1000) : undefined;
    }
    at += 8 + size + (size % 2);
  }
  return undefined;
}

export interface TtsOptions {
  command?: string;
  encode?: string;
  voice?: string;
  timeoutMs?: number;
}
export interface Synthesised {
  mp3: Buffer;
  sha256: string;
  /** What was read out, the issue time first. */
  spoken: string;
  durationMs?: number;
  synthMs: number;
  encodeMs: number;
}

/** Text → MP3 bytes, the issue time read first. */
export async function synthesise(text: string, lang: string, sent: string, o: TtsOptions = {}): Promise<Synthesised> {
  const spoken = `${issuedPhrase(sent, lang)} ${text}`.trim();
  const dir = mkdtempSync(join(tmpdir(), 'noc-tts-'));
  try {
    const vars = {
      text: spoken,
      textfile: join(dir, 'text.txt'),
      wav: join(dir, 'speech.wav'),
      mp3: join(dir, 'speech.mp3'),
      voice: o.voice ?? voiceFor(lang),
    };
    writeFileSync(vars.textfile, spoken);
    const timeoutMs = o.timeoutMs ?? 120_000;
    const t0 = performance.now();
    await run(expand(o.command ?? DEFAULT_TTS_COMMAND, vars), spoken, 'text to speech', timeoutMs);
    const t1 = performance.now();
    let wav: Buffer;
    try {
      wav = readFileSync(vars.wav);
    } catch {
      throw new Failure(`text to speech: the command wrote no ${vars.wav} (does its template use {wav}?)`);
    }
    await run(expand(o.encode ?? DEFAULT_ENCODE_COMMAND, vars), '', 'MP3 encoding', timeoutMs);
    const t2 = performance.now();
    let mp3: Buffer;
    try {
      mp3 = readFileSync(vars.mp3);
    } catch {
      throw new Failure(`MP3 encoding: the command wrote no ${vars.mp3} (does its template use {mp3}?)`);
    }
    if (mp3.length === 0) throw new Failure('MP3 encoding produced an empty file');
    const durationMs = wavDurationMs(wav);
    return {
      mp3,
      sha256: createHash('sha256').update(mp3).digest('hex'),
      spoken,
      ...(durationMs !== undefined ? { durationMs } : {}),
      synthMs: t1 - t0,
      encodeMs: t2 - t1,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
