// The files of an over-the-air update on the box (docs/ota.md): the releases beside each
// other under ROOT/releases/<version>, the `current` symlink the launcher runs, and the
// small key=value files in the OTA directory that the agent and the launcher
// (systemd/loa-launch, a shell script) hand each other: trial, committing, rolledback.
//
// Every write is atomic (a temporary file, then rename), so a kill -9 or a power cut at
// any point leaves either the old file or the new one; the switch of `current` is one
// rename(2) of a symlink.
import { spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statfsSync,
  symlinkSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

export type Kv = Record<string, string>;

/** key=value lines (the launcher's format: no quoting, values on one line). */
export function formatKv(kv: Kv): string {
  return Object.entries(kv)
    .map(([k, v]) => `${k}=${String(v).replace(/[\r\n]+/g, ' ')}\n`)
    .join('');
}

export function parseKv(text: string): Kv {
  const kv: Kv = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return kv;
}

export interface ReleasePaths {
  /** ROOT (LOA_RELEASE_ROOT, /opt/loa): releases/ and the `current` symlink. */
  root: string;
  /** The OTA state directory (LOA_OTA_DIR, /var/lib/loa/ota). */
  ota: string;
}

/** The launcher's environment, or null when the agent was not started by systemd/loa-launch. */
export function launcherPaths(env: NodeJS.ProcessEnv = process.env): ReleasePaths | null {
  if (env.LOA_LAUNCHER !== '1') return null;
  return { root: env.LOA_RELEASE_ROOT || '/opt/loa', ota: env.LOA_OTA_DIR || '/var/lib/loa/ota' };
}

/** A file a release dir holds when the Debian package installed it: dpkg owns it, OTA never removes it. */
export const PACKAGED_MARK = 'PACKAGED';

export class ReleaseFiles {
  constructor(readonly p: ReleasePaths) {}

  get releasesDir(): string {
    return join(this.p.root, 'releases');
  }

  dir(version: string): string {
    return join(this.releasesDir, version);
  }

  /** The OTA file `name` (trial, committing, rolledback, job.json...). */
  file(name: string): string {
    return join(this.p.ota, name);
  }

  readKv(name: string): Kv | null {
    try {
      return parseKv(readFileSync(this.file(name), 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  writeKv(name: string, kv: Kv): void {
    writeFileAtomic(this.file(name), formatKv(kv), 0o644);
  }

  readText(name: string): string | null {
    try {
      return readFileSync(this.file(name), 'utf8');
    } catch {
      return null;
    }
  }

  writeText(name: string, text: string): void {
    writeFileAtomic(this.file(name), text, 0o644);
  }

  remove(...names: string[]): void {
    for (const n of names) rmSync(this.file(n), { force: true });
  }

  /** Rename an OTA file (trial -> committing): atomic. */
  rename(from: string, to: string): void {
    renameSync(this.file(from), this.file(to));
  }

  exists(name: string): boolean {
    return existsSync(this.file(name));
  }

  /** The version `current` points at, or null (no symlink: a legacy or development install). */
  current(): string | null {
    try {
      return basename(readlinkSync(join(this.p.root, 'current')));
    } catch {
      return null;
    }
  }

  /** Whether ROOT/current is a symlink (the layout OTA can switch). */
  switchable(): boolean {
    try {
      return lstatSync(join(this.p.root, 'current')).isSymbolicLink();
    } catch {
      return false;
    }
  }

  /** Point `current` at releases/<version>: a new symlink renamed over the old one (atomic). */
  switchTo(version: string): void {
    const tmp = join(this.p.root, 'current.new');
    rmSync(tmp, { force: true });
    symlinkSync(join('releases', version), tmp);
    renameSync(tmp, join(this.p.root, 'current'));
  }

  /** Complete releases (not the .partial of an unpack in progress). */
  releases(): string[] {
    try {
      return readdirSync(this.releasesDir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !e.name.endsWith('.partial'))
        .map((e) => e.name);
    } catch {
      return [];
    }
  }

  packaged(version: string): boolean {
    return existsSync(join(this.dir(version), PACKAGED_MARK));
  }

  async removeRelease(nameOrPartial: string): Promise<void> {
    await rm(join(this.releasesDir, nameOrPartial), { recursive: true, force: true });
  }

  /** At start, before anything else runs (a few thousand files: tens of ms). */
  removeReleaseSync(nameOrPartial: string): void {
    rmSync(join(this.releasesDir, nameOrPartial), { recursive: true, force: true });
  }

  /** Bytes a release takes on disk (a walk; releases are a few thousand files). */
  size(version: string): number {
    return duBytes(this.dir(version));
  }

  /** ReleaseFiles.freeBytes, for a caller that holds the files (the updater). */
  freeBytesAt(path: string): number {
    return ReleaseFiles.freeBytes(path);
  }

  /** Free bytes for an unprivileged writer on the file system holding `path`. */
  static freeBytes(path: string): number {
    const s = statfsSync(path);
    return s.bavail * s.bsize;
  }
}

function duBytes(path: string): number {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(path, e.name);
    if (e.isDirectory()) total += duBytes(p);
    else if (e.isFile()) {
      try {
        total += Math.ceil(lstatSync(p).size / 4096) * 4096;
      } catch {
        // vanished meanwhile
      }
    }
  }
  return total;
}

/** Run a program to completion; rejects with its last output lines on a non-zero exit or a timeout. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs: number; cwd?: string; env?: NodeJS.ProcessEnv; nice?: boolean },
): Promise<string> {
  const [file, argv] =
    opts.nice && existsSync('/usr/bin/nice') ? ['/usr/bin/nice', ['-n', '10', cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (b: Buffer) => {
      out = (out + b.toString()).slice(-4000);
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else {
        const tail = out.trim().split('\n').slice(-5).join(' | ');
        reject(
          new Error(
            `${basename(cmd)} ${signal ? `killed (${signal}${signal === 'SIGKILL' ? `, after ${Math.round(opts.timeoutMs / 1000)} s` : ''})` : `exited ${code}`}${tail ? `: ${tail}` : ''}`,
          ),
        );
      }
    });
  });
}
