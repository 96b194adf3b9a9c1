// The Grafana dashboard (noc/grafana/loa-fleet.json) and the alert rules
// (noc/prometheus/*.yml) as the tests read them: every PromQL expression, and the metric
// names an expression reads, so a test can check them against what `noc exporter` exports.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './agent-process.js';

export const DASHBOARD = join(REPO_ROOT, 'noc/grafana/loa-fleet.json');

export interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  /** PromQL targets have `expr`; the PostgreSQL archive's (issue 31) have `rawSql`. */
  targets?: { expr?: string; rawSql?: string; refId: string }[];
  options?: Record<string, unknown>;
  transformations?: { id: string; options: unknown }[];
  panels?: Panel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: {
    list: { name: string; type: string; query?: unknown; definition?: string; current?: { value?: string } }[];
  };
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
}

export interface Query {
  panel: string;
  expr: string;
  /** The panel says it is empty when all is well (a list of problems). */
  mayBeEmpty: boolean;
}

/** The PromQL queries (Prometheus panels). */
export function dashboardQueries(d: Dashboard = loadDashboard()): Query[] {
  const all = d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  return all.flatMap((p) =>
    (p.targets ?? []).flatMap((t) =>
      t.expr === undefined
        ? []
        : [{ panel: p.title, expr: t.expr, mayBeEmpty: /empty when all is well/i.test(p.description ?? '') }],
    ),
  );
}

/** The SQL queries on the PostgreSQL archive, with the dashboard's variables at their defaults. */
export function dashboardSql(d: Dashboard = loadDashboard()): { panel: string; sql: string }[] {
  const vars = new Map(d.templating.list.map((v) => [v.name, v.current?.value ?? '']));
  const all = d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  return all.flatMap((p) =>
    (p.targets ?? []).flatMap((t) =>
      t.rawSql === undefined
        ? []
        : [{ panel: p.title, sql: t.rawSql.replace(/\$(\w+)/g, (m, name: string) => vars.get(name) ?? m) }],
    ),
  );
}

/** The `expr:` of every rule in a Prometheus rule file (block scalar or one line). */
export function ruleExprs(path: string): { name: string; expr: string }[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: { name: string; expr: string }[] = [];
  let name = '';
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)-?\s*(alert|record): (\S+)/.exec(lines[i]!);
    if (m) name = m[3]!;
    const e = /^(\s*)expr:\s*(.*)$/.exec(lines[i]!);
    if (!e) continue;
    if (e[2] !== '|' && e[2] !== '>' && e[2] !== '|-') {
      out.push({ name, expr: e[2]! });
      continue;
    }
    const indent = e[1]!.length;
    const body: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || lines[i + 1]!.search(/\S/) > indent))
      body.push(lines[++i]!);
    out.push({ name, expr: body.join('\n').trim() });
  }
  return out;
}

const KEYWORDS = new Set([
  'by',
  'on',
  'without',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression reads (not functions, labels, keywords or variables). */
export function metricNames(expr: string): Set<string> {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\w+/g, ' '); // Grafana variables
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1]!.toLowerCase())) continue; // a function call, or a keyword
    if (/^\d/.test(m[1]!) || /^(e|E)\d/.test(m[1]!)) continue;
    names.add(m[1]!);
  }
  return names;
}
