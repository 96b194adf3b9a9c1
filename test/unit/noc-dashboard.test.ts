// The Grafana dashboard is JSON that Grafana imports: valid, a known schemaVersion, a
// geomap of the boxes by latitude and longitude, a per-box drill-down, and every query
// naming only metrics `noc exporter` really exports (METRIC_NAMES). The same check runs
// over the alert rules. (The integration test runs every query against a real Prometheus.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { METRIC_NAMES } from '../../noc/exporter-metrics.js';
import { dashboardQueries, loadDashboard, metricNames, ruleExprs } from '../helpers/dashboard.js';
import { REPO_ROOT } from '../helpers/agent-process.js';

// Prometheus's own series for a scrape target, which the exporter does not print.
const PROMETHEUS_OWN = new Set(['up']);

test('metricNames reads metric names, not functions, labels, keywords or variables', () => {
  const names = metricNames(
    'sum by (device) (increase(loa_a_total{x="y or z"}[1h])) > 0 or (loa_b unless loa_c offset 1h) * on (device) group_left (commune) loa_d{device="$device"} / 1e9 + vector(0)',
  );
  assert.deepEqual([...names].sort(), ['loa_a_total', 'loa_b', 'loa_c', 'loa_d']);
});

test('the dashboard: JSON with schemaVersion, variables, a geomap by lat/lon, a per-box row', () => {
  const d = loadDashboard();
  assert.equal(d.uid, 'loa-fleet');
  assert.ok(d.schemaVersion >= 36, `schemaVersion ${d.schemaVersion} (Grafana 9+)`);
  assert.deepEqual(
    d.templating.list.map((v) => v.name),
    ['datasource', 'commune', 'device', 'archive', 'province'],
  );
  const ids = d.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const geo = d.panels.filter((p) => p.type === 'geomap');
  assert.equal(geo.length, 1, 'one map');
  const layer = (geo[0]!.options as { layers: { location: { mode: string; latitude: string; longitude: string } }[] })
    .layers[0]!;
  assert.deepEqual(layer.location, { mode: 'coords', latitude: 'lat', longitude: 'lon' });
  assert.match(geo[0]!.targets![0]!.expr!, /max by \(device, commune, lat, lon\) \(loa_box_info/);
  assert.ok(
    geo[0]!.transformations!.some((t) => t.id === 'convertFieldType'),
    'lat and lon labels are converted to numbers',
  );
  assert.ok(d.panels.some((p) => p.type === 'row' && p.title === 'Box: $device'));
  assert.ok(
    dashboardQueries(d).filter((q) => q.expr.includes('device="$device"')).length >= 10,
    'a drill-down on $device',
  );
});

test('every dashboard query names only metrics the exporter exports', () => {
  const used = new Set<string>();
  for (const q of dashboardQueries()) {
    const names = metricNames(q.expr);
    assert.ok(names.size > 0, `${q.panel}: no metric in ${q.expr}`);
    for (const n of names) {
      assert.ok(METRIC_NAMES.has(n) || PROMETHEUS_OWN.has(n), `${q.panel}: ${n} is not exported by noc exporter`);
      used.add(n);
    }
  }
  for (const key of [
    'loa_box_online',
    'loa_box_heartbeat_age_seconds',
    'loa_box_state',
    'loa_box_plays_total',
    'loa_box_emergency_unplayed',
    'loa_box_info',
  ])
    assert.ok(used.has(key), `the dashboard shows ${key}`);
});

test('every alert rule names only metrics the exporter exports', () => {
  const dir = join(REPO_ROOT, 'noc/prometheus');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yml') && !f.endsWith('.test.yml'));
  assert.ok(files.length >= 1);
  let n = 0;
  for (const f of files) {
    for (const r of ruleExprs(join(dir, f))) {
      n++;
      for (const name of metricNames(r.expr))
        assert.ok(METRIC_NAMES.has(name) || PROMETHEUS_OWN.has(name), `${f} ${r.name}: ${name} is not exported`);
    }
  }
  assert.ok(n >= 9, `${n} rules read`);
});
