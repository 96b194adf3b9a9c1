// The tree's layout rules (README "Layout", test/layout/check.ts): no import cycle (type-only
// included), no upward import between the agent's layers, no import between agent/ and
// noc/ (nor from provisioning/ to noc/), no source file over 400 lines. `npm run layout`
// prints the same report with the largest file and function.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLayout, formatReport, MAX_FILE_LINES, REPO_ROOT } from '../layout/check.js';

const report = checkLayout(REPO_ROOT);
const edge = (e: { from: string; line: number; to: string; kind: string }) =>
  `${e.from}:${e.line} -> ${e.to} (${e.kind})`;

test('the checker read the tree: every relative import names a file', { timeout: 60_000 }, () => {
  assert.ok(report.files > 100, formatReport(report));
  assert.ok(report.imports > 500);
  assert.deepEqual(report.unresolved.map(edge), []);
});

test('no import cycle, type-only and dynamic imports included', { timeout: 60_000 }, () => {
  assert.deepEqual(
    report.cycles.map((c) => [...c, c[0]].join(' -> ')),
    [],
  );
});

test('no upward import: domain, adapters and runtime import only what their layer may', { timeout: 60_000 }, () => {
  assert.deepEqual(
    report.upward.map((v) => `${edge(v)} [${v.rule}]`),
    [],
  );
});

test('no import between agent/ and noc/, none from provisioning/ to noc/', { timeout: 60_000 }, () => {
  assert.deepEqual(report.crossings.map(edge), []);
});

test(`no source file over ${MAX_FILE_LINES} lines`, { timeout: 60_000 }, () => {
  assert.deepEqual(
    report.bigFiles.map((f) => `${f.lines} ${f.path}`),
    [],
  );
});
