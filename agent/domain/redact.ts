// Credentials out of anything a person or the centre reads: log lines and event texts.
// Pure string functions, applied to whole serialized lines, so a URL nested in an error
// message (`http://user:pw@cdn/x: connect ECONNREFUSED`) is caught as well as a `url` field.
//
// What is a credential here:
// - URL userinfo, `scheme://user:password@host` (and `user@`): replaced by `***@`;
// - a query parameter whose name says secret (token, sig, signature, key, password,
//   secret, credential, auth, X-Amz-Signature...): its value replaced by `***`. A signed
//   CDN link (`?token=…&expires=…`) lets anyone who reads the log fetch the media.
// The host, path and other parameters stay: they are what a technician needs to debug.
import type { EventSink } from '../../contract/events.js';

export const REDACTED = '***';

// Greedy up to the last '@' of the authority: a raw '@' inside a password still ends
// up on the left of the one the URL parser takes as the separator.
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#"'<>\\]*@/gi;
const SECRET_PARAM =
  /([?&;](?:[\w.-]*?)(?:token|sig|signature|key|pass|passwd|password|secret|credential|auth)(?:[\w.-]*?)=)[^&#\s"'<>\\]*/gi;

/** `text` with URL credentials and secret query values replaced by `***`. */
export function redact(text: string): string {
  if (!text.includes('://') && !text.includes('=')) return text;
  return text.replace(USERINFO, `$1${REDACTED}@`).replace(SECRET_PARAM, `$1${REDACTED}`);
}

/** A copy of `value` with every string in it redacted (for event fields). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v);
    return out as T;
  }
  return value;
}

/**
 * An EventSink that redacts every string field before the event is stored: a stream URL
 * in `play.failover`, mpg123's stderr in `play.failed` may hold a signed link's token.
 */
export function redactingSink(sink: EventSink): EventSink {
  return { emit: (type, fields) => sink.emit(type, redactDeep(fields)) };
}
