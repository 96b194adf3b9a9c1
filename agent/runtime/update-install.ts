// The effects of an update's fetch and install states (agent/domain/update-machine.ts,
// docs/ota.md §1): the space check an `update` passes before it is accepted, the artifact
// fetched through the media cache (a zstd delta from the running release when offered, else
// the full artifact), and the release unpacked beside the running one into
// releases/<v>.partial, its members, version, architecture and `--check-config` checked,
// then renamed to releases/<v>. runtime/updater.ts runs them and moves the table on.
import { copyFile, mkdir, rename } from 'node:fs/promises';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { EventFields } from '../../contract/events.js';
import type { MediaRef } from '../../contract/schedule-doc.js';
import type { UpdateArgs } from '../../contract/command-doc.js';
import type { ReleaseFiles, run } from '../adapters/release-files.js';
import type { checkTarMembers } from '../adapters/tar-members.js';

/** Kept free beyond what an update needs, so the database and the cache can still write. */
export const RESERVE_BYTES = 32 * 1024 * 1024;
const CHECK_CONFIG_TIMEOUT_MS = 90_000;
const UNPACK_TIMEOUT_MS = 10 * 60_000;

/** What fetching and installing a release need (a part of UpdaterDeps, with the files known). */
export interface ReleaseWork {
  files: ReleaseFiles;
  /** The processes and checks of an install (adapters/release-files.ts run, adapters/tar-members.ts). */
  tools: { run: typeof run; checkTarMembers: typeof checkTarMembers };
  log: Logger;
  /** Fetch and verify through the media cache until `untilMs`; the paths, or null. */
  fetch(media: readonly MediaRef[], untilMs: number): Promise<string[] | null>;
  version: string;
  arch: string;
  node: string;
  configPath: string | null;
  cacheDir: string;
  cacheQuotaBytes: number;
  /** Apply a zstd delta (contract/release-delta.ts); absent: deltas are not used. */
  applyDelta?: (o: {
    baseTarGz: string;
    deltaPath: string;
    outTar: string;
    expectTarSha256: string;
    maxBytes: number;
  }) => Promise<void>;
}

/** A fetched artifact: the .tar.gz from the cache, or the .tar a delta rebuilt. */
export interface Artifact {
  path: string;
  tar: boolean;
}

/** An effect's failure with the `update.failed` reason it is reported under. */
export class JobError extends Error {
  constructor(
    readonly reason: EventFields['update.failed']['reason'],
    message: string,
  ) {
    super(message);
  }
}

/**
 * Refused before anything is removed when it cannot fit: the artifact in the cache, and
 * the unpacked release beside the running one once every other release (except one
 * dpkg installed) is gone.
 */
export function spaceCheck(w: ReleaseWork, a: UpdateArgs): string | null {
  const f = w.files;
  const installed = a.installedBytes ?? 5 * a.bytes;
  if (a.bytes > w.cacheQuotaBytes)
    return `the artifact (${mb(a.bytes)}) is larger than the media cache's quota (${mb(w.cacheQuotaBytes)})`;
  const removable = f.releases().filter((v) => v !== w.version && !f.packaged(v));
  const freed = removable.reduce((n, v) => n + f.size(v), 0);
  const rootFree = f.freeBytesAt(f.releasesDir);
  const cacheFree = f.freeBytesAt(w.cacheDir);
  const sameFs = statSync(f.releasesDir).dev === statSync(w.cacheDir).dev;
  const need = installed + RESERVE_BYTES + (sameFs ? a.bytes : 0);
  if (rootFree + freed < need) {
    return `needs ${mb(need)} on ${f.releasesDir} (release ${mb(installed)}${sameFs ? ` + artifact ${mb(a.bytes)}` : ''} + reserve ${mb(RESERVE_BYTES)}); free ${mb(rootFree)}, and ${mb(freed)} more once ${removable.length ? removable.join(', ') : 'no other release'} removed`;
  }
  if (!sameFs && cacheFree < a.bytes + RESERVE_BYTES)
    return `needs ${mb(a.bytes + RESERVE_BYTES)} in the cache (${w.cacheDir}); free ${mb(cacheFree)}`;
  return null;
}

/**
 * The release rebuilt from the delta the command offers from the running release; null
 * when there is none to use, 'retry' when it did not come or verify (the table's `retry`:
 * the full artifact next).
 */
export async function fetchDelta(w: ReleaseWork, a: UpdateArgs, expiresAt: string): Promise<Artifact | 'retry' | null> {
  const base = join(w.files.dir(w.version), '.artifact.tar.gz');
  if (!(a.delta && a.delta.from === w.version && a.tarSha256 && w.applyDelta && existsSync(base))) return null;
  const [delta] =
    (await w.fetch(
      [{ id: `release-delta-${a.version}`, url: a.delta.url, sha256: a.delta.sha256, bytes: a.delta.bytes }],
      Date.parse(expiresAt),
    )) ?? [];
  if (!delta) {
    w.log.warn({ code: 'OTA_DELTA' }, 'delta not downloaded; trying the full release');
    return 'retry';
  }
  const out = join(w.files.releasesDir, `${a.version}.tar`);
  try {
    await w.applyDelta({
      baseTarGz: base,
      deltaPath: delta,
      outTar: out,
      expectTarSha256: a.tarSha256,
      maxBytes: unpackedCap(a),
    });
    w.log.info({ version: a.version, deltaBytes: a.delta.bytes, fullBytes: a.bytes }, 'release rebuilt from the delta');
    return { path: out, tar: true };
  } catch (err) {
    w.log.warn(
      { code: 'OTA_DELTA', err: (err as Error).message },
      'delta did not verify; downloading the full release',
    );
    return 'retry';
  }
}

/** The full artifact, verified by the cache (sha256) before the command expires. */
export async function fetchFull(w: ReleaseWork, a: UpdateArgs, expiresAt: string): Promise<Artifact> {
  const [path] =
    (await w.fetch(
      [{ id: `release-${a.version}`, url: a.url, sha256: a.sha256, bytes: a.bytes }],
      Date.parse(expiresAt),
    )) ?? [];
  if (!path)
    throw new JobError(
      'download',
      `release ${a.version} was not downloaded and verified before the command expired (${expiresAt})`,
    );
  return { path, tar: false };
}

/** Unpacked into releases/<v>.partial, checked, renamed to releases/<v>. */
export async function installRelease(w: ReleaseWork, a: UpdateArgs, artifact: Artifact): Promise<void> {
  const f = w.files;
  const v = a.version;
  const partial = `${v}.partial`;
  await f.removeRelease(partial);
  const dir = join(f.releasesDir, partial);
  await mkdir(dir, { recursive: true });
  try {
    // Every member checked before tar writes anything (adapters/tar-members.ts).
    await w.tools.checkTarMembers(artifact.path, { gzip: !artifact.tar, maxBytes: unpackedCap(a) });
  } catch (err) {
    throw new JobError('verify', `the release archive is refused: ${(err as Error).message}`);
  }
  try {
    await w.tools.run('tar', ['-xf', artifact.path, '-C', dir, '--strip-components=1', '--no-same-owner'], {
      timeoutMs: UNPACK_TIMEOUT_MS,
      nice: true,
    });
  } catch (err) {
    throw new JobError('unpack', `unpacking the release: ${(err as Error).message}`);
  }
  const pkg = readJson(join(dir, 'package.json'));
  if (pkg?.version !== v)
    throw new JobError('verify', `the artifact holds version ${JSON.stringify(pkg?.version ?? null)}, not ${v}`);
  const rel = readJson(join(dir, 'RELEASE.json'));
  // No arch is no check: a release must say what it was built for.
  if (typeof rel?.arch !== 'string')
    throw new JobError(
      'verify',
      "the artifact's RELEASE.json names no arch: refused (a release built for another machine would be committed)",
    );
  if (rel.arch !== w.arch)
    throw new JobError('verify', `the artifact is built for ${String(rel.arch)}; this box is ${w.arch}`);
  if (!existsSync(join(dir, 'dist/agent/main.js')))
    throw new JobError('verify', 'the artifact has no dist/agent/main.js');
  if (w.configPath) {
    try {
      await w.tools.run(w.node, [join(dir, 'dist/agent/main.js'), '--check-config', '--config', w.configPath], {
        timeoutMs: CHECK_CONFIG_TIMEOUT_MS,
        nice: true,
      });
    } catch (err) {
      throw new JobError(
        'check-config',
        `version ${v} refuses this box's configuration or does not load: ${(err as Error).message}`,
      );
    }
  }
  // The base a later delta is applied to (the artifact itself, or the rebuilt tar, compressed).
  if (!artifact.tar) await copyFile(artifact.path, join(dir, '.artifact.tar.gz'));
  else {
    await w.tools.run('gzip', ['-n', '-1', '-f', artifact.path], { timeoutMs: UNPACK_TIMEOUT_MS, nice: true });
    await rename(`${artifact.path}.gz`, join(dir, '.artifact.tar.gz'));
  }
  await f.removeRelease(v);
  await rename(dir, f.dir(v));
  w.log.info({ version: v }, 'release unpacked and checked');
}

/**
 * The most bytes a release may unpack to (its tar, or the sum of its members): the
 * manifest's installedBytes (default 5x the artifact) with a quarter and 16 MiB of margin
 * for tar headers and du's rounding. Past it, unpacking or a delta stops before writing on.
 */
export function unpackedCap(a: { bytes: number; installedBytes?: number }): number {
  return Math.ceil((a.installedBytes ?? a.bytes * 5) * 1.25) + 16 * 1024 * 1024;
}

function readJson(path: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}
