// The clock's persisted evidence (domain/clock-trust.ts): the lower bound, the time a
// source last vouched for, and the two highest document claims (v2; a v1 file held the
// bound alone and is read as one document's claim, so a poisoned v1 bound is capped like
// any other uncorroborated one). A file of under 400 bytes in
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
import { noteClaim, NO_EVIDENCE, type Evidence } from '../domain/clock-trust.js';

interface FileV2 {
  v: 2;
  lowerBound: string | null;
  checkpoint: string | null;
  claims: { id: string; at: string }[];
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const ms = (s: unknown): number | null => {
  if (s === null) return null;
  const t = typeof s === 'string' ? Date.parse(s) : NaN;
  if (!Number.isFinite(t)) throw new Error(`not a time: ${JSON.stringify(s)}`);
  return t;
};

export class ClockCheckpoint {
  private failing = false;
  private written = '';

  constructor(
    readonly path: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The evidence last written, or null (none yet, or unreadable: reported). */
  load(): Evidence | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.error(
          { code: 'CLOCK_STATE', err: (err as Error).message, path: this.path },
          'clock checkpoint unreadable; ignored',
        );
      return null;
    }
    try {
      const f = JSON.parse(text) as { v?: unknown; sum?: unknown; lowerBound?: unknown; data?: unknown };
      if (f.v === 1) {
        // v1: the bound alone, of unknown origin: one document's word, capped as such.
        if (f.sum !== checksum(String(f.lowerBound))) throw new Error('its checksum does not match');
        return noteClaim(NO_EVIDENCE, { id: 'clock.json v1', at: ms(f.lowerBound)! }, this.now());
      }
      if (f.v !== 2 || typeof f.data !== 'string' || f.sum !== checksum(f.data))
        throw new Error('not a checkpoint, or its checksum does not match');
      const d = JSON.parse(f.data) as FileV2;
      const e: Evidence = {
        bound: ms(d.lowerBound),
        checkpoint: ms(d.checkpoint),
        claims: (d.claims ?? []).slice(0, 2).map((c) => ({ id: String(c.id), at: ms(c.at)! })),
      };
      this.written = f.data;
      return e;
    } catch (err) {
      this.log.error(
        { code: 'CLOCK_STATE', err: (err as Error).message, path: this.path },
        'clock checkpoint corrupt; ignored',
      );
      return null;
    }
  }

  /** Persist `e` unless it is already on disk. False when the disk refused it. */
  save(e: Evidence): boolean {
    const d: FileV2 = {
      v: 2,
      lowerBound: iso(e.bound),
      checkpoint: iso(e.checkpoint),
      claims: e.claims.map((c) => ({ id: c.id, at: iso(c.at)! })),
    };
    const data = JSON.stringify(d);
    if (this.written === data) return true;
    try {
      writeFileAtomic(this.path, `${JSON.stringify({ v: 2, data, sum: checksum(data) })}\n`);
      this.written = data;
      if (this.failing) this.log.info({ path: this.path }, 'clock checkpoint written again');
      this.failing = false;
      return true;
    } catch (err) {
      if (!this.failing)
        this.log.error(
          { code: 'CLOCK_STATE', err: (err as Error).message, path: this.path },
          'clock checkpoint not written; kept in memory, will retry',
        );
      this.failing = true;
      return false;
    }
  }
}

function checksum(s: string): string {
  return createHash('sha256').update(`loa-clock:${s}`).digest('hex').slice(0, 16);
}
