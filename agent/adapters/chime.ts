// The test chime (agent/demo-assets/chime.mp3, 3 s), shipped in every release beside the
// compiled code: `loa-provision check --tone` plays it directly, and the agent plays it as
// a built-in media for the technician's page (runtime/page.ts), found by its hash like any
// cached media.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Its length, for a tone of N seconds (the chime repeated, cut at N). */
export const CHIME_MS = 3000;

/** From the sources (tsx) and from dist/agent/adapters of a build or a release. */
export function findChime(): string | undefined {
  for (const rel of ['../demo-assets/chime.mp3', '../../../agent/demo-assets/chime.mp3']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The chime as a media the playback can find by hash; null where the file is missing. */
export function chimeMedia(): { path: string; sha256: string; bytes: number } | null {
  const path = findChime();
  if (!path) return null;
  const body = readFileSync(path);
  return { path, sha256: createHash('sha256').update(body).digest('hex'), bytes: body.length };
}
