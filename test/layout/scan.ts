// What the layout checker reads from the tree: every .ts file under the checked folders,
// each import it makes (static, dynamic, `import type`, `export ... from`, `import('x')` in a
// type) resolved to a file of ours, its line count, its lines over 120 characters and its
// functions' lengths. Parsed with the TypeScript compiler API (syntax only, no type check),
// so a specifier inside a string or a comment is never taken for an import.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export const CHECKED_DIRS = [
  'agent',
  'contract',
  'cli-kit',
  'demo',
  'firmware-bridge',
  'noc',
  'provisioning',
  'bench',
  'test',
] as const;

/** How an import reaches its target: only `value` and `dynamic` load code at run time. */
export type ImportKind = 'value' | 'type' | 'dynamic';

export interface ImportEdge {
  from: string; // repo-relative path with '/' separators
  to: string;
  kind: ImportKind;
  line: number;
  specifier: string;
}

export interface FunctionSize {
  file: string;
  name: string;
  line: number;
  lines: number;
}

export interface ScannedFile {
  path: string;
  lines: number;
  longLines: number[]; // 1-based line numbers over MAX_LINE_CHARS
  functions: FunctionSize[];
}

export interface Scan {
  files: ScannedFile[];
  edges: ImportEdge[];
  unresolved: ImportEdge[]; // relative specifiers that name no file
}

export const MAX_LINE_CHARS = 120;

const SKIP_DIRS = new Set(['node_modules', 'dist', '.git']);

function listTs(root: string, dir: string, out: string[]): void {
  const abs = join(root, dir);
  if (!existsSync(abs)) return;
  for (const name of readdirSync(abs).sort()) {
    if (SKIP_DIRS.has(name)) continue;
    const rel = `${dir}/${name}`;
    const st = statSync(join(root, rel));
    if (st.isDirectory()) listTs(root, rel, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
}

/** './x.js' from 'a/b.ts' -> 'a/x.ts' (or x/index.ts, or the file itself when it is not .js). */
function resolveSpecifier(root: string, from: string, spec: string): string | undefined {
  const base = resolve(root, dirname(from), spec);
  const candidates = [
    base.replace(/\.js$/, '.ts'),
    base.replace(/\.mjs$/, '.mts'),
    base,
    `${base}.ts`,
    join(base, 'index.ts'),
  ];
  for (const c of candidates) {
    if (existsSync(c) && statSync(c).isFile()) return relative(root, c).split(sep).join('/');
  }
  return undefined;
}

function isTypeOnlyImport(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause) return false; // `import './x.js'` runs the module
  if (clause.isTypeOnly) return true;
  if (clause.name) return false;
  const bindings = clause.namedBindings;
  if (!bindings || !ts.isNamedImports(bindings)) return false;
  // `import { type A, type B }` is elided from the emitted JavaScript like `import type`.
  return bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
}

function isTypeOnlyExport(node: ts.ExportDeclaration): boolean {
  if (node.isTypeOnly) return true;
  const clause = node.exportClause;
  return (
    !!clause && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly)
  );
}

function functionName(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText(sf);
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText(sf);
  if (parent && ts.isPropertyDeclaration(parent)) return parent.name.getText(sf);
  // test('what it checks', () => ...): the callback is named by its call.
  if (parent && ts.isCallExpression(parent) && parent.arguments[0] && ts.isStringLiteralLike(parent.arguments[0])) {
    return `${parent.expression.getText(sf)}('${parent.arguments[0].text.slice(0, 60)}')`;
  }
  return '(anonymous)';
}

function isFunctionLike(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node) ||
    ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node)
  );
}

function scanFile(root: string, path: string, edges: ImportEdge[], unresolved: ImportEdge[]): ScannedFile {
  const text = readFileSync(join(root, path), 'utf8');
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const lineOf = (node: ts.Node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const functions: FunctionSize[] = [];

  const addEdge = (spec: string, kind: ImportKind, node: ts.Node) => {
    if (!spec.startsWith('.')) return; // packages and node: builtins are not ours
    const to = resolveSpecifier(root, path, spec);
    const edge = { from: path, to: to ?? spec, kind, line: lineOf(node), specifier: spec };
    (to ? edges : unresolved).push(edge);
  };

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      addEdge(node.moduleSpecifier.text, isTypeOnlyImport(node) ? 'type' : 'value', node);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      addEdge(node.moduleSpecifier.text, isTypeOnlyExport(node) ? 'type' : 'value', node);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      addEdge(node.moduleReference.expression.text, node.isTypeOnly ? 'type' : 'value', node);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      addEdge(node.arguments[0].text, 'dynamic', node);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      addEdge(node.argument.literal.text, 'type', node);
    }
    if (isFunctionLike(node) && node.body) {
      const start = lineOf(node);
      const end = sf.getLineAndCharacterOfPosition(node.body.getEnd()).line + 1;
      functions.push({ file: path, name: functionName(node, sf), line: start, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);

  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const longLines: number[] = [];
  lines.forEach((l, i) => {
    if (l.length > MAX_LINE_CHARS) longLines.push(i + 1);
  });
  return { path, lines: lines.length, longLines, functions };
}

export function scanTree(root: string, dirs: readonly string[] = CHECKED_DIRS): Scan {
  const paths: string[] = [];
  for (const d of dirs) listTs(root, d, paths);
  const edges: ImportEdge[] = [];
  const unresolved: ImportEdge[] = [];
  const files = paths.map((p) => scanFile(root, p, edges, unresolved));
  return { files, edges, unresolved };
}
