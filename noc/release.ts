// `noc release`: sign a release manifest (noc/release-manifest.ts) for the tarballs
// `npm run release` built, with their deltas from older releases (zstd --patch-from).
//
// Invariant, as for noc sign: nothing unverified is signed. Every tarball is hashed here
// (its sidecar JSON must agree), and every delta is applied back to its base with the
// box's own code (contract/release-delta.ts) and must rebuild the new tar exactly
// before it goes into the manifest.
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { applyDelta, DELTA_LONG, runTool, sha256File } from '../contract/release-delta.js';
import { signDoc } from '../contract/index.js';
import { errorMessage, Failure, parseArgs, required, UsageError } from '../cli-kit/index.js';
import { loadSigningKey } from './docs.js';
import type { Io } from './io.js';
import {
  ARCHES,
  RELEASE_TYP,
  VERSION_RE,
  manifestId,
  verifyManifest,
  type Arch,
  type Artifact,
  type Manifest,
} from './release-manifest.js';
import { parseTrust } from './simulate.js';

const SPEC = {
  key: { kind: 'string' },
  kid: { kind: 'string' },
  'base-url': { kind: 'string' },
  'delta-from': { kind: 'list' },
  out: { kind: 'string' },
  trusted: { kind: 'string' },
  zstd: { kind: 'string' },
} as const;

export const RELEASE_HELP = `noc release --key release.key.pem [--kid KID] --base-url URL [--delta-from OLD.tar.gz]... [--out FILE] [--trusted keys.json] TARBALL...

Sign a release manifest (JWS, typ ${RELEASE_TYP}) naming the artifacts that npm run release
built: loa-<version>-<arch>.tar.gz, one per arch, all of one version, each with its
sidecar loa-<version>-<arch>.json beside it. noc rollout reads the manifest.

  --key FILE        a release key (noc keys --roles release); boxes accept an update only
                    from a key they trust with the role release
  --base-url URL    where the files will be served: each artifact's url is URL/<file name>
  --delta-from OLD  an older release's tarball (same arch): makes
                    loa-<old>-to-<new>-<arch>.tar.zst beside the new tarball with
                    zstd --patch-from -19 --long=${DELTA_LONG}, checks that it rebuilds the new tar,
                    and offers it to boxes running <old>. One per arch.
  --out FILE        write the manifest there (default: standard output)
  --trusted FILE    also verify the signed manifest against these trusted keys
                    ([{"kid","publicKey","roles"}], as noc rollout will)
  --zstd PATH       the zstd binary (default zstd)`;

interface Built {
  path: string;
  version: string;
  arch: Arch;
  bytes: number;
  sha256: string;
  tarSha256: string;
  installedBytes: number;
}

async function gunzipHash(path: string, into?: string): Promise<string> {
  if (into) {
    await runTool('gzip', ['-dc', path], into, false);
    return sha256File(into);
  }
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path).pipe(createGunzip())) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A tarball and its sidecar, checked against each other and the file name. */
async function readBuilt(path: string): Promise<Built> {
  const m = /^loa-(.+)-(amd64|arm64|armhf)\.tar\.gz$/.exec(basename(path));
  if (!m)
    throw new UsageError(`${path}: expected a file named loa-<version>-<arch>.tar.gz (as npm run release names them)`);
  if (!existsSync(path)) throw new Failure(`${path}: no such file`);
  const sidecar = path.replace(/\.tar\.gz$/, '.json');
  let side: Partial<Built>;
  try {
    side = JSON.parse(readFileSync(sidecar, 'utf8')) as Partial<Built>;
  } catch (err) {
    throw new Failure(
      `${sidecar}: ${errorMessage(err)} (npm run release writes it beside the tarball; it holds installedBytes)`,
    );
  }
  const [, version, arch] = m as unknown as [string, string, Arch];
  if (side.version !== version || side.arch !== arch)
    throw new Failure(`${sidecar} describes ${String(side.version)}/${String(side.arch)}, not ${version}/${arch}`);
  if (!VERSION_RE.test(version)) throw new Failure(`${path}: version ${version} does not match ${VERSION_RE.source}`);
  const sha256 = await sha256File(path);
  if (side.sha256 !== sha256)
    throw new Failure(
      `${sidecar} names sha256 ${String(side.sha256)}, but ${path} has ${sha256}: the sidecar is from another build`,
    );
  const tarSha256 = await gunzipHash(path);
  if (side.tarSha256 !== tarSha256)
    throw new Failure(`${sidecar} names tarSha256 ${String(side.tarSha256)}, but the tar in ${path} has ${tarSha256}`);
  if (typeof side.installedBytes !== 'number' || !(side.installedBytes > 0))
    throw new Failure(`${sidecar}: installedBytes is missing`);
  return { path, version, arch, bytes: statSync(path).size, sha256, tarSha256, installedBytes: side.installedBytes };
}

/** Makes and checks the delta old → new; returns its file. */
async function makeDelta(oldB: Built, newB: Built, zstd: string, io: Io): Promise<string> {
  const out = join(dirname(newB.path), `loa-${oldB.version}-to-${newB.version}-${newB.arch}.tar.zst`);
  const tmp = mkdtempSync(join(dirname(newB.path), '.delta-'));
  try {
    const oldTar = join(tmp, 'old.tar');
    const newTar = join(tmp, 'new.tar');
    await gunzipHash(oldB.path, oldTar);
    await gunzipHash(newB.path, newTar);
    // --patch-from needs the base within the window: a bigger tar would make a delta no box can use.
    if (statSync(oldTar).size > 2 ** DELTA_LONG)
      throw new Failure(
        `${oldB.path}: its tar is ${statSync(oldTar).size} bytes, over zstd's --long=${DELTA_LONG} window; no delta`,
      );
    const t0 = performance.now();
    await runTool(
      zstd,
      ['-q', '-f', '-19', `--long=${DELTA_LONG}`, `--patch-from=${oldTar}`, newTar, '-o', `${out}.tmp`],
      undefined,
      false,
    ).catch((err: unknown) => {
      throw new Failure(`making the delta ${basename(out)}: ${errorMessage(err)}`);
    });
    const ms = Math.round(performance.now() - t0);
    // The box's side, here first: the delta must rebuild the new tar exactly.
    await applyDelta({
      baseTarGz: oldB.path,
      deltaPath: `${out}.tmp`,
      outTar: join(tmp, 'check.tar'),
      expectTarSha256: newB.tarSha256,
      zstd,
    }).catch((err: unknown) => {
      throw new Failure(`the delta ${basename(out)} does not rebuild ${basename(newB.path)}: ${errorMessage(err)}`);
    });
    renameSync(`${out}.tmp`, out);
    io.err(
      `delta ${out}: ${statSync(out).size} bytes (${((statSync(out).size / newB.bytes) * 100).toFixed(1)}% of the full ${newB.bytes}), made in ${ms} ms, checked`,
    );
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(`${out}.tmp`, { force: true });
  }
}

export async function releaseCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc release');
  if (help) return (io.out(RELEASE_HELP), 0);
  if (positional.length === 0)
    throw new UsageError('give at least one tarball: noc release ... dist-release/loa-1.2.0-arm64.tar.gz');
  const key = loadSigningKey(required(opts.key, '--key', 'release-2026.key.pem'), opts.kid);
  const base = required(opts['base-url'], '--base-url', 'https://updates.example.vn/loa').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(base)) throw new UsageError(`--base-url ${base}: expected an http(s) URL`);
  const trusted = opts.trusted ? parseTrust([], opts.trusted) : undefined;

  const built = await Promise.all(positional.map(readBuilt));
  const version = built[0]!.version;
  for (const b of built)
    if (b.version !== version)
      throw new UsageError(
        `${b.path} is version ${b.version}, ${built[0]!.path} is ${version}: one manifest is one version`,
      );
  const byArch = new Map<Arch, Built>();
  for (const b of built) {
    if (byArch.has(b.arch))
      throw new UsageError(`two tarballs for ${b.arch}: ${byArch.get(b.arch)!.path} and ${b.path}`);
    byArch.set(b.arch, b);
  }
  const artifacts: Manifest['artifacts'] = {};
  for (const arch of ARCHES) {
    const b = byArch.get(arch);
    if (b)
      artifacts[arch] = {
        url: `${base}/${basename(b.path)}`,
        sha256: b.sha256,
        bytes: b.bytes,
        tarSha256: b.tarSha256,
        installedBytes: b.installedBytes,
      };
  }
  const deltaArches = new Set<Arch>();
  for (const old of opts['delta-from'] ?? []) {
    const o = await readBuilt(old);
    const n = byArch.get(o.arch);
    if (!n) throw new UsageError(`--delta-from ${old} is for ${o.arch}, and no tarball given is`);
    if (o.version === version) throw new UsageError(`--delta-from ${old} is version ${version} itself`);
    if (deltaArches.has(o.arch)) throw new UsageError(`--delta-from: a second delta for ${o.arch} (one per arch)`);
    deltaArches.add(o.arch);
    const file = await makeDelta(o, n, opts.zstd ?? 'zstd', io);
    (artifacts[o.arch] as Artifact).delta = {
      from: o.version,
      url: `${base}/${basename(file)}`,
      sha256: await sha256File(file),
      bytes: statSync(file).size,
    };
  }

  const manifest: Manifest = {
    type: 'release',
    id: manifestId(version),
    issuedAt: new Date().toISOString(),
    version,
    artifacts,
  };
  const jws = signDoc(manifest, key, RELEASE_TYP);
  if (trusted) {
    const { kid } = verifyManifest(jws, trusted, 'the signed manifest');
    io.err(`verified against ${opts.trusted}: key ${kid} is trusted with the role release`);
  }
  for (const [arch, a] of Object.entries(artifacts))
    io.err(
      `${arch}: ${a.url} ${a.bytes} bytes${a.delta ? `; delta from ${a.delta.from}: ${a.delta.bytes} bytes` : ''}`,
    );
  if (opts.out) {
    try {
      writeFileSync(opts.out, jws + '\n');
    } catch (err) {
      throw new Failure(`cannot write ${opts.out}: ${errorMessage(err)}`);
    }
    io.err(`signed release ${version} (${Object.keys(artifacts).join(', ')}) with kid ${key.kid} -> ${opts.out}`);
  } else io.out(jws);
  return 0;
}
