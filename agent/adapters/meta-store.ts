// Small settings kept in the database's meta table: the scheduler's checkpoint (up to
// when occurrences were handled) and the master volume of the `volume` command. A value
// the disk refuses (full) is kept in memory and written with the next set that succeeds;
// the scheduler's checkpoint is written on every wake, so losing a write costs nothing.
import { getMeta, isDiskError, setMeta, type Db } from './sqlite-db.js';
import type { CheckpointStore } from '../runtime/scheduler.js';

export class MetaStore {
  private readonly unwritten = new Map<string, string>();

  constructor(private readonly db: Db) {}

  readonly checkpoint: CheckpointStore = {
    get: () => {
      const v = this.get('sched_checked_through');
      return v === undefined ? undefined : Number(v);
    },
    set: (ms: number) => this.set('sched_checked_through', String(ms)),
  };

  /** The master volume (0-100) a `volume` command set; 100 until one did. */
  volume(): number {
    return Number(this.get('master_volume') ?? 100);
  }

  setVolume(level: number): void {
    this.set('master_volume', String(level));
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
