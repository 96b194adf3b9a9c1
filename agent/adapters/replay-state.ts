// The replay state of contract v1.1 §2.1, kept OUTSIDE the main database: per schedule
// topic the document in force (its mark, and its JWS so it can be restored), the highest
// version accepted per document id, and the ids of executed commands until they expire.
// The database keeps the same facts; at start the two are merged (the newest mark wins),
// so losing either one, to corruption, deletion or a full disk, re-opens no replay.
//
// The file is small and written atomically: a temporary file, fsync, rename, fsync of the
// directory. A checksum over the content catches a torn or rotten file, which is then
// ignored (and reported) rather than trusted.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { writeFileAtomic } from './atomic-file.js';
import type { TopicMark } from '../../contract/verify.js';
import { seriesEnd, type CancelRecord, type CommandSeries } from '../domain/repeat.js';
import type { Logger } from '../log.js';

export interface TopicEntry extends TopicMark {
  /** The document as received (compact JWS), re-verified before it is restored. */
  jws: string;
}

interface Content {
  topics: Record<string, TopicEntry>;
  versions: Record<string, number>;
  /** Command id -> expiry (epoch ms). */
  commands: Record<string, number>;
  /** Issue 16: `play` commands with `repeat`, by command id, until their series ends. */
  series?: Record<string, CommandSeries>;
  /** Issue 16: executed `cancel` commands, by their id, until `keepUntil`. */
  cancels?: Record<string, CancelRecord>;
}

export type LoadResult = 'loaded' | 'missing' | 'corrupt';

/** Ids are kept this long past their expiry, as the command store does (a clock behind). */
const KEEP_AFTER_EXPIRY_MS = 24 * 3_600_000;

export class ReplayState {
  private c: Content = { topics: {}, versions: {}, commands: {} };
  private dirty = false;

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {}

  load(): LoadResult {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      this.log.error(
        { code: 'STORE_REPLAY', err, path: this.path },
        'replay state unreadable; starting from the database alone',
      );
      return 'corrupt';
    }
    try {
      const f = JSON.parse(text) as { v: number; sum: string; content: Content };
      if (f.v !== 1 || checksum(JSON.stringify(f.content)) !== f.sum) throw new Error('checksum mismatch');
      this.c = {
        topics: f.content.topics ?? {},
        versions: f.content.versions ?? {},
        commands: f.content.commands ?? {},
        series: f.content.series ?? {},
        cancels: f.content.cancels ?? {},
      };
      return 'loaded';
    } catch (err) {
      this.log.error(
        { code: 'STORE_REPLAY', err: (err as Error).message, path: this.path },
        'replay state corrupt; ignored, starting from the database alone',
      );
      return 'corrupt';
    }
  }

  topicMark(topic: string): TopicEntry | undefined {
    return this.c.topics[topic];
  }

  topics(): [string, TopicEntry][] {
    return Object.entries(this.c.topics);
  }

  acceptedVersion(docId: string): number | undefined {
    return this.c.versions[docId];
  }

  commandSeen(id: string): boolean {
    return this.c.commands[id] !== undefined;
  }

  /** Merge a fact (from the database at start, or a new acceptance); true if it changed anything. */
  absorbVersion(docId: string, version: number): boolean {
    const v = this.c.versions[docId];
    if (v !== undefined && v >= version) return false;
    this.c.versions[docId] = version;
    this.dirty = true;
    return true;
  }

  absorbTopic(topic: string, e: TopicEntry): boolean {
    const cur = this.c.topics[topic];
    if (cur && !newer(e, cur)) return false;
    this.c.topics[topic] = e;
    this.absorbVersion(e.id, e.version);
    this.dirty = true;
    return true;
  }

  absorbCommand(id: string, expiresAtMs: number): boolean {
    if (this.c.commands[id] !== undefined) return false;
    this.c.commands[id] = expiresAtMs;
    this.dirty = true;
    return true;
  }

  /** Repeat series of `play` commands (runtime/repeats.ts). */
  allSeries(): CommandSeries[] {
    return Object.values(this.c.series ?? {});
  }

  putSeries(s: CommandSeries): void {
    (this.c.series ??= {})[s.cmdId] = s;
    this.dirty = true;
  }

  dropSeries(cmdId: string): void {
    if (!this.c.series?.[cmdId]) return;
    delete this.c.series[cmdId];
    this.dirty = true;
  }

  allCancels(): CancelRecord[] {
    return Object.values(this.c.cancels ?? {});
  }

  putCancel(c: CancelRecord): void {
    (this.c.cancels ??= {})[c.id] = c;
    this.dirty = true;
  }

  prune(now: number): void {
    for (const s of this.allSeries())
      if (seriesEnd(s.first, s.repeat, Date.parse(s.expiresAt)) + KEEP_AFTER_EXPIRY_MS < now) this.dropSeries(s.cmdId);
    for (const c of this.allCancels()) {
      if (c.keepUntil < now) {
        delete this.c.cancels![c.id];
        this.dirty = true;
      }
    }
    for (const [id, exp] of Object.entries(this.c.commands)) {
      if (exp + KEEP_AFTER_EXPIRY_MS < now) {
        delete this.c.commands[id];
        this.dirty = true;
      }
    }
  }

  /**
   * Write the file if anything changed. A failure (a full or read-only disk) is logged and
   * leaves the state dirty, so the next save() tries again; memory stays authoritative.
   */
  save(): boolean {
    if (!this.dirty) return true;
    const body = JSON.stringify(this.c);
    const text = JSON.stringify({ v: 1, sum: checksum(body), content: this.c });
    try {
      writeFileAtomic(this.path, text);
      this.dirty = false;
      return true;
    } catch (err) {
      this.log.error(
        { code: 'STORE_REPLAY', err: (err as Error).message, path: this.path },
        'replay state not written; kept in memory, will retry',
      );
      return false;
    }
  }

  get unsaved(): boolean {
    return this.dirty;
  }
}

/** Is mark `a` newer than `b` on the same topic (contract v1.1 §2.1)? */
export function newer(a: TopicMark, b: TopicMark): boolean {
  if (a.id === b.id) return a.version > b.version;
  return Date.parse(a.issuedAt) > Date.parse(b.issuedAt);
}

function checksum(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
