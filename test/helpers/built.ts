// The agent as the box runs it: JavaScript built with tsc (tsconfig.build.json), which is
// what the .deb and every release ship and what systemd starts.
//
// - Built once for the sources as they are and shared by every test file of a run, and
//   by later runs until a source changes: kept under the temp dir by a hash of the
//   sources (the first process to finish a build publishes it by rename). `npm test`
//   builds it while the unit files run, before any file that starts a program
//   (test/helpers/run-tests.ts), so files running at once never build it twice.
// - Built means copied from the checkout's own dist/ when `npm run build` made that from
//   the sources as they are (make's rule: every source's .js is there and newer than every
//   source; dist/ holds nothing but the programs' folders); tsc otherwise. CI builds
//   before it tests, so its `npm test` compiles nothing (the build took 15-17 s of the
//   run's start). A copy, never the checkout's dist/ itself: release-artifact.test.ts runs
//   `npm run release`, which rebuilds it in place while other files run.
//
// Beside dist/, as in a release tree (systemd/release-tree.sh): package.json (the agent
// reports its version from it), agent/demo-assets (the test chime) and node_modules, a
// link to the checkout's, so `node <dir>/dist/agent/main.js` finds its packages.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';
import { tempDir } from './tmp.js';

let dist: string | undefined;

const PROGRAMS = ['agent', 'contract', 'cli-kit', 'demo', 'firmware-bridge', 'noc', 'provisioning'];
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];

/** The checkout's dist/ if it is the build of the sources as they are (see the header), else undefined. */
function checkoutDist(): string | undefined {
  const out = join(REPO_ROOT, 'dist');
  if (!existsSync(out) || readdirSync(out).some((e) => !PROGRAMS.includes(e))) return undefined;
  let newestSource = Math.max(...CONFIGS.map((f) => statSync(join(REPO_ROOT, f)).mtimeMs));
  let oldestOutput = Infinity;
  const walk = (rel: string): boolean => {
    for (const e of readdirSync(join(REPO_ROOT, rel), { withFileTypes: true })) {
      const r = join(rel, e.name);
      if (e.isDirectory()) {
        if (!walk(r)) return false;
      } else if (e.name.endsWith('.ts') || e.name.endsWith('.json')) {
        newestSource = Math.max(newestSource, statSync(join(REPO_ROOT, r)).mtimeMs);
        if (!e.name.endsWith('.ts') || e.name.endsWith('.d.ts')) continue;
        const js = join(out, r.replace(/\.ts$/, '.js'));
        if (!existsSync(js)) return false;
        oldestOutput = Math.min(oldestOutput, statSync(js).mtimeMs);
      }
    }
    return true;
  };
  return PROGRAMS.every((d) => walk(d)) && newestSource <= oldestOutput ? out : undefined;
}

/** The sources a build depends on, hashed: the key of the shared build. */
function sourcesKey(): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') || e.name.endsWith('.json') || dir.endsWith('demo-assets'))
        h.update(p).update(readFileSync(p));
    }
  };
  for (const d of PROGRAMS) walk(join(REPO_ROOT, d));
  for (const f of CONFIGS) h.update(readFileSync(join(REPO_ROOT, f)));
  return h.digest('hex').slice(0, 16);
}

/** Where the build for the sources as they are is kept, and whether it is there yet. */
function sharedDir(): { shared: string; ready: boolean } {
  const shared = join(tmpdir(), `loa-test-dist-${process.getuid?.() ?? 0}-${sourcesKey()}`);
  return { shared, ready: existsSync(join(shared, 'dist')) };
}

const tscArgs = (work: string): string[] => [
  join(REPO_ROOT, 'node_modules/typescript/bin/tsc'),
  '-p',
  join(REPO_ROOT, 'tsconfig.build.json'),
  '--outDir',
  join(work, 'dist'),
];

/** Beside the fresh dist/, what a release tree has; then published under its key. */
function publish(work: string, shared: string): void {
  copyFileSync(join(REPO_ROOT, 'package.json'), join(work, 'package.json'));
  cpSync(join(REPO_ROOT, 'agent/demo-assets'), join(work, 'agent/demo-assets'), { recursive: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(work, 'node_modules'));
  try {
    renameSync(work, shared);
  } catch {
    // another test file published the same build first: use that one
  }
}

/** Fills `work` with dist/ from the checkout when that is the fresh build; false when tsc must make it. */
function copyCheckout(work: string): boolean {
  const fresh = checkoutDist();
  if (fresh) cpSync(fresh, join(work, 'dist'), { recursive: true });
  return fresh !== undefined;
}

/**
 * The built tree's dist/ (tsc, ~15 s of CPU, once per state of the sources). Under
 * `npm test` the runner made it and names it in LOA_TEST_DIST, so a test file does not
 * hash the sources again to find it.
 */
export function builtDist(): string {
  if (dist) return dist;
  if (process.env.LOA_TEST_DIST) return (dist = process.env.LOA_TEST_DIST);
  const { shared, ready } = sharedDir();
  if (!ready) {
    const work = tempDir('dist');
    if (!copyCheckout(work)) execFileSync(process.execPath, tscArgs(work), { stdio: 'inherit' });
    publish(work, shared);
  }
  dist = join(shared, 'dist');
  return dist;
}

/**
 * The same build without blocking, its dist/ when done: `npm test` runs the unit files
 * (which start no program) while tsc works, and the integration files once it is done.
 */
export async function buildDist(): Promise<string> {
  const { shared, ready } = sharedDir();
  if (!ready) {
    const work = tempDir('dist');
    if (!copyCheckout(work)) {
      const code = await new Promise<number | null>((resolve, reject) =>
        spawn(process.execPath, tscArgs(work), { stdio: 'inherit' }).on('error', reject).on('exit', resolve),
      );
      if (code !== 0)
        throw new Error(`tsc -p tsconfig.build.json exited ${code}: the programs the tests start were not built`);
    }
    publish(work, shared);
  }
  return join(shared, 'dist');
}

/** A built program's entry, e.g. 'agent/main' -> <dir>/dist/agent/main.js (what systemd or the .deb's wrapper starts). */
export function built(entry: 'agent/main' | 'noc/cli' | 'provisioning/cli' | 'firmware-bridge/sim-cli'): string {
  return join(builtDist(), `${entry}.js`);
}
