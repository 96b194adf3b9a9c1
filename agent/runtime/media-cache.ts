// Keeps on disk, before they play, the media the schedule needs (contract §3, §6, §7).
// Runs the plan of domain/cache-plan.ts: downloads a few at a time, retries each media
// with its own capped backoff, evicts, and reports.
//
// Invariants:
// - pathFor() returns only files verified in this process (hashed at start, or hashed
//   while downloading): the player never gets bytes that do not match their name.
// - `media.cached` is emitted once each time a media becomes ready; `media.failed` at
//   most once per failure streak (a streak ends when the media becomes ready, or when
//   it is no longer needed). Retryable failures are reported only after `reportAfter`
//   attempts in a row, a permanent one or `too-slow` at once (media-retry.ts: the streaks).
// - Downloads cannot starve each other: the slots go to the earliest-needed media that
//   may be tried now, and one needed sooner preempts a running one needed later
//   (domain/cache-plan.ts pickDownloads); the fetcher gives every attempt a deadline.
//   A preempted download keeps its .part, is not a failure, and resumes when a slot frees.
// - The `media` table mirrors the verified files; the files are the truth and the table
//   is rebuilt from them at start (adapters/media-cache-dir.ts: the directory's side).
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { MediaRef } from '../../contract/schedule-doc.js';
import { RetryStreaks } from './media-retry.js';
import type { Ready } from '../adapters/media-cache-dir.js';
import { HEX64, planCache, pickDownloads, type CachePlan, type MediaNeed } from '../domain/cache-plan.js';
import { Waitress, WaitTimeoutError } from '../domain/waitress.js';
import type { CacheFigures, MediaCacheDeps } from './media-cache-ports.js';
export type { CacheFigures, MediaCacheDeps } from './media-cache-ports.js';
import { LoaError, errorCode } from '../errors.js';

/**
 * A play's use mark reaches the database only when the stored one is older than this
 * (relatime, as mounts do for access times): a chime played every few minutes costs the
 * SD card one UPDATE and fsync an hour, not one a play. Eviction reads the exact time in
 * memory; only after a restart is the order of media used within the same hour unknown.
 */
export const USE_MARK_WRITE_MS = 3_600_000;

/** fetchNow() looks at the wall clock at least this often, so a clock set forward past the deadline ends the wait. */
const DEADLINE_CHECK_MS = 30_000;
/** What readyWaits is told when the whole cache was (re)verified. */
const ALL = '*';

export class MediaCache {
  private readonly ready = new Map<string, Ready>();
  private readonly streaks: RetryStreaks;
  private readonly inflight = new Map<string, { abort: AbortController; done: Promise<void> }>();
  /** Verified at start with no row: the process died before recording (and announcing) it. */
  private readonly unannounced = new Set<string>();
  private needs: MediaNeed[] = [];
  /** Until the schedule has said what it needs, leftover .part files are all kept. */
  private needsKnown = false;
  private inForce = new Set<string>();
  private scheduleNeeds: [readonly MediaNeed[], ReadonlySet<string>] = [[], new Set()];
  private readonly adhoc = new Map<string, { media: MediaRef; until: number }>();
  private plan: CachePlan = { fetch: [], deferred: [], evict: [], quotaMet: true, bytesAfter: 0 };
  private quotaWarned = false;
  private running = false;
  /** Bumped by start() and stop(): work begun by an earlier run sees it is stale. */
  private gen = 0;
  private verified = false;
  private starting: Promise<void> | undefined;
  private readonly concurrency: number;
  /** fetchNow() callers, told the hash of each media that becomes ready. */
  private readonly readyWaits: Waitress<string>;

  constructor(private readonly d: MediaCacheDeps) {
    this.concurrency = Math.max(1, d.concurrency ?? 2);
    this.streaks = new RetryStreaks(d.clock, {
      policy: d.retry ?? { minMs: 5_000, maxMs: 600_000 },
      permanentRetryMs: d.permanentRetryMs ?? 6 * 3_600_000,
      reportAfter: d.reportAfter ?? 3,
      random: d.random,
    });
    this.readyWaits = new Waitress(d.clock);
  }

  /** Verifies the cache, then plans and starts downloading. Resolves once verified. */
  start(): Promise<void> {
    if (this.running) return this.starting ?? Promise.resolve();
    this.running = true;
    this.verified = false;
    const gen = ++this.gen;
    this.starting = this.d.files
      .verify(
        this.d,
        () => new Map(this.needs.map((n) => [n.media.sha256, n.media.bytes])),
        this.ready,
        this.unannounced,
        () => gen !== this.gen,
      )
      .then(
        () => {
          if (gen !== this.gen) return;
          this.verified = true;
          this.announceReady(ALL);
          this.replan();
        },
        (err) =>
          this.d.log.error({ code: 'MEDIA_STORE', err }, 'media cache verification failed; nothing will be fetched'),
      );
    return this.starting;
  }

  /** Clears every timer, aborts downloads (their .part stays for resume), and waits for them. */
  async stop(): Promise<void> {
    this.running = false;
    this.gen++;
    this.streaks.clear();
    for (const f of this.inflight.values()) f.abort.abort();
    await Promise.allSettled([this.starting, ...[...this.inflight.values()].map((f) => f.done)]);
    this.starting = undefined;
  }

  /** What the schedule wants now: media in the horizon, and every media of documents in force. */
  setNeeds(needs: readonly MediaNeed[], inForce: ReadonlySet<string>): void {
    this.scheduleNeeds = [needs, inForce];
    this.applyNeeds();
  }

  /**
   * Media of an ad-hoc `play` command: wanted first (needed now) until `untilMs` (the
   * command's expiry), fetched and verified like any other. Resolves with their paths
   * once all are ready, or null if they are not by then.
   */
  async fetchNow(media: readonly MediaRef[], untilMs: number): Promise<string[] | null> {
    for (const m of media) this.adhoc.set(m.sha256, { media: m, until: untilMs });
    this.applyNeeds();
    for (;;) {
      const paths = media.map((m) => this.pathFor(m.sha256));
      if (paths.every((p) => p !== null)) return paths as string[];
      const left = untilMs - this.d.clock.now();
      if (left <= 0) return null;
      const missing = new Set(media.filter((_, i) => paths[i] === null).map((m) => m.sha256));
      const what = `ad-hoc media ${media
        .filter((m) => missing.has(m.sha256))
        .map((m) => m.id)
        .join(', ')} to be verified in the cache`;
      try {
        await this.readyWaits.waitFor(what, (sha) => sha === ALL || missing.has(sha), Math.min(left, DEADLINE_CHECK_MS))
          .promise;
      } catch (err) {
        if (!(err instanceof WaitTimeoutError)) throw err;
        // Look again: the deadline is on the wall clock, the wait on the monotonic one.
      }
    }
  }

  /** Wake the fetchNow() callers waiting for this media (or for any, after a verification). */
  private announceReady(sha256: string): void {
    while (this.readyWaits.resolve(sha256));
  }

  /** The schedule's needs plus unexpired ad-hoc media. */
  private applyNeeds(): void {
    const [schedNeeds, schedInForce] = this.scheduleNeeds;
    const now = this.d.clock.now();
    for (const [sha, a] of this.adhoc) if (a.until < now) this.adhoc.delete(sha);
    // A command's media come first, needed now, even when a schedule also names them
    // (contract v1.2 §2.2): a document in force only protects a medium from eviction, and
    // its need may be held or far ahead (a box booted behind never fetched an emergency's
    // audio that a held item also played).
    const needs: MediaNeed[] = [
      ...[...this.adhoc.values()].map((a) => ({ media: a.media, firstUseAt: now })),
      ...schedNeeds.filter((n) => !this.adhoc.has(n.media.sha256)),
    ];
    const inForce = new Set([...schedInForce, ...this.adhoc.keys()]);
    this.needs = needs;
    this.inForce = inForce;
    this.needsKnown = true;
    this.d.onChange?.();
    const media = new Map(uniqueMedia(this.needs).map((m) => [m.sha256, m]));
    this.streaks.renew(media);
    this.replan();
  }

  /** The `sync` command: forget retry waits and re-plan now. */
  sync(): void {
    this.streaks.retryAllNow();
    this.replan();
  }

  /** A verified file for this hash, or null. */
  pathFor(sha256: string): string | null {
    if (!HEX64.test(sha256) || !this.ready.has(sha256)) return null;
    const path = join(this.d.cacheDir, sha256);
    if (existsSync(path)) return path;
    // Deleted behind our back (a technician, a full-disk cleanup): forget it and fetch again.
    this.d.log.warn({ code: 'MEDIA_STORE', sha256 }, 'cached media vanished from disk');
    this.ready.delete(sha256);
    this.d.store.forget(sha256);
    this.replan();
    return null;
  }

  /** Record a play, for least-recently-used eviction. */
  markUsed(sha256: string): void {
    const r = this.ready.get(sha256);
    if (!r) return;
    r.lastUsedAt = this.d.clock.now();
    if (r.lastUsedAt - r.usedWrittenAt < USE_MARK_WRITE_MS) return;
    r.usedWrittenAt = r.lastUsedAt;
    this.d.store.touch(sha256, r.lastUsedAt);
  }

  /** The heartbeat's `cache` (contract §6): media needed in the horizon. */
  figures(): CacheFigures {
    const f: CacheFigures = { bytes: 0, ready: 0, pending: 0, failed: 0 };
    for (const m of uniqueMedia(this.needs)) {
      const r = this.ready.get(m.sha256);
      if (r) {
        f.ready++;
        f.bytes += r.bytes;
      } else if (this.streaks.get(m.sha256)?.reported) f.failed++;
      else f.pending++;
    }
    return f;
  }

  private replan(): void {
    if (!this.running || !this.verified) return;
    const cached = [...this.ready].map(([sha256, r]) => ({ sha256, ...r }));
    this.plan = planCache({
      needs: this.needs,
      inForce: this.inForce,
      cached,
      quotaBytes: this.d.quotaBytes,
      now: this.d.clock.now(),
    });
    for (const sha of this.plan.evict) void this.evict(sha);
    this.announce();
    this.reportQuota();
    // A download the plan no longer wants stops; its .part stays in case it comes back.
    const wanted = new Set(this.plan.fetch.map((f) => f.media.sha256));
    for (const [sha, f] of this.inflight) if (!wanted.has(sha)) f.abort.abort();
    if (this.needsKnown) {
      const keep = new Set([...this.inForce, ...this.needs.map((n) => n.media.sha256)]);
      void this.d.files.dropStaleParts(this.d.cacheDir, keep, (sha) => this.inflight.has(sha));
    }
    this.pump();
  }

  private pump(): void {
    if (!this.running) return;
    const mono = this.d.clock.monoMs();
    const running = new Set<string>();
    // Not startable now: in a retry wait, or still closing after an abort (its finally() pumps again).
    const waiting = new Set<string>();
    let stopping = 0;
    for (const [sha, f] of this.inflight) {
      if (f.abort.signal.aborted) {
        stopping++;
        waiting.add(sha);
      } else running.add(sha);
    }
    for (const sha of this.streaks.waiting(mono)) waiting.add(sha);
    const fetch = this.plan.fetch.filter((f) => !this.ready.has(f.media.sha256));
    const slots = pickDownloads({ fetch, running, stopping, waiting, concurrency: this.concurrency });
    for (const sha of slots.preempt) {
      const by = slots.start[0] ?? fetch.find((f) => !running.has(f.media.sha256))?.media;
      this.d.log.info({ sha256: sha, for: by?.id }, 'media download preempted by one needed sooner; it resumes later');
      this.inflight.get(sha)?.abort.abort();
    }
    // Preempted downloads free their slots once closed; their finally() pumps again.
    for (const media of slots.start) this.download(media);
  }

  private download(media: MediaRef): void {
    const abort = new AbortController();
    const { cacheDir, fetcher } = this.d;
    const done = fetcher
      .fetch({ url: media.url, sha256: media.sha256, bytes: media.bytes, cacheDir, signal: abort.signal })
      .then(
        (r) => this.onReady(media, r.bytes, r.resumedFrom),
        (err) => this.onFailure(media, err, abort.signal.aborted),
      )
      .catch((err) =>
        this.d.log.error({ code: errorCode(err), err, sha256: media.sha256 }, 'media cache bookkeeping failed'),
      )
      .finally(() => {
        this.inflight.delete(media.sha256);
        this.pump();
      });
    this.inflight.set(media.sha256, { abort, done });
  }

  private onReady(media: MediaRef, bytes: number, resumedFrom: number): void {
    // Recorded even while stopping: the file is in place, and stop() waits for this.
    const now = this.d.clock.now();
    // Same transaction when the sink is the Outbox on this database: row and event together.
    this.d.store.cached(media.sha256, bytes, now, () =>
      this.d.events.emit('media.cached', { mediaId: media.id, sha256: media.sha256, bytes }),
    );
    this.ready.set(media.sha256, { bytes, lastUsedAt: now, usedWrittenAt: now });
    this.unannounced.delete(media.sha256);
    this.announceReady(media.sha256);
    this.streaks.end(media.sha256);
    this.d.log.info({ mediaId: media.id, sha256: media.sha256, bytes, resumedFrom }, 'media cached');
    this.replan();
    this.d.onChange?.();
  }

  private onFailure(media: MediaRef, err: unknown, aborted: boolean): void {
    if (aborted || !this.running) return;
    const { s, reason, delay, report } = this.streaks.failed(media, err, () => this.pump());
    this.d.log.warn(
      {
        code: errorCode(err),
        reason,
        mediaId: media.id,
        sha256: media.sha256,
        attempt: s.failures,
        retryInMs: delay,
        detail: (err as Error).message,
      },
      'media fetch failed',
    );
    if (report) {
      this.d.events.emit('media.failed', { mediaId: media.id, sha256: media.sha256, reason });
      this.d.onChange?.();
    }
  }

  private async evict(sha256: string): Promise<void> {
    // Forget first: from this moment pathFor() no longer hands the file out.
    this.ready.delete(sha256);
    this.d.store.forget(sha256);
    this.d.log.info({ sha256 }, 'media evicted');
    await rm(join(this.d.cacheDir, sha256), { force: true }).catch((err) =>
      this.d.log.warn({ code: 'MEDIA_STORE', err, sha256 }, 'cannot delete evicted media'),
    );
  }

  /** media.cached for files found at start without a row, once a document names them. */
  private announce(): void {
    for (const m of uniqueMedia(this.needs)) {
      if (!this.unannounced.delete(m.sha256)) continue;
      this.d.events.emit('media.cached', { mediaId: m.id, sha256: m.sha256, bytes: m.bytes });
    }
  }

  private reportQuota(): void {
    if (this.plan.quotaMet) {
      this.quotaWarned = false;
      return;
    }
    for (const { media } of this.plan.deferred) {
      const s = this.streaks.of(media);
      if (s.reported) continue;
      s.reported = true;
      this.d.events.emit('media.failed', { mediaId: media.id, sha256: media.sha256, reason: 'cache-full' });
      this.d.onChange?.();
    }
    if (this.quotaWarned) return;
    this.quotaWarned = true;
    const err = new LoaError('CACHE_QUOTA', `the media needed do not fit in ${this.d.quotaBytes} bytes`);
    this.d.log.warn(
      { code: err.code, deferred: this.plan.deferred.map((f) => f.media.id), bytesAfter: this.plan.bytesAfter },
      err.message,
    );
  }
}

function uniqueMedia(needs: readonly MediaNeed[]): MediaRef[] {
  const by = new Map<string, MediaRef>();
  for (const n of needs) if (!by.has(n.media.sha256)) by.set(n.media.sha256, n.media);
  return [...by.values()];
}
