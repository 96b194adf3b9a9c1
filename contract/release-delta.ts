// Rebuilding a release's tar from a delta (issue [5/8] item 5, docs/ota.md): the centre
// made `zstd --patch-from=<old tar> <new tar>`; the box has the old release's .tar.gz
// and the delta, and gets the new tar back, byte for byte, or an error. The caller then
// unpacks the tar (or falls back to the full tarball when this throws).
//
// Both steps run as child processes at nice 10 (gzip, zstd), off the agent's event loop
// and behind whatever plays. Temporary files sit next to `outTar` (the OTA directory, on
// the disk, not a RAM-backed /tmp) and are removed whatever happens; `outTar` itself
// appears only once its sha256 is the expected one (written under a temporary name, then
// renamed), so a half-written or wrong tar is never mistaken for a good one.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, openSync, closeSync, rmSync, renameSync } from 'node:fs';

export interface ApplyDelta {
  /** The release the delta starts from, as the centre published it (loa-<old>-<arch>.tar.gz). */
  baseTarGz: string;
  /** The .tar.zst made by `noc release --delta-from`. */
  deltaPath: string;
  /** Where the rebuilt tar goes (created only when it verifies). */
  outTar: string;
  /** sha256 (hex) of the new release's uncompressed tar: the manifest's tarSha256. */
  expectTarSha256: string;
  /** The zstd binary (default: zstd on PATH). */
  zstd?: string;
  /** The gzip binary (default: gzip on PATH). */
  gzip?: string;
  /**
   * The most bytes the rebuilt tar may have (from the manifest's size): zstd is stopped
   * past it, before the sha256 check, so a 37 KB delta cannot fill the disk with 1 GiB.
   */
  maxBytes?: number;
}

/** zstd's window for --patch-from: the base tar must fit in it (128 MiB); the centre uses the same. */
export const DELTA_LONG = 27;

/**
 * Runs `cmd args` (under `nice -n 10` unless `nice` is false), stdout to a file when
 * given; rejects with the command's last stderr lines. Also the centre's (noc release).
 */
export function runTool(cmd: string, args: string[], stdoutFile?: string, nice = true): Promise<void> {
  return new Promise((resolve, reject) => {
    const fd = stdoutFile === undefined ? undefined : openSync(stdoutFile, 'w');
    let err = '';
    const p = spawn(nice ? 'nice' : cmd, nice ? ['-n', '10', cmd, ...args] : args, {
      stdio: ['ignore', fd ?? 'ignore', 'pipe'],
    });
    if (fd !== undefined) closeSync(fd); // the child has its own copy
    p.stderr?.setEncoding('utf8');
    p.stderr?.on('data', (b: Buffer) => (err = (err + b.toString('utf8')).slice(-2000)));
    p.on('error', reject);
    p.on('close', (code, signal) => {
      if (code === 0) return resolve();
      reject(toolFailure(cmd, args, code, signal, err));
    });
  });
}

/** A tool that did not exit 0: the command, why it ended, and its last stderr lines. */
function toolFailure(
  cmd: string,
  args: readonly string[],
  code: number | null,
  signal: NodeJS.Signals | null,
  stderr: string,
): Error {
  const why = signal ? `killed by ${signal}` : code === 127 ? `${cmd} not found (exit 127)` : `exit ${code}`;
  const tail = stderr.trim().split('\n').slice(-3).join(' | ');
  return new Error(`${cmd} ${args.join(' ')}: ${why}${tail ? `: ${tail}` : ''}`);
}

/** `zstd -d --patch-from` to `out`, stopped (SIGKILL) once it has written more than `max` bytes. */
function unzstdCapped(zstd: string, args: string[], out: string, max: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const file = createWriteStream(out);
    const p = spawn('nice', ['-n', '10', zstd, ...args, '-c'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let written = 0;
    let over = false;
    let err = '';
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (s: string) => (err = (err + s).slice(-2000)));
    p.stdout.on('data', (b: Buffer) => {
      written += b.length;
      if (written > max && !over) {
        over = true;
        p.kill('SIGKILL');
      }
    });
    p.stdout.pipe(file);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      file.end(() => {
        if (over)
          return reject(
            new Error(
              `the rebuilt tar passed ${max} bytes (the manifest's size with its margin): stopped before the sha256 check`,
            ),
          );
        if (code === 0) return resolve();
        reject(toolFailure(zstd, args, code, signal, err));
      });
    });
  });
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function applyDelta(o: ApplyDelta): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(o.expectTarSha256))
    throw new Error(`applyDelta: expectTarSha256 ${JSON.stringify(o.expectTarSha256)} is not 64 lowercase hex digits`);
  const baseTar = `${o.outTar}.base.tmp`;
  const partial = `${o.outTar}.partial`;
  try {
    try {
      await runTool(o.gzip ?? 'gzip', ['-dc', o.baseTarGz], baseTar);
    } catch (err) {
      throw new Error(`delta: cannot decompress the base release ${o.baseTarGz}: ${(err as Error).message}`);
    }
    try {
      const args = ['-d', '-q', '-f', `--patch-from=${baseTar}`, `--long=${DELTA_LONG}`, o.deltaPath];
      if (o.maxBytes === undefined) await runTool(o.zstd ?? 'zstd', [...args, '-o', partial]);
      else await unzstdCapped(o.zstd ?? 'zstd', args, partial, o.maxBytes);
    } catch (err) {
      throw new Error(`delta: zstd could not apply ${o.deltaPath} to ${o.baseTarGz}: ${(err as Error).message}`);
    }
    const got = await sha256File(partial);
    if (got !== o.expectTarSha256) {
      throw new Error(
        `delta: the rebuilt tar has sha256 ${got}, not the release's tarSha256 ${o.expectTarSha256} (a delta made from another base, or a corrupt file); use the full tarball`,
      );
    }
    renameSync(partial, o.outTar);
  } finally {
    rmSync(baseTar, { force: true });
    rmSync(partial, { force: true });
  }
}
