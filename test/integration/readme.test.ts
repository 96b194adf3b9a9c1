// The README works as written (issue 30 item 4): every ```sh block runs in the checkout
// and exits 0 within a time limit, except a block right after
// `<!-- readme-test: skip (why) -->`: root, systemd, a real box, a network other than
// loopback, a program that runs until Ctrl-C, or minutes of both cores (those say which,
// and most name the test that covers them). Each block runs in bash with -e, so any
// command that fails fails the block; HOME is a temp dir, so what a block writes under
// `~` lands there (npm keeps the user's cache). Also: the README's own links lead somewhere, the README sections other
// files cite by name exist, and package-lock.json matches package.json (npm ci refuses
// a lockfile out of step).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';
import { groupProcesses, processes } from '../helpers/ps.js';
import { signalGroup } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/tmp.js';

const README = join(REPO_ROOT, 'README.md');
const BLOCK_MS = 120_000;
const NPM_CACHE = process.env.npm_config_cache ?? join(homedir(), '.npm');

interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  /** The reason given in `<!-- readme-test: skip (reason) -->` on the line before the fence. */
  skip?: string;
}

/** The ```sh blocks of a Markdown text, with the skip marker each carries. */
function shellBlocks(md: string): ShellBlock[] {
  const lines = md.split('\n');
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```sh') continue;
    const end = lines.indexOf('```', i + 1);
    if (end < 0) throw new Error(`README line ${i + 1}: a \`\`\`sh block that never closes`);
    const marker = /^<!-- readme-test: skip \((.+)\) -->$/.exec(lines[i - 1] ?? '');
    blocks.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n'), ...(marker ? { skip: marker[1]! } : {}) });
    i = end;
  }
  return blocks;
}

interface BlockRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the block outlived BLOCK_MS: what its process group was doing then. */
  stuck?: string;
}

/**
 * Runs a block as the reader would paste it, stopping at the first command that fails.
 * In a process group of its own: past BLOCK_MS the whole group is listed (where each
 * process sleeps) and killed, so a command stuck under the block (an `npx` holding npm's
 * npx-cache lock) cannot outlive it and stall the next block.
 */
function runBlock(code: string, home: string, limitMs = BLOCK_MS): Promise<BlockRun> {
  const p = spawn('bash', ['-e', '-o', 'pipefail', '-c', code], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // npm's cache stays the user's: `npx noc` in the checkout installs the package itself
    // into it the first time (a link); no update check. Without its lifecycle scripts: the
    // install's `prepare` rebuilds the checkout's dist/ (a newcomer's first `npx noc` does),
    // and release-artifact.test.ts packs that dist/ at the same time (when the two ran
    // together, its two builds of one tree differed: "the same tree gives the same bytes").
    // `npm run X` still runs X (npm's ignore-scripts skips only the pre- and post-scripts).
    env: {
      ...process.env,
      HOME: home,
      npm_config_cache: NPM_CACHE,
      npm_config_update_notifier: 'false',
      npm_config_ignore_scripts: 'true',
    },
  });
  const out = { stdout: '', stderr: '' };
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out.stdout += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (out.stderr += d));
  let stuck: string | undefined;
  const limit = setTimeout(() => {
    stuck = groupProcesses(p.pid!);
    signalGroup(p.pid!, 'SIGKILL');
  }, limitMs);
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    // 'close': the exit and the last of the output (the pipes close after the exit event).
    p.on('close', (status, signal) => {
      clearTimeout(limit);
      signalGroup(p.pid!, 'SIGKILL'); // whatever the block left running in the background
      resolve({ status, signal, ...out, ...(stuck !== undefined ? { stuck } : {}) });
    });
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

const md = readFileSync(README, 'utf8');
const headings = [...md.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1]!.trim());
const blocks = shellBlocks(md);

test('every sh block of the README is run, or says why not', () => {
  assert.ok(blocks.length >= 10, `found only ${blocks.length} blocks`);
  assert.ok(blocks.filter((b) => !b.skip).length >= 3, 'at least the commands that can run here are run');
  for (const b of blocks) assert.notEqual(b.code.trim(), '', `README line ${b.line}: an empty block`);
  // A marker that is not right before a block would silently skip nothing, or the wrong one.
  const markers = md.split('\n').flatMap((l, i) => (l.startsWith('<!-- readme-test') ? [i + 1] : []));
  assert.deepEqual(
    markers,
    blocks.filter((b) => b.skip).map((b) => b.line - 1),
    'each readme-test marker sits on the line before a ```sh block, as `<!-- readme-test: skip (why) -->`',
  );
});

test('a block fails when any of its commands fails', async () => {
  const r = await runBlock('true\nfalse   # the middle one\ntrue', tempDir('readme-home'));
  assert.notEqual(r.status, 0);
  assert.equal(shellBlocks('<!-- readme-test: skip (why) -->\n```sh\nx\n```\n```sh\ny\n```')[0]!.skip, 'why');
});

test('a block past its limit is listed and killed with all it started', async () => {
  const r = await runBlock('sleep 61 &\nsleep 62', tempDir('readme-home'), 1_000);
  assert.notEqual(r.status, 0);
  assert.match(r.stuck ?? '', /sleep 61[\s\S]*sleep 62|sleep 62[\s\S]*sleep 61/, 'both sleeps listed');
  assert.equal(processes((l) => / sleep 6[12]$/.test(l)).split('\n').length, 1, 'nothing of the block is left');
});

for (const b of blocks.filter((x) => !x.skip)) {
  const first = b.code.split('\n')[0]!.replace(/\s+#.*$/, '');
  test(`README line ${b.line}: ${first}`, { timeout: BLOCK_MS + 30_000 }, async () => {
    const home = tempDir('readme-home');
    const r = await runBlock(b.code, home);
    assert.equal(
      r.status,
      0,
      `README line ${b.line} (${r.stuck !== undefined ? `still running after ${BLOCK_MS} ms` : `exit ${r.status} ${r.signal ?? ''}`}):\n` +
        `${b.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}` +
        (r.stuck !== undefined ? `\n--- its processes then\n${r.stuck}` : ''),
    );
    // What it promises to write under ~ is there, private when it is a key.
    for (const m of b.code.matchAll(/--out ~\/(\S+)\//g)) {
      const dir = join(home, m[1]!);
      const keys = readdirSync(dir).filter((f) => f.endsWith('.key.pem'));
      assert.ok(keys.length > 0, `nothing written to ~/${m[1]}/`);
      for (const k of keys) assert.equal(statSync(join(dir, k)).mode & 0o777, 0o600, k);
    }
  });
}

test("the README's links lead to its headings and to files that exist", () => {
  const anchors = new Set(headings.map(slug));
  const links = [...md.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
  assert.ok(links.length > 20);
  for (const link of links) {
    if (/^[a-z]+:/.test(link)) continue; // https:, mailto:
    if (link.startsWith('#')) assert.ok(anchors.has(link.slice(1)), `no heading for ${link}`);
    else assert.ok(existsSync(join(REPO_ROOT, link.split('#')[0]!)), `no file ${link}`);
  }
});

test('the README sections other files cite by name exist', () => {
  const cited = new Map<string, string>([['Configuration', 'docs/errors.md']]);
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      if (e.name.startsWith('.') || ['node_modules', 'dist', 'dist-deb', 'dist-release', 'scratch'].includes(e.name))
        return [];
      const p = join(dir, e.name);
      return e.isDirectory() ? walk(p) : /\.(md|ts|sh)$/.test(e.name) ? [p] : [];
    });
  for (const file of walk(REPO_ROOT)) {
    // `README, "The page on the box"`, `README "Layout"`, `README.md, "arm64 and armhf"`;
    // not `systemd/README.md, "…"`, another folder's README.
    const text = readFileSync(file, 'utf8').replace(/\s+/g, ' ');
    for (const m of text.matchAll(/(?<![\w/.-])README(?:\.md)?[,:]? ?"([^"$]+)"/g))
      cited.set(m[1]!, file.slice(REPO_ROOT.length));
  }
  assert.ok(cited.size >= 5, [...cited.keys()].join(', '));
  for (const [name, where] of cited)
    assert.ok(headings.includes(name), `${where} cites README "${name}": no such heading`);
});

test('package-lock.json is in step with package.json (npm ci installs from it)', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    lockfileVersion: number;
    packages: Record<string, Record<string, unknown>>;
  };
  assert.ok(lock.lockfileVersion >= 2, 'a lockfile npm 7+ reads');
  const root = lock.packages['']!;
  assert.equal(root.name, pkg.name);
  assert.equal(root.version, pkg.version);
  for (const kind of ['dependencies', 'devDependencies', 'optionalDependencies', 'bin']) {
    assert.deepEqual(root[kind] ?? {}, pkg[kind] ?? {}, `package-lock.json's ${kind} differ from package.json's`);
  }
  for (const kind of ['dependencies', 'devDependencies', 'optionalDependencies'])
    for (const name of Object.keys((pkg[kind] ?? {}) as object))
      assert.ok(lock.packages[`node_modules/${name}`], `${name} is not in package-lock.json`);
});
