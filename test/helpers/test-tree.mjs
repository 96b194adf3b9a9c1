// `npm test`'s entry (plain JavaScript: it runs before anything can load TypeScript).
//
// Every test file used to run in a process of its own under tsx, whose loader hooks run
// on a thread of their own in Node 20 and pass every import through it: 0.35 CPU-s to
// start tsx, then about as much again for the helpers and sources a file imports. Across
// the 70 processes of a run that was 50-70 of its ~590 CPU-s (measured per file: schedules
// 3.0 against 1.7 CPU-s compiled, tls 4.9 against 4.0, mqtt-link 1.7 against 1.1).
//
// So the run compiles the checkout first, with esbuild (what tsx uses, the same
// tsconfig), into a tree of its own under the temp dir: each .ts beside its .js, every
// other file and the .ts itself as a link to the checkout's, node_modules and dist linked
// whole. The runner and the test files then run from that tree with plain node, and the
// programs the tests start run as before (built JavaScript, or tsx on the checkout's
// sources). LOA_REPO_ROOT tells the helpers where the checkout is (test/helpers/paths.ts):
// what they start, read or write is the checkout's, never the tree's. The tree is removed
// at the end of the run; a failure's stack names the compiled file (test/…/x.test.js), and
// `node --import tsx --test FILE` runs one file from its source.
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
/** Linked whole: nothing in them is compiled. */
const WHOLE = new Set(['.git', 'node_modules', 'dist', 'out']);

/** The tree: directories made, files linked, the .ts files to compile returned. */
function mirror(rel, out, sources) {
  mkdirSync(join(out, rel), { recursive: true });
  for (const e of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
    const r = join(rel, e.name);
    if (rel === '' && WHOLE.has(e.name)) symlinkSync(join(ROOT, r), join(out, r));
    else if (e.isDirectory()) mirror(r, out, sources);
    else {
      symlinkSync(join(ROOT, r), join(out, r));
      if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) sources.push(join(ROOT, r));
    }
  }
}

const out = mkdtempSync(join(tmpdir(), 'loa-test-tree-'));
try {
  const sources = [];
  mirror('', out, sources);
  await build({
    entryPoints: sources,
    outdir: out,
    outbase: ROOT,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    bundle: false,
    logLevel: 'warning',
  });
  process.env.LOA_REPO_ROOT = ROOT;
  process.env.LOA_TEST_TREE = out;
  // Files named on the command line are the checkout's: the runner takes their place in the tree.
  const args = process.argv.slice(2).map((f) => {
    const r = relative(ROOT, resolve(f));
    return r.startsWith('..') ? f : join(out, r);
  });
  process.argv.splice(2, args.length, ...args);
  // The runner's top-level await: the import resolves when the run is over (its exit code set).
  await import(pathToFileURL(join(out, 'test/helpers/run-tests.js')).href);
} finally {
  if (!process.env.LOA_KEEP_TMP) rmSync(out, { recursive: true, force: true });
}
