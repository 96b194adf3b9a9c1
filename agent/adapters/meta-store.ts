// Small settings kept in the database's meta table: the scheduler's checkpoint (up to
// when occurrences were handled), the master volume of the `volume` command and the
// volume profile of the `volume-profile` command (runtime/volume.ts). A value
// the disk refuses (full) is kept in memory and written with the next set that succeeds.
//
// The scheduler moves its checkpoint at every wake (at least every 30 s), but an idle
// box's checkpoint needs no durability: after a power cut, occurrences between a stale
// checkpoint and the cut were either handled (the ledger has them, so they are not
// reported twice) or there were none. Writing it every wake cost the SD card a WAL frame
// and an fsync each time, 2,880 a day, ~24-59 MB/day of block writes on an idle box
// (bench `wear`). So it is kept in memory and written only when the scheduler asks
// (an occurrence was handled, or something plays: closeInterruptedByRestart estimates
// playedMs from it), at least every CHECKPOINT_WRITE_MS, and at a clean stop (flush).
import { getMeta, isDiskError, setMeta, type Db } from './sqlite-db.js';

/** Longest time an idle box's persisted checkpoint lags the one in memory. */
export const CHECKPOINT_WRITE_MS = 3_600_000;
const CHECKPOINT_KEY = 'sched_checked_through';

export class MetaStore {
  private readonly unwritten = new Map<string, string>();
  /** The checkpoint in memory, and what the database has of it. */
  private checked: number | undefined;
  private checkedWritten: number | undefined;

  constructor(private readonly db: Db) {
    const v = this.get(CHECKPOINT_KEY);
    this.checked = this.checkedWritten = v === undefined ? undefined : Number(v);
  }

  /** The scheduler's CheckpointStore (runtime/scheduler.ts), matched by shape: an adapter imports no service. */
  readonly checkpoint: {
    get(): number | undefined;
    set(ms: number, durable?: boolean): void;
    flush(): void;
  } = {
    get: () => this.checked,
    set: (ms: number, durable = false) => {
      this.checked = ms;
      if (durable || this.checkedWritten === undefined || ms - this.checkedWritten >= CHECKPOINT_WRITE_MS)
        this.flushCheckpoint();
    },
    flush: () => this.flushCheckpoint(),
  };

  private flushCheckpoint(): void {
    if (this.checked === undefined || this.checked === this.checkedWritten) return;
    this.checkedWritten = this.checked;
    this.set(CHECKPOINT_KEY, String(this.checked));
  }

  /** The master volume (0-100) a `volume` command set; 100 until one did. */
  volume(): number {
    return Number(this.get('master_volume') ?? 100);
  }

  setVolume(level: number): void {
    this.set('master_volume', String(level));
  }

  /** The volume profile a `volume-profile` command set (JSON), or undefined: the configured one. */
  volumeProfile(): string | undefined {
    const v = this.get('volume_profile');
    return v === undefined || v === '' ? undefined : v;
  }

  /** null: back to the configured profile. */
  setVolumeProfile(json: string | null): void {
    this.set('volume_profile', json ?? '');
  }

  private get(key: string): string | undefined {
    return this.unwritten.get(key) ?? getMeta(this.db, key);
  }

  private set(key: string, value: string): void {
    this.unwritten.set(key, value);
    for (const [k, v] of this.unwritten) {
      try {
        setMeta(this.db, k, v);
        this.unwritten.delete(k);
      } catch (err) {
        if (!isDiskError(err)) throw err;
        return;
      }
    }
  }
}
