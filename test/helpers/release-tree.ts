// A release tree as on a box (ROOT/releases/<v>/, ROOT/current → releases/<v>) and the OTA
// directory's key=value files (docs/ota.md), for tests of systemd/loa-launch and OTA.
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './agent-process.js';
import { tempDir } from './tmp.js';

export const LAUNCHER = join(REPO_ROOT, 'systemd/loa-launch');

export interface ReleaseTree {
  root: string;
  ota: string;
  /** The environment loa-launch reads (LOA_NODE: this node). */
  env: NodeJS.ProcessEnv;
}

export function releaseTree(tag: string): ReleaseTree {
  const dir = tempDir(tag);
  const root = join(dir, 'opt-loa');
  const ota = join(dir, 'ota');
  mkdirSync(join(root, 'releases'), { recursive: true });
  mkdirSync(ota);
  return { root, ota, env: { LOA_RELEASE_ROOT: root, LOA_OTA_DIR: ota, LOA_NODE: process.execPath } };
}

/** releases/<version> with dist/agent/main.js = `main` (no main.js when main is null). */
export function writeRelease(tree: ReleaseTree, version: string, main: string | null): string {
  const dir = join(tree.root, 'releases', version);
  mkdirSync(join(dir, 'dist/agent'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'loa', version, type: 'module' }) + '\n');
  if (main !== null) writeFileSync(join(dir, 'dist/agent/main.js'), main);
  return dir;
}

/** The spec's switch: ln -sfn releases/<v> current.new && mv -T current.new current. */
export function switchCurrent(tree: ReleaseTree, version: string): void {
  const tmp = join(tree.root, 'current.new');
  rmSync(tmp, { force: true });
  symlinkSync(`releases/${version}`, tmp);
  renameSync(tmp, join(tree.root, 'current'));
}

export function currentTarget(tree: ReleaseTree): string | null {
  try {
    return readlinkSync(join(tree.root, 'current'));
  } catch {
    return null;
  }
}

export function writeKv(path: string, kv: Record<string, string | number>): void {
  writeFileSync(
    path + '.tmp',
    Object.entries(kv)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
  );
  renameSync(path + '.tmp', path);
}

export function readKv(path: string): Record<string, string> | null {
  if (!existsSync(path)) return null;
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** What the agent does before it switches: OTA/trial. */
export function writeTrial(
  tree: ReleaseTree,
  t: { id: string; version: string; previous: string; deadlineS: number },
): void {
  writeKv(join(tree.ota, 'trial'), t);
}

/** Tiny agents: each prints `<tag> running` first. */
export const mains = {
  /** Runs until killed. */
  runs: (tag: string) => `console.log(${JSON.stringify(tag + ' running')}); setInterval(() => {}, 1000);\n`,
  /** Prints `lines` numbered lines and a last one on stderr, then exits 1. */
  exits: (tag: string, lines = 50) =>
    `console.log(${JSON.stringify(tag + ' running')});\n` +
    `for (let i = 1; i <= ${lines}; i++) console.log(${JSON.stringify(tag)} + ' line ' + i);\n` +
    `console.error(${JSON.stringify(tag + ' fails')}); process.exit(1);\n`,
  /** Never commits; with ignoreTerm it also outlives SIGTERM (the watcher's SIGKILL then). */
  hangs: (tag: string, ignoreTerm = false) =>
    `console.log(${JSON.stringify(tag + ' running')});\n` +
    (ignoreTerm ? `process.on('SIGTERM', () => console.log(${JSON.stringify(tag + ' ignores SIGTERM')}));\n` : '') +
    `setInterval(() => {}, 1000);\n`,
  /** Commits as the agent does: trial → committing, then removes committing and trial.starts. */
  commits: (tag: string) =>
    `import { renameSync, rmSync } from 'node:fs';\n` +
    `console.log(${JSON.stringify(tag + ' running')});\n` +
    `const ota = process.env.LOA_OTA_DIR;\n` +
    `setTimeout(() => {\n` +
    `  renameSync(ota + '/trial', ota + '/committing');\n` +
    `  rmSync(ota + '/committing'); rmSync(ota + '/trial.starts', { force: true });\n` +
    `  console.log(${JSON.stringify(tag + ' committed')});\n` +
    `}, 300);\n` +
    `setInterval(() => {}, 1000);\n`,
  /** Writes its environment, argv and node flags as JSON to `file`, then runs. */
  env: (tag: string, file: string) =>
    `import { writeFileSync } from 'node:fs';\n` +
    `const e = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('LOA_')));\n` +
    `writeFileSync(${JSON.stringify(file)}, JSON.stringify({ env: e, argv: process.argv.slice(2), execArgv: process.execArgv, main: process.argv[1] }));\n` +
    `console.log(${JSON.stringify(tag + ' running')}); setInterval(() => {}, 1000);\n`,
};
