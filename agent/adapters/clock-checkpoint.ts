// The clock's persisted lower bound (domain/clock-trust.ts): a file of under 200 bytes in
// the state directory, written atomically (adapters/atomic-file.ts) and rarely: when a
// signed document raises the bound, every 30 minutes while a time service says the clock
// is synchronised, and at a clean stop. A checksum guards it: a rotten bound far in the
// future would hold every schedule until real time caught up, so a file that fails its
// check is ignored (and reported), never trusted. A write the disk refuses (full,
// read-only) is reported once and retried at the next occasion; memory keeps the bound.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import { writeFileAtomic } from './atomic-file.js';

export class ClockCheckpoint {
  private failing = false;
  private written: number | null = null;

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {}

  /** The bound last written, or null (none yet, or unreadable: reported). */
  load(): number | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error({ code: 'CLOCK_STATE', err: (err as Error).message, path: this.path }, 'clock checkpoint unreadable; ignored');
      return null;
    }
    try {
      const f = JSON.parse(text) as { v?: unknown; lowerBound?: unknown; sum?: unknown };
      const ms = typeof f.lowerBound === 'string' ? Date.parse(f.lowerBound) : NaN;
      if (f.v !== 1 || f.sum !== checksum(String(f.lowerBound)) || !Number.isFinite(ms)) throw new Error('not a checkpoint, or its checksum does not match');
      this.written = ms;
      return ms;
    } catch (err) {
      this.log.error({ code: 'CLOCK_STATE', err: (err as Error).message, path: this.path }, 'clock checkpoint corrupt; ignored');
      return null;
    }
  }

  /** Persist `ms` unless it is already on disk. False when the disk refused it. */
  save(ms: number): boolean {
    if (this.written === ms) return true;
    const lowerBound = new Date(ms).toISOString();
    try {
      writeFileAtomic(this.path, `${JSON.stringify({ v: 1, lowerBound, sum: checksum(lowerBound) })}\n`);
      this.written = ms;
      if (this.failing) this.log.info({ path: this.path }, 'clock checkpoint written again');
      this.failing = false;
      return true;
    } catch (err) {
      if (!this.failing) this.log.error({ code: 'CLOCK_STATE', err: (err as Error).message, path: this.path }, 'clock checkpoint not written; kept in memory, will retry');
      this.failing = true;
      return false;
    }
  }
}

function checksum(s: string): string {
  return createHash('sha256').update(`loa-clock:${s}`).digest('hex').slice(0, 16);
}
