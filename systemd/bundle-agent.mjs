// The agent's entry as one ES module with its lazy parts in chunks: `npm run build` runs
// this after tsc, on what tsc wrote.
//
//   node systemd/bundle-agent.mjs [DIST]      (default: the checkout's dist/)
//
// DIST/agent/main.js, tsc's entry, becomes the bundle of the agent's own modules and of
// the two pure-JavaScript packages it loads at every start (zod, croner); what the agent
// imports only when it needs it (the MCU bridge, the GPIO drivers, the technician's page,
// the release check) stays a chunk of its own in DIST/agent/chunks/, loaded as before.
// Packages with native code or CommonJS (better-sqlite3, mqtt, pino, serialport, ...)
// stay in node_modules. Measured on the 2-core machine (stop 41, 10 starts each, process
// start to birth on a local broker): 0.62 CPU-s and 604 ms with tsc's 217 modules, 0.49
// CPU-s and 516 ms bundled; zod alone is 95 of those modules.
//
// tsc's other files stay where they are: noc, loa-provision and the tests import them.
// DIST/agent/chunks/sources.json says which of tsc's files each output holds (a module
// trace of the agent names chunks; test/integration/lazy-modules.test.ts maps them back).
// Not minified: a stack trace keeps the functions' names, its lines are the bundle's.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
/** Bundled: pure ES modules the agent loads at every start. */
const INSIDE = new Set(['zod', 'croner']);

const dist = resolve(process.argv[2] ?? join(REPO, 'dist'));
const agent = join(dist, 'agent');
const out = join(dirname(dist), `.${basename(dist)}-agent-bundle`);
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
const external = Object.keys(pkg.dependencies).filter((d) => !INSIDE.has(d));

rmSync(out, { recursive: true, force: true });
const { metafile } = await build({
  entryPoints: [join(agent, 'main.js')],
  absWorkingDir: dist,
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  external,
  metafile: true,
  logLevel: 'warning',
});
// Which of tsc's files (relative to DIST) each output holds, by the output's path in DIST/agent.
const sources = {};
for (const [file, o] of Object.entries(metafile.outputs)) {
  sources[relative(out, join(dist, file))] = Object.keys(o.inputs).sort();
}
mkdirSync(join(out, 'chunks'), { recursive: true });
writeFileSync(join(out, 'chunks', 'sources.json'), JSON.stringify(sources, null, 1) + '\n');
// In place: tsc's main.js (still an input of nothing else) gives way to the bundle's.
rmSync(join(agent, 'chunks'), { recursive: true, force: true });
renameSync(join(out, 'chunks'), join(agent, 'chunks'));
renameSync(join(out, 'main.js'), join(agent, 'main.js'));
rmSync(out, { recursive: true, force: true });
