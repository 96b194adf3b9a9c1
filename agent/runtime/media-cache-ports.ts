// What the media cache (media-cache.ts) is built from and what it reports: its deps, the
// ports compose/ hands it, and its figures for the heartbeat.
import type { MediaStore } from '../adapters/media-store.js';
import type { MediaCacheDir } from '../adapters/media-cache-dir.js';
import type { Clock } from '../adapters/clock.js';
import type { MediaFetcher } from '../adapters/media-fetch.js';
import type { EventSink } from '../../contract/events.js';
import type { BackoffPolicy } from '../domain/backoff.js';
import type { Logger } from '../log.js';

export interface MediaCacheDeps {
  /** What the cache holds (lengths, last use): adapters/media-store.ts; its files: `files`. */
  store: MediaStore;
  files: MediaCacheDir;
  cacheDir: string;
  quotaBytes: number;
  /** Downloads at once (default 2): more only splits a thin 4G link further. */
  concurrency?: number;
  events: EventSink;
  clock: Clock;
  log: Logger;
  fetcher: MediaFetcher;
  /** Backoff between attempts after a retryable failure (default 5 s .. 10 min). */
  retry?: BackoffPolicy;
  /** Wait after a permanent failure (404, bad hash) before trying again (default 6 h). */
  permanentRetryMs?: number;
  /** Retryable failures in a row before `media.failed` is emitted (default 3). */
  reportAfter?: number;
  random?: () => number;
  /** Called when figures() may have changed (wire to the heartbeat's kick()). */
  onChange?: () => void;
}

export interface CacheFigures {
  /** Bytes of the ready media among those needed in the horizon. */
  bytes: number;
  ready: number;
  pending: number;
  failed: number;
}
