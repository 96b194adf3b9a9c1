// Opus, for live sessions (contract v1.2 §8): the box decodes, `noc live` and the studio
// encode. One codec for both: opusscript 0.1.1, libopus compiled to WebAssembly, so the
// same package runs on amd64, arm64 and armhf with nothing to compile on the box.
//
// Chosen by measurement (issue [5/8] note; 60 s of speech at 24 kbit/s, 20 ms packets,
// the 2-core x86 machine): opusdec (Debian opus-tools, a child process reading Ogg)
// 0.16 CPU-s, opusscript 0.23–0.31 CPU-s, opus-decoder 0.7.12 (wasm) 0.34–0.36 CPU-s
// and +27 MB, ogg-opus-decoder 0.48 CPU-s. Under 0.6 % of a core for all of them; only
// opusscript exposes libopus's packet-loss concealment (a zero-length packet), which a
// live box needs for every chunk lost on a 4G link, and it encodes too.
//
// Loaded with require() on first use: the agent pays for the codec (~1 MB of wasm) only
// when a live session opens, not at every start.
import { createRequire } from 'node:module';
import type OpusScriptT from 'opusscript';

type OpusScriptCtor = typeof OpusScriptT;
let lib: OpusScriptCtor | undefined;
function opusscript(): OpusScriptCtor {
  lib ??= createRequire(import.meta.url)('opusscript') as OpusScriptCtor;
  return lib;
}

export const OPUS_RATE = 48_000;
/** 20 ms at 48 kHz. */
export const OPUS_FRAME = 960;

/** Decodes 20 ms packets of a mono session at 48 kHz (whatever rate the source encoded at: Opus decodes to any). */
export class OpusDecoder {
  private readonly d: OpusScriptT;
  constructor() {
    const O = opusscript();
    this.d = new O(OPUS_RATE, 1, O.Application.VOIP);
  }

  decode(packet: Buffer): Int16Array {
    if (packet.length === 0) throw new Error('empty Opus packet');
    return this.copy(this.d.decode(packet), OPUS_FRAME);
  }

  /**
   * 20 ms of packet-loss concealment. libopus conceals as many samples as it is asked
   * for, and opusscript asks for 60 ms; the first 20 are used and the decoder's state has
   * moved 40 ms further than played, a discontinuity inside audio that is already a guess.
   */
  conceal(): Int16Array {
    return this.copy(this.d.decode(Buffer.alloc(0)), OPUS_FRAME);
  }

  close(): void {
    this.d.delete();
  }

  private copy(b: Buffer, frames: number): Int16Array {
    const out = new Int16Array(frames);
    const n = Math.min(frames, b.length >> 1);
    for (let i = 0; i < n; i++) out[i] = b.readInt16LE(i * 2);
    return out;
  }
}

/** Encodes mono speech in 20 ms packets. */
export class OpusEncoder {
  private readonly e: OpusScriptT;
  readonly frame: number;
  constructor(
    readonly rate: 48_000 | 16_000,
    bitrate: number,
  ) {
    const O = opusscript();
    this.e = new O(rate, 1, O.Application.VOIP);
    this.e.setBitrate(bitrate);
    this.frame = rate / 50;
  }

  /** One 20 ms frame of s16 mono (`frame` samples) → one packet. */
  encode(pcm: Int16Array): Buffer {
    if (pcm.length !== this.frame) throw new Error(`an Opus frame is ${this.frame} samples, not ${pcm.length}`);
    return this.e.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), this.frame);
  }

  close(): void {
    this.e.delete();
  }
}
