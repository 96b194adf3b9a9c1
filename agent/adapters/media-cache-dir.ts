// The media cache's directory (runtime/media-cache.ts reaches it through the MediaCacheDir
// port, built in compose/): at start every file is checked against its
// name (length first, then SHA-256) and the `media` table is rebuilt from the files (rows
// without a file go, files without a row get one: the files are the truth); .part files
// of media no document in force names any more are dropped.
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from './clock.js';
import { hashFile, partPath } from './media-fetch.js';
import type { MediaStore } from './media-store.js';
import type { Logger } from '../log.js';
import { HEX64 } from '../domain/cache-plan.js';

export interface CacheDir {
  cacheDir: string;
  store: MediaStore;
  log: Logger;
  clock: Clock;
}

export interface Ready {
  bytes: number;
  lastUsedAt: number;
  /** What the database has of lastUsedAt (see markUsed). */
  usedWrittenAt: number;
}

/**
 * Fill `ready` with the verified files (`needsBytes`: the lengths the schedule expects); a file found with no row is recorded and added to
 * `unannounced` (the process died before announcing it). Stops early once `stale()`.
 */
export async function verifyCacheDir(
  d: CacheDir,
  needsBytes: () => ReadonlyMap<string, number>,
  ready: Map<string, Ready>,
  unannounced: Set<string>,
  stale: () => boolean,
): Promise<void> {
  const { cacheDir, store, log } = d;
  await mkdir(join(cacheDir, 'tmp'), { recursive: true });
  const rows = store.all();
  const expectBytes = needsBytes();
  ready.clear();
  for (const ent of await readdir(cacheDir, { withFileTypes: true })) {
    if (stale()) return;
    if (!ent.isFile()) continue;
    const name = ent.name;
    const path = join(cacheDir, name);
    const row = rows.get(name);
    let size: number;
    let bad: string | undefined;
    try {
      size = (await stat(path)).size;
      const want = row?.bytes ?? expectBytes.get(name);
      // Length first: it costs nothing and catches a truncated file without reading it.
      bad = !HEX64.test(name)
        ? 'name'
        : want !== undefined && want !== size
          ? 'length'
          : (await hashFile(path)).sha256 !== name
            ? 'hash-mismatch'
            : undefined;
      if (bad) {
        log.warn({ code: 'MEDIA_HASH', file: name, reason: bad }, 'cache file does not match its name; deleted');
        await rm(path, { force: true });
      }
    } catch (err) {
      log.warn({ code: 'MEDIA_STORE', file: name, err }, 'cannot verify cache file; not used');
      continue;
    }
    if (bad) continue;
    const now = d.clock.now();
    const used = row ? row.lastUsedAt : now;
    ready.set(name, { bytes: size, lastUsedAt: used, usedWrittenAt: used });
    if (!row) {
      store.add(name, size, now);
      unannounced.add(name);
    }
  }
  for (const sha of rows.keys()) if (!ready.has(sha)) store.forget(sha);
  log.info({ files: ready.size }, 'media cache verified');
}

/** .part files of media no document in force names any more would only fill the disk. */
export async function dropStaleParts(
  cacheDir: string,
  keep: ReadonlySet<string>,
  busy: (sha: string) => boolean,
): Promise<void> {
  const names = await readdir(join(cacheDir, 'tmp')).catch(() => [] as string[]);
  for (const n of names) {
    const sha = n.endsWith('.part') ? n.slice(0, -5) : undefined;
    if (!sha || keep.has(sha) || busy(sha)) continue;
    await rm(partPath(cacheDir, sha), { force: true });
  }
}

/** The port the media cache holds (its deps' `files`). */
export interface MediaCacheDir {
  verify: typeof verifyCacheDir;
  dropStaleParts: typeof dropStaleParts;
}

export const mediaCacheDir: MediaCacheDir = { verify: verifyCacheDir, dropStaleParts };
