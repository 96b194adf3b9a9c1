// `noc tts`: text → MP3 with the configured engine, the issue time read first; prints the
// sha256, size, duration and the real-time factor (synthesis time / audio duration).
import { writeFileSync } from 'node:fs';
import { errorMessage, Failure, parseArgs, positionals, required, UsageError } from '../../cli-kit/index.js';
import type { Io } from '../io.js';
import { formatInTz } from '../tz.js';
import { capDateTimeProblem } from './validate.js';
import { DEFAULT_ENCODE_COMMAND, DEFAULT_TTS_COMMAND, synthesise } from './tts.js';

const SPEC = {
  out: { kind: 'string' },
  lang: { kind: 'string' },
  issued: { kind: 'string' },
  'tts-command': { kind: 'string' },
  'encode-command': { kind: 'string' },
  voice: { kind: 'string' },
} as const;

export const TTS_HELP = `noc tts "TEXT" --out FILE.mp3 [--lang vi] [--issued 2026-11-27T14:05:00+07:00]

Synthesise TEXT into an MP3, the time it was issued read first ("Bản tin phát lúc 14 giờ
05 ngày 27/11/2026." for vi, "Issued at 14:05 on 27 November 2026." for en). Prints the
sha256 (what boxes verify media by), bytes, duration and the real-time factor.

  --lang L             language of the text (default vi; en for English)
  --issued T           issue time, as written (default now, Asia/Ho_Chi_Minh)
  --tts-command T      text → WAV, default: ${DEFAULT_TTS_COMMAND}
                       e.g. piper: 'piper --model /srv/vi.onnx --output_file {wav}' (text on stdin)
  --encode-command T   WAV → MP3, default: ${DEFAULT_ENCODE_COMMAND}
                       Placeholders: {text} {textfile} {wav} {mp3} {voice}; no shell is used.
  --voice V            the {voice} (default: the language, vi-VN → vi)`;

export async function ttsCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc tts');
  if (help) return (io.out(TTS_HELP), 0);
  const [text] = positionals(positional, ['"TEXT"'], 'noc tts');
  if (!text!.trim()) throw new UsageError('the text is empty');
  const out = required(opts.out, '--out', 'alert.mp3');
  const issued = opts.issued ?? formatInTz(Date.now(), 'Asia/Ho_Chi_Minh');
  const bad = capDateTimeProblem(issued.replace(/Z$/, '+00:00'));
  if (bad) throw new UsageError(`--issued: ${bad}`);
  const s = await synthesise(text!, opts.lang ?? 'vi', issued, {
    ...(opts['tts-command'] ? { command: opts['tts-command'] } : {}),
    ...(opts['encode-command'] ? { encode: opts['encode-command'] } : {}),
    ...(opts.voice ? { voice: opts.voice } : {}),
  });
  try {
    writeFileSync(out, s.mp3);
  } catch (err) {
    throw new Failure(`--out ${out}: ${errorMessage(err)}`);
  }
  const rtf = s.durationMs ? (s.synthMs / s.durationMs).toFixed(4) : '?';
  io.err(`spoken: ${s.spoken}`);
  io.out(
    `${out}: sha256 ${s.sha256}, ${s.mp3.length} bytes, ${s.durationMs ?? '?'} ms of speech; synthesis ${Math.round(s.synthMs)} ms (real-time factor ${rtf}), MP3 encoding ${Math.round(s.encodeMs)} ms`,
  );
  return 0;
}
