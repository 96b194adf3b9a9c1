// Real releases for OTA tests (docs/ota.md): the agent built with tsc once for the
// sources as they are (test/helpers/built.ts, shared by the test files), copied into a release tree per version
// (its own package.json, so the agent reports that version; node_modules a symlink to the
// checkout's), packed as the artifact `noc release` signs, and installed under a ROOT
// with a `current` symlink.
//
// Broken variants keep `--check-config` working (an update checks that before it
// switches) and fail only when started for real, as a release with a start-up bug does.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { REPO_ROOT } from './agent-process.js';
import { tempDir } from './tmp.js';
import { builtDist } from './built.js';
import { debianArch } from '../../agent/runtime/updater.js';

export type Variant = 'good' | 'exits' | 'hangs' | 'no-connect' | 'crashes-after-commit';

const WRAPPERS: Record<Exclude<Variant, 'good'>, string> = {
  exits: `console.error('loa-agent: broken release: cannot start (test variant "exits")');\nprocess.exit(1);`,
  // The real agent, which commits; once committed (on probation), every run crashes 3 s in.
  'crashes-after-commit': `const { existsSync } = await import('node:fs');
const ota = process.env.LOA_OTA_DIR;
const poll = setInterval(() => {
  if (!existsSync(ota + '/probation') || existsSync(ota + '/committing')) return;
  clearInterval(poll);
  setTimeout(() => { console.error('loa-agent: crashing after its commit (test variant "crashes-after-commit")'); process.exit(1); }, 3000);
}, 100);
poll.unref();`,
  hangs: `console.log('loa-agent: hanging at start, never connecting (test variant "hangs")');\nsetInterval(() => {}, 1 << 30);\nawait new Promise(() => {});`,
  // The real agent, but its MQTT URL points at a closed port: it runs and never connects.
  'no-connect': `const { readFileSync, writeFileSync } = await import('node:fs');
const i = process.argv.indexOf('--config');
const c = JSON.parse(readFileSync(process.argv[i + 1], 'utf8'));
c.mqtt.url = 'mqtt://127.0.0.1:9';
const p = process.argv[i + 1] + '.no-connect.json';
writeFileSync(p, JSON.stringify(c), { mode: 0o600 });
process.argv[i + 1] = p;
console.log('loa-agent: test variant "no-connect" starts with', c.mqtt.url);`,
};

/**
 * A release tree for `version` at `dir` (the layout of releases/<version>). Its packages:
 * with `nodeModules`, a symlink to this repository's; without (what packRelease packs:
 * the box refuses an artifact with a link out of its tree), Node finds them by walking up
 * to ROOT/node_modules, which installRelease links.
 */
export function makeReleaseTree(dir: string, version: string, variant: Variant = 'good', nodeModules = true): void {
  mkdirSync(dir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, version, scripts: {} }, null, 2));
  cpSync(builtDist(), join(dir, 'dist'), { recursive: true });
  if (nodeModules && !existsSync(join(dir, 'node_modules')))
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(
    join(dir, 'RELEASE.json'),
    JSON.stringify({ version, arch: debianArch(), node: '>=20', builtAt: new Date().toISOString() }),
  );
  if (variant === 'good') return;
  const main = join(dir, 'dist/agent/main.js');
  renameSync(main, join(dir, 'dist/agent/main-real.js'));
  writeFileSync(
    main,
    `if (!process.argv.includes('--check-config')) {\n${WRAPPERS[variant]}\n}\nawait import('./main-real.js');\n`,
  );
}

export interface Artifact {
  path: string;
  bytes: number;
  sha256: string;
  version: string;
}

/** The release artifact (loa-<v>-<arch>.tar.gz, one top directory) of a fresh tree. */
export function packRelease(version: string, variant: Variant = 'good', extra: Record<string, Buffer> = {}): Artifact {
  const work = tempDir('rel');
  const top = 'loa'; // as systemd/release.sh packs it
  makeReleaseTree(join(work, top), version, variant, false);
  for (const [rel, bytes] of Object.entries(extra)) writeFileSync(join(work, top, rel), bytes);
  const path = join(work, `loa-${version}-${debianArch()}.tar.gz`);
  execFileSync('tar', ['-czf', path, '-C', work, top]);
  const buf = readFileSync(path);
  const a = { path, bytes: buf.length, sha256: createHash('sha256').update(buf).digest('hex'), version };
  // The sidecar `npm run release` writes beside each artifact, which `noc release` reads.
  const tarSha256 = createHash('sha256').update(gunzipSync(buf)).digest('hex');
  writeFileSync(
    path.replace(/\.tar\.gz$/, '.json'),
    JSON.stringify({
      version,
      arch: debianArch(),
      bytes: a.bytes,
      sha256: a.sha256,
      tarSha256,
      installedBytes: 4 * 1024 * 1024,
    }),
  );
  return a;
}

/** ROOT with releases/<version> and `current` pointing at it, as install.sh leaves a box. */
export function installRelease(root: string, version: string): void {
  makeReleaseTree(join(root, 'releases', version), version);
  symlinkSync(join('releases', version), join(root, 'current'));
  // For the releases unpacked from artifacts (no node_modules of their own in tests).
  if (!existsSync(join(root, 'node_modules'))) symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
}
