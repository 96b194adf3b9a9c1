// The error codes are part of the operator interface (agent/errors.ts): every code the
// agent can log must be in the ErrorCode union and explained in docs/errors.md, and the
// table must not describe codes that no longer exist.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/paths.js';

const root = REPO_ROOT;

function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

function errorCodes(): Set<string> {
  const src = readFileSync(join(root, 'agent/errors.ts'), 'utf8');
  const union = /export type ErrorCode =([^;]+);/.exec(src);
  assert.ok(union, 'agent/errors.ts declares the ErrorCode union');
  return new Set([...union[1]!.matchAll(/'([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1]!));
}

function documentedCodes(): Set<string> {
  const md = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  return new Set([...md.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]!));
}

test('every code of agent/errors.ts has a row in docs/errors.md, and every row a code', () => {
  const codes = errorCodes();
  const documented = documentedCodes();
  assert.deepEqual(
    [...codes].filter((c) => !documented.has(c)),
    [],
    'codes missing from docs/errors.md',
  );
  assert.deepEqual(
    [...documented].filter((c) => !codes.has(c)),
    [],
    'docs/errors.md rows with no code in agent/errors.ts',
  );
});

test('every code logged as a literal (log.warn({ code: ... })) is in the ErrorCode union', () => {
  const codes = errorCodes();
  const logged = new Map<string, string>();
  // `log.warn({ code: 'X' ...`, `this.log.error({ ...code: 'X'`, `o.log[level]({ code: 'X'`.
  const call = /(?:\.(?:fatal|error|warn|info|debug|trace)|\])\(\{[^}]*?\bcode: '([A-Z][A-Z0-9_]+)'/g;
  for (const f of [...tsFiles('agent'), ...tsFiles('firmware-bridge')]) {
    for (const m of readFileSync(join(root, f), 'utf8').matchAll(call)) logged.set(m[1]!, f);
  }
  assert.ok(logged.size >= 20, `the scan finds the logged codes (found ${logged.size})`);
  assert.deepEqual(
    [...logged].filter(([c]) => !codes.has(c)).map(([c, f]) => `${c} (${f})`),
    [],
    'logged codes missing from ErrorCode',
  );
});
