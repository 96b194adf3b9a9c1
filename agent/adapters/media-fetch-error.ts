// The media fetcher's error (adapters/media-fetch.ts and media-http.ts): a failure says
// whether retrying can help (STYLE habit 7) and carries the short `reason` that goes into
// the `media.failed` event; classify() names what the network stack threw.
import { LoaError, type ErrorCode } from '../errors.js';

/** A fetch failure; `reason` goes into `media.failed` (http-404, timeout, hash-mismatch, ...). */
export class MediaFetchError extends LoaError {
  readonly reason: string;
  /** Bytes received in this attempt before it failed (progress resets the backoff). */
  received = 0;
  constructor(code: ErrorCode, reason: string, message: string, opts: { retryable: boolean; cause?: unknown }) {
    super(code, message, opts);
    this.name = 'MediaFetchError';
    this.reason = reason;
  }
}

export const fail = (reason: string, message: string, retryable: boolean, cause?: unknown) =>
  new MediaFetchError(reason === 'hash-mismatch' ? 'MEDIA_HASH' : 'MEDIA_FETCH', reason, message, { retryable, cause });

/** What the network stack threw, as a MediaFetchError (dns or network, both retried). */
export function classify(err: unknown, url: string): MediaFetchError {
  if (err instanceof MediaFetchError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  const reason = code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'dns' : 'network';
  return fail(reason, `${url}: ${(err as Error).message}`, true, err);
}
