// The alert rules of noc/prometheus/ as Prometheus reads them: `promtool check rules`
// (syntax, templates) and `promtool test rules` (loa-alerts.test.yml: one unit test per
// alert, with series as `noc exporter` prints them). Debian's `prometheus` package
// provides promtool (.ci/run installs it); missing, the test skips, and under CI=true fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/agent-process.js';
import { prometheusMissing } from '../helpers/prometheus.js';

const missing = prometheusMissing();
if (missing && process.env.CI === 'true') throw new Error(`${missing}: CI must check the alert rules`);
const DIR = join(REPO_ROOT, 'noc/prometheus');

const promtool = (...args: string[]) => spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });

test('promtool check rules: every rule file is valid', { skip: missing ?? false }, () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yml') && !f.endsWith('.test.yml'));
  const r = promtool('check', 'rules', ...files);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: \d+ rules found/);
});

test('promtool test rules: each alert fires when it should, and only then', { skip: missing ?? false }, () => {
  const tests = readdirSync(DIR).filter((f) => f.endsWith('.test.yml'));
  assert.ok(tests.length >= 1);
  const r = promtool('test', 'rules', ...tests);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /FAILED/);
});

test('every alert of the rule files has a unit test', () => {
  const alerts = new Set<string>();
  const tested = new Set<string>();
  for (const f of readdirSync(DIR)) {
    const text = readFileSync(join(DIR, f), 'utf8');
    for (const m of text.matchAll(f.endsWith('.test.yml') ? /alertname: (\w+)/g : /- alert: (\w+)/g))
      (f.endsWith('.test.yml') ? tested : alerts).add(m[1]!);
  }
  assert.ok(alerts.size >= 9);
  assert.deepEqual(
    [...alerts].filter((a) => !tested.has(a)),
    [],
    'alerts without a promtool test',
  );
});

test('every alert says what happened and what to do in Vietnamese and in English, with the same template values', () => {
  const expr = (s: string) => new Set(s.match(/\{\{.*?\}\}/g) ?? []);
  let alerts = 0;
  for (const f of readdirSync(DIR).filter((x) => x.endsWith('.yml') && !x.endsWith('.test.yml'))) {
    const text = readFileSync(join(DIR, f), 'utf8');
    for (const block of text.split(/\n\s*- alert: /).slice(1)) {
      const name = /^(\w+)/.exec(block)![1]!;
      const ann = (k: string) => {
        // One line ("k: …") or a folded block ("k: >-" and the indented lines under it).
        const m = new RegExp(`\\n(\\s+)${k}: (.*)((?:\\n\\1  .*)*)`).exec(block);
        if (!m) return '';
        if (m[2] === '>-') return m[3]!.trim().replace(/\s*\n\s*/g, ' ');
        // A double-quoted YAML scalar written as JSON (the Vietnamese ones), or a plain one.
        return m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
      };
      for (const [en, vi] of [
        ['summary', 'summary_vi'],
        ['action', 'action_vi'],
      ] as const) {
        assert.ok(ann(en).length > 10, `${f} ${name}: ${en}`);
        assert.ok(ann(vi).length > 10, `${f} ${name}: ${vi}`);
        for (const x of expr(ann(vi))) assert.ok(ann(en).includes(x), `${f} ${name}: ${vi} uses ${x}, ${en} does not`);
      }
      alerts++;
    }
  }
  assert.ok(alerts >= 18, `${alerts} alerts`);
});
