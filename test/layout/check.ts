// The layout checker (npm run layout; README "Layout"): reads every .ts import of agent/,
// contract/, cli-kit/, demo/, firmware-bridge/, noc/, provisioning/, bench/ and test/
// (scan.ts) and prints
// - import cycles, type-only and dynamic imports included, each cycle listed;
// - upward imports: a layer importing a layer it must not (LAYERS and ALLOWED below);
// - crossings between programs: agent/ <-> noc/, provisioning/ -> noc/;
// - source files (all but test/) over 400 lines, lines over 120 characters, the largest
//   file and the largest function.
// Exit 1 when a rule is broken: a cycle, an upward import, a crossing, a source file over
// 400 lines or a relative import that names no file. Long lines are counted, not failed
// (prettier leaves strings and comments as they are). test/unit/layout.test.ts runs it.
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { scanTree, type FunctionSize, type ImportEdge, type Scan } from './scan.js';

export const MAX_FILE_LINES = 400;

/** A file's layer: the first prefix that matches its repo-relative path. */
const LAYERS: readonly (readonly [prefix: string, layer: string])[] = [
  ['contract/', 'contract'],
  ['cli-kit/', 'cli-kit'],
  ['agent/domain/', 'agent/domain'],
  ['agent/adapters/', 'agent/adapters'],
  ['agent/runtime/', 'agent/runtime'],
  ['agent/compose/', 'agent/compose'],
  // The agent's two leaves every layer uses: error codes (no import) and the logger
  // (pino + domain's redaction).
  ['agent/errors.ts', 'agent/base'],
  ['agent/log.ts', 'agent/base'],
  ['agent/', 'agent'],
  ['firmware-bridge/', 'firmware-bridge'],
  ['noc/', 'noc'],
  ['provisioning/', 'provisioning'],
  ['demo/', 'demo'],
  ['bench/', 'bench'],
  ['test/', 'test'],
];

interface Allowed {
  any: readonly string[]; // layers it may import at all
  typeOnly?: readonly string[]; // layers it may import only with `import type`
}

/** What a layer may import; a layer not listed may import any layer (the crossings still hold). */
const ALLOWED: Readonly<Record<string, Allowed>> = {
  contract: { any: ['contract'] },
  'cli-kit': { any: ['cli-kit'] },
  'agent/domain': { any: ['agent/domain', 'contract'] },
  'agent/base': { any: ['agent/base', 'agent/domain', 'contract'] },
  'agent/adapters': {
    any: ['agent/domain', 'contract', 'cli-kit', 'agent/adapters', 'firmware-bridge', 'agent/base'],
  },
  'agent/runtime': { any: ['agent/domain', 'contract', 'agent/runtime', 'agent/base'], typeOnly: ['agent/adapters'] },
};

/** Imports between programs that never happen, in either listed direction. */
const CROSSINGS: readonly (readonly [from: string, to: string])[] = [
  ['agent/', 'noc/'],
  ['noc/', 'agent/'],
  ['provisioning/', 'noc/'],
];

export function layerOf(path: string): string {
  for (const [prefix, layer] of LAYERS) if (path === prefix || path.startsWith(prefix)) return layer;
  return 'other';
}

export interface Violation extends ImportEdge {
  rule: string;
}

export interface LayoutReport {
  files: number;
  imports: number;
  cycles: string[][];
  upward: Violation[];
  crossings: Violation[];
  unresolved: ImportEdge[];
  bigFiles: { path: string; lines: number }[]; // source files over MAX_FILE_LINES
  longLines: { total: number; byFile: { path: string; count: number }[] };
  largestFile: { path: string; lines: number } | undefined;
  largestFunction: FunctionSize | undefined;
  largestTestFile: { path: string; lines: number } | undefined;
  largestTestFunction: FunctionSize | undefined;
}

const isTest = (path: string) => path.startsWith('test/');

function upwardRule(edge: ImportEdge): string | undefined {
  const from = layerOf(edge.from);
  const to = layerOf(edge.to);
  const allowed = ALLOWED[from];
  if (!allowed || allowed.any.includes(to)) return undefined;
  if (allowed.typeOnly?.includes(to)) {
    return edge.kind === 'type' ? undefined : `${from} imports ${to} only with \`import type\``;
  }
  return `${from} imports only ${[...allowed.any, ...(allowed.typeOnly ?? []).map((l) => `${l} (types)`)].join(', ')}`;
}

/** Strongly connected components (Tarjan), iteratively so a deep graph cannot overflow the stack. */
function components(nodes: string[], next: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: string; i: number }[] = [{ node: root, i: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const succ = next.get(top.node) ?? [];
      if (top.i < succ.length) {
        const w = succ[top.i++]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, i: 0 });
        } else if (onStack.has(w)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(top.node)!));
      if (low.get(top.node) === index.get(top.node)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== top.node);
        out.push(comp.sort());
      }
    }
  }
  return out;
}

/** Every elementary cycle of one component, each starting at its smallest file (capped). */
function cyclesIn(comp: string[], next: Map<string, string[]>, cap = 200): string[][] {
  const inComp = new Set(comp);
  const cycles: string[][] = [];
  for (const start of comp) {
    const path = [start];
    const onPath = new Set(path);
    const walk = (node: string): void => {
      for (const w of next.get(node) ?? []) {
        if (cycles.length >= cap || !inComp.has(w) || w < start) continue;
        if (w === start) cycles.push([...path]);
        else if (!onPath.has(w)) {
          path.push(w);
          onPath.add(w);
          walk(w);
          onPath.delete(w);
          path.pop();
        }
      }
    };
    walk(start);
  }
  return cycles;
}

export function findCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    const list = next.get(e.from) ?? [];
    if (!list.includes(e.to)) list.push(e.to);
    next.set(e.from, list);
  }
  for (const list of next.values()) list.sort();
  const nodes = [...new Set(edges.flatMap((e) => [e.from, e.to]))].sort();
  const cycles: string[][] = [];
  for (const comp of components(nodes, next)) {
    const selfLoop = comp.length === 1 && next.get(comp[0]!)?.includes(comp[0]!);
    if (comp.length > 1 || selfLoop) cycles.push(...cyclesIn(comp, next));
  }
  return cycles;
}

const largest = <T>(items: T[], size: (t: T) => number): T | undefined =>
  items.reduce<T | undefined>((best, t) => (best === undefined || size(t) > size(best) ? t : best), undefined);

export function checkLayout(root: string, scan: Scan = scanTree(root)): LayoutReport {
  const upward: Violation[] = [];
  const crossings: Violation[] = [];
  for (const e of scan.edges) {
    const crossing = CROSSINGS.find(([f, t]) => e.from.startsWith(f) && e.to.startsWith(t));
    if (crossing) crossings.push({ ...e, rule: `nothing in ${crossing[0]} imports ${crossing[1]}` });
    const rule = upwardRule(e);
    if (rule) upward.push({ ...e, rule });
  }
  const source = scan.files.filter((f) => !isTest(f.path));
  const tests = scan.files.filter((f) => isTest(f.path));
  const byFile = scan.files
    .filter((f) => f.longLines.length > 0)
    .map((f) => ({ path: f.path, count: f.longLines.length }))
    .sort((a, b) => b.count - a.count || a.path.localeCompare(b.path));
  const size = (f: { path: string; lines: number }) => ({ path: f.path, lines: f.lines });
  const lf = largest(source, (f) => f.lines);
  const ltf = largest(tests, (f) => f.lines);
  return {
    files: scan.files.length,
    imports: scan.edges.length,
    cycles: findCycles(scan.edges),
    upward,
    crossings,
    unresolved: scan.unresolved,
    bigFiles: source
      .filter((f) => f.lines > MAX_FILE_LINES)
      .map(size)
      .sort((a, b) => b.lines - a.lines),
    longLines: { total: byFile.reduce((n, f) => n + f.count, 0), byFile },
    largestFile: lf && size(lf),
    largestFunction: largest(
      source.flatMap((f) => f.functions),
      (f) => f.lines,
    ),
    largestTestFile: ltf && size(ltf),
    largestTestFunction: largest(
      tests.flatMap((f) => f.functions),
      (f) => f.lines,
    ),
  };
}

export function brokenRules(r: LayoutReport): number {
  return r.cycles.length + r.upward.length + r.crossings.length + r.bigFiles.length + r.unresolved.length;
}

const edgeText = (e: ImportEdge) =>
  `${e.from}:${e.line} -> ${e.to}${e.kind === 'value' ? '' : ` (${e.kind === 'type' ? 'type-only' : 'dynamic'})`}`;

export function formatReport(r: LayoutReport): string {
  const out: string[] = [`layout: ${r.files} .ts files, ${r.imports} imports of ours`];
  const section = (title: string, lines: string[]) => {
    out.push('', `${title}: ${lines.length}`);
    for (const l of lines) out.push(`  ${l}`);
  };
  section(
    'import cycles',
    r.cycles.map((c) => [...c, c[0]].join(' -> ')),
  );
  section(
    'upward imports',
    r.upward.map((v) => `${edgeText(v)}  [${v.rule}]`),
  );
  section(
    'imports between programs',
    r.crossings.map((v) => `${edgeText(v)}  [${v.rule}]`),
  );
  section(
    'relative imports naming no file',
    r.unresolved.map((e) => `${e.from}:${e.line} '${e.specifier}'`),
  );
  section(
    `source files over ${MAX_FILE_LINES} lines`,
    r.bigFiles.map((f) => `${f.lines}  ${f.path}`),
  );
  out.push('', `lines over 120 characters: ${r.longLines.total} in ${r.longLines.byFile.length} files (not a failure)`);
  for (const f of r.longLines.byFile.slice(0, 10)) out.push(`  ${f.count}  ${f.path}`);
  const fn = (f: FunctionSize | undefined) => (f ? `${f.lines} lines, ${f.name} (${f.file}:${f.line})` : '-');
  const file = (f: { path: string; lines: number } | undefined) => (f ? `${f.lines} lines, ${f.path}` : '-');
  out.push(
    '',
    `largest source file: ${file(r.largestFile)}`,
    `largest source function: ${fn(r.largestFunction)}`,
    `largest test file: ${file(r.largestTestFile)}`,
    `largest test function: ${fn(r.largestTestFunction)}`,
  );
  const broken = brokenRules(r);
  out.push('', broken === 0 ? 'layout: OK' : `layout: ${broken} broken rule(s)`);
  return out.join('\n');
}

// The checkout (LOA_REPO_ROOT when the tests run compiled: test/helpers/paths.ts).
export const REPO_ROOT = process.env.LOA_REPO_ROOT ?? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const report = checkLayout(REPO_ROOT);
  console.log(formatReport(report));
  process.exitCode = brokenRules(report) === 0 ? 0 : 1;
}
