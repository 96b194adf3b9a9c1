// Audio for an alert: the CAP resource fetched (or its embedded derefUri decoded), its
// size and SHA-1 digest checked as CAP 1.2 gives them, then named by sha256 as boxes
// verify media; or text synthesised (tts.ts). With --media-dir the bytes are stored as
// <sha256>.<ext> there and boxes fetch them from --media-base-url; without it a fetched
// resource keeps its own URL (it must be http or https, the only schemes boxes fetch).
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, Failure } from '../../cli-kit/index.js';
import type { MediaEntry } from './documents.js';
import type { CapResource } from './alert.js';
import { DEFAULT_FETCH, fetchBounded, type FetchPolicy } from './fetch.js';

/** Boxes cache media; an alert's audio over this is refused here (default 50 MB). */
export const MAX_AUDIO_BYTES = 50 * 1024 * 1024;

export interface MediaStore {
  dir?: string;
  baseUrl?: string;
}

const EXT: Record<string, string> = {
  'audio/mpeg': 'mp3',
  'audio/mp3': 'mp3',
  'audio/x-wav': 'wav',
  'audio/wav': 'wav',
  'audio/ogg': 'ogg',
  'audio/aac': 'aac',
  'audio/mp4': 'm4a',
};

export function storeMedia(bytes: Buffer, sha256: string, mimeType: string, store: MediaStore, what: string): string {
  if (!store.dir || !store.baseUrl)
    throw new Failure(`${what}: needs --media-dir and --media-base-url (where boxes fetch the audio from)`);
  const name = `${sha256}.${EXT[mimeType.toLowerCase().split(';')[0]!.trim()] ?? 'bin'}`;
  try {
    mkdirSync(store.dir, { recursive: true });
    const tmp = join(store.dir, `.${name}.tmp`);
    writeFileSync(tmp, bytes);
    renameSync(tmp, join(store.dir, name)); // a box never fetches half a file
  } catch (err) {
    throw new Failure(`${what}: cannot write to --media-dir ${store.dir}: ${errorMessage(err)}`);
  }
  return new URL(name, store.baseUrl.endsWith('/') ? store.baseUrl : store.baseUrl + '/').toString();
}

export function mediaId(sha256: string): string {
  return `cap-${sha256.slice(0, 24)}`;
}

/**
 * A CAP audio resource → the media entry of a play command. Refused (Failure) when the
 * bytes do not match the resource's size or SHA-1 digest: a tampered or truncated
 * recording is never sent to the fleet.
 */
export async function resourceMedia(
  r: CapResource,
  store: MediaStore,
  say: (l: string) => void,
  policy: FetchPolicy = DEFAULT_FETCH,
): Promise<MediaEntry> {
  const what = `resource "${r.resourceDesc}"`;
  let bytes: Buffer;
  let url: string | undefined;
  if (r.derefUri !== undefined) bytes = Buffer.from(r.derefUri.replace(/\s+/g, ''), 'base64');
  else {
    url = r.uri!;
    if (!/^https?:\/\//i.test(url))
      throw new Failure(`${what}: uri ${url} is not http or https; boxes fetch only those`);
    // Audio may be large: a longer deadline, the same minimum rate.
    bytes = await fetchBounded(url, what, MAX_AUDIO_BYTES, {
      ...policy,
      deadlineMs: Math.max(policy.deadlineMs, 120_000),
    });
  }
  if (r.size !== undefined && r.size !== bytes.length)
    throw new Failure(`${what}: CAP size says ${r.size} bytes, got ${bytes.length}; not sent`);
  const sha1 = createHash('sha1').update(bytes).digest('hex');
  if (r.digest !== undefined) {
    if (r.digest !== sha1)
      throw new Failure(
        `${what}: digest mismatch: CAP says SHA-1 ${r.digest}, the ${bytes.length} bytes have ${sha1}; not sent`,
      );
    say(`${what}: ${bytes.length} bytes, SHA-1 ${sha1} matches the CAP digest`);
  } else say(`${what}: ${bytes.length} bytes, no CAP digest to check (SHA-1 ${sha1})`);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (store.dir) url = storeMedia(bytes, sha256, r.mimeType, store, what);
  else if (url === undefined)
    throw new Failure(`${what}: embedded audio (derefUri) needs --media-dir and --media-base-url`);
  return { id: mediaId(sha256), url, sha256, bytes: bytes.length };
}
