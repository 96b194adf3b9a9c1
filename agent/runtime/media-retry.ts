// The retry state of the media the cache (media-cache.ts) does not hold yet: one streak
// per media, each with its own capped backoff, dropped when the media becomes ready or is
// no longer needed. A failed attempt is counted here, its retry armed on the injected
// clock, and judged: retryable failures are news only after `reportAfter` in a row (on 4G
// a cut followed by a resume is ordinary and each event costs bytes); a permanent one
// (404, bad hash) and `too-slow` are news at once. Bytes that arrived reset the backoff.
import type { Clock, TimerHandle } from '../adapters/clock.js';
import type { MediaFetchError } from '../adapters/media-fetch.js';
import type { MediaRef } from '../../contract/schedule-doc.js';
import { Backoff, type BackoffPolicy } from '../domain/backoff.js';
import { LoaError } from '../errors.js';

/** The retry state of one media that is not ready; dropped when it becomes ready or unneeded. */
export interface Streak {
  backoff: Backoff;
  failures: number;
  reported: boolean;
  retryAtMono: number;
  timer: TimerHandle | undefined;
  /** The URL that failed: a document that names another one deserves a try at once. */
  url: string;
}

export interface RetryOptions {
  policy: BackoffPolicy;
  /** Wait after a permanent failure (404, bad hash) before trying again. */
  permanentRetryMs: number;
  /** Retryable failures in a row before the failure is reported. */
  reportAfter: number;
  random?: () => number;
}

export class RetryStreaks {
  private readonly streaks = new Map<string, Streak>();

  constructor(
    private readonly clock: Clock,
    private readonly o: RetryOptions,
  ) {}

  get(sha256: string): Streak | undefined {
    return this.streaks.get(sha256);
  }

  /** The streak of `media`, begun if it has none. */
  of(media: MediaRef): Streak {
    let s = this.streaks.get(media.sha256);
    if (!s) {
      s = {
        backoff: new Backoff(this.o.policy, this.o.random),
        failures: 0,
        reported: false,
        retryAtMono: 0,
        timer: undefined,
        url: media.url,
      };
      this.streaks.set(media.sha256, s);
    }
    return s;
  }

  /** The media became ready: its streak ends. */
  end(sha256: string): void {
    this.clock.clearTimeout(this.streaks.get(sha256)?.timer);
    this.streaks.delete(sha256);
  }

  clear(): void {
    for (const s of this.streaks.values()) this.clock.clearTimeout(s.timer);
    this.streaks.clear();
  }

  /** The needs changed: streaks of media no longer needed end; one whose URL changed is tried at once. */
  renew(needed: ReadonlyMap<string, MediaRef>): void {
    for (const [sha, s] of this.streaks) {
      const m = needed.get(sha);
      if (!m) {
        this.clock.clearTimeout(s.timer);
        this.streaks.delete(sha);
      } else if (m.url !== s.url) {
        this.clock.clearTimeout(s.timer);
        s.retryAtMono = 0;
      }
    }
  }

  /** The `sync` command: every retry wait ends now. */
  retryAllNow(): void {
    for (const s of this.streaks.values()) {
      this.clock.clearTimeout(s.timer);
      s.retryAtMono = 0;
    }
  }

  /** Media still waiting out their backoff at monotonic time `mono`. */
  waiting(mono: number): string[] {
    const out: string[] = [];
    for (const [sha, s] of this.streaks) if (s.retryAtMono > mono) out.push(sha);
    return out;
  }

  /**
   * One failed attempt of `media`: counted, its retry armed (`retry` runs when the wait is
   * over). `report`: the failure is news now (at most once per streak).
   */
  failed(
    media: MediaRef,
    err: unknown,
    retry: () => void,
  ): { s: Streak; reason: string; delay: number; report: boolean } {
    // The fetcher's error by its name (a service imports no adapter's value).
    const e = err instanceof LoaError && err.name === 'MediaFetchError' ? (err as MediaFetchError) : undefined;
    const reason = e?.reason ?? 'internal';
    const retryable = err instanceof LoaError ? err.retryable : false;
    const s = this.of(media);
    s.url = media.url;
    s.failures++;
    // Bytes arrived: the link works but drops. Resume soon rather than waiting longer each
    // time; but not after too-slow, where bytes arriving is the problem, not the cure.
    const slow = reason === 'too-slow';
    if ((e?.received ?? 0) > 0 && !slow) s.backoff.reset();
    const delay = retryable ? s.backoff.next() : this.o.permanentRetryMs;
    s.retryAtMono = this.clock.monoMs() + delay;
    this.clock.clearTimeout(s.timer);
    s.timer = this.clock.setTimeout(() => {
      s.retryAtMono = 0; // timers may fire a hair before the monotonic clock says so
      retry();
    }, delay);
    const report = !s.reported && (!retryable || slow || s.failures >= this.o.reportAfter);
    if (report) s.reported = true;
    return { s, reason, delay, report };
  }
}
