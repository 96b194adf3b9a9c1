// What a bad config file is told: each zod issue of the config schema (config-schema.ts)
// turned into one line a technician can act on (`mqtt.url: "mqtt:/x" is not a URL`,
// `site.zone: unknown field (did you mean "zones"?)`), secrets hidden, and where in the
// text a JSON syntax error is. Used by config.ts.
import type { z } from 'zod';
import { redact } from './domain/redact.js';
import { configSchema } from './config-schema.js';

type Issue = z.core.$ZodIssue;

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

const KNOWN_FIELDS: Record<string, readonly string[]> = {};

export function describeIssue(issue: Issue, raw: unknown): string {
  const where = issue.path.length === 0 ? '(config)' : formatPath(issue.path);
  const value = valueAt(raw, issue.path);
  // Redacted: a problem line must not print the password it complains about (a URL's
  // userinfo, or a password field of the wrong type, `"password": 12345678`).
  const secret = /^password$/i.test(String(issue.path[issue.path.length - 1] ?? ''));
  const shown = value === undefined ? 'missing' : secret ? '(value hidden)' : redact(JSON.stringify(value));
  switch (issue.code) {
    case 'unrecognized_keys': {
      const siblings = shapeKeysAt(issue.path);
      return issue.keys
        .map((k) => {
          const near = closest(k, siblings);
          const at = issue.path.length === 0 ? k : `${where}.${k}`;
          return `${at}: unknown field${near ? ` (did you mean "${near}"?)` : ''}`;
        })
        .join('; ');
    }
    case 'invalid_type':
      if (value === undefined) return `${where}: missing (required)`;
      if (!issue.message.startsWith('Invalid')) return `${where}: ${shown} ${issue.message}`;
      return `${where}: ${shown} is not ${article(issue.expected)}`;
    default:
      if (value === undefined && issue.message.startsWith('is required'))
        return `${where}: missing, ${issue.message.slice(3)}`;
      if (/^(Invalid|Too |Number must|String must)/.test(issue.message))
        return `${where}: ${shown} is invalid (${issue.message})`;
      return `${where}: ${shown} ${issue.message}`;
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

/** The field names the schema allows at a path, for "did you mean" hints. */
function shapeKeysAt(path: readonly PropertyKey[]): readonly string[] {
  const key = path.map(String).join('.');
  const cached = KNOWN_FIELDS[key];
  if (cached) return cached;
  let s: unknown = configSchema;
  for (const k of [undefined, ...path]) {
    s = unwrap(s);
    if (k === undefined) continue;
    const shape = (s as { shape?: Record<string, unknown> }).shape;
    s = shape?.[String(k)];
  }
  const shape = (unwrap(s) as { shape?: Record<string, unknown> } | undefined)?.shape;
  const keys = shape ? Object.keys(shape) : [];
  KNOWN_FIELDS[key] = keys;
  return keys;
}

function unwrap(s: unknown): unknown {
  // Peel defaults, optionals, pipes and refinements down to the object schema.
  let cur = s as { def?: { innerType?: unknown; in?: unknown; schema?: unknown } } | undefined;
  for (let i = 0; i < 10 && cur?.def; i++) {
    const next = cur.def.innerType ?? cur.def.in ?? cur.def.schema;
    if (!next) break;
    cur = next as typeof cur;
  }
  return cur;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

export function jsonErrorWhere(text: string, err: Error): string {
  const m = /position (\d+)/.exec(err.message);
  if (!m) return err.message;
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `${err.message.replace(/ in JSON at position \d+.*$/, '')} at line ${line}, column ${col}`;
}
