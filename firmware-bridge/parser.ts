// Bytes in, frames out (PROTOCOL.md §3). A Transform whose writable side takes byte
// chunks cut anywhere and whose readable side emits `Frame` objects.
//
// Invariants:
// - after every write the buffer holds either nothing or one incomplete candidate that
//   starts with SOF and is shorter than MAX_FRAME, so memory is bounded and the parser
//   never waits for bytes an oversize LEN announces;
// - on a bad CRC or an oversize LEN only the SOF byte is dropped, so a real frame that
//   starts inside a false candidate is still found;
// - every dropped byte is accounted for in `stats` (counters for telemetry, no logging).
//
// The parser has no clock: the owner calls `idle()` when no byte has come for the idle
// time of §3 (50 ms), and `end()` does the same, so a false candidate cannot hold the
// frames behind it forever.

import { Transform, type TransformCallback } from 'node:stream';
import { SOF, frameAt, inspectFrame, type Frame } from './frame.js';

export interface ParserStats {
  /** Valid frames delivered. */
  frames: number;
  /** Candidates whose CRC did not match. */
  badCrc: number;
  /** Bytes skipped while hunting for SOF (includes the rest of a rejected candidate). */
  garbageBytes: number;
  /** Candidates with LEN > MAX_PAYLOAD, rejected from their first two bytes. */
  oversize: number;
  /** Partial candidates dropped by `idle()` or at end of stream. */
  truncated: number;
}

const EMPTY = Buffer.alloc(0);

export class FrameParser extends Transform {
  readonly stats: ParserStats = { frames: 0, badCrc: 0, garbageBytes: 0, oversize: 0, truncated: 0 };
  private buf: Buffer = EMPTY;

  constructor() {
    super({ readableObjectMode: true, writableObjectMode: false });
  }

  /** Bytes held while waiting for the rest of a frame; always < MAX_FRAME. */
  get pending(): number {
    return this.buf.length;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.scan();
    done();
  }

  override _flush(done: TransformCallback): void {
    this.idle();
    done();
  }

  /**
   * The line went quiet: drop the partial candidate (counted as truncated), rescan the
   * bytes behind its SOF and deliver any whole frames among them. Leaves the buffer empty.
   */
  idle(): void {
    while (this.buf.length > 0) {
      this.stats.truncated++;
      this.buf = this.buf.subarray(1);
      this.scan();
    }
  }

  private scan(): void {
    const buf = this.buf;
    let at = 0;
    for (;;) {
      const sof = buf.indexOf(SOF, at);
      if (sof < 0) {
        this.stats.garbageBytes += buf.length - at;
        at = buf.length;
        break;
      }
      this.stats.garbageBytes += sof - at;
      at = sof;
      const r = inspectFrame(buf, at);
      if (r.kind === 'incomplete') break;
      if (r.kind === 'oversize') {
        this.stats.oversize++;
        at += 1;
      } else if (r.kind === 'bad-crc') {
        this.stats.badCrc++;
        at += 1;
      } else if (r.kind === 'ok') {
        this.stats.frames++;
        const frame: Frame = frameAt(buf, at, r.length);
        at += r.length;
        this.push(frame);
      } else {
        at += 1; // not-sof cannot happen after indexOf; keep the loop total anyway
      }
    }
    // Copy the tail so a small pending candidate does not pin a large chunk in memory.
    this.buf = at >= buf.length ? EMPTY : Buffer.from(buf.subarray(at));
  }
}
