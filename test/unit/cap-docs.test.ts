// docs/cap.md's example mapping, taken from the page itself, run on alerts as Vietnamese
// producers write their areas (the VN-ADMIN code list: provinces and communes in one):
// what a newcomer copies must reach the boxes (issue [3/8]: the documented VN-ADM3 mapping
// met VN-ADMIN alerts and sent nothing, exit 0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mapAlert, type PlayAction } from '../../noc/cap/map.js';
import { readMapping } from '../../noc/cap/mapping.js';
import { validateCap } from '../../noc/cap/validate.js';
import { capTime, capXml } from '../helpers/cap.js';

const page = readFileSync(new URL('../../docs/cap.md', import.meta.url), 'utf8');
const block = page.slice(page.indexOf('## 3. The mapping file'));
const json = /```json\n([\s\S]*?)```/.exec(block)?.[1];
const NOW = Date.now();

const alert = (geocodes: [string, string][]) => {
  const v = validateCap(
    capXml({
      sent: capTime(NOW - 60_000),
      infos: [{ expires: capTime(NOW + 3_600_000), areas: [{ desc: 'Xã Thạnh Lộc', geocodes }] }],
    }),
  );
  assert.ok(v.ok, JSON.stringify(v));
  return v.alert;
};

test('the documented mapping parses, and a VN-ADMIN commune code and province code reach their groups', () => {
  assert.ok(json, 'docs/cap.md §3 has a json block');
  const m = readMapping(JSON.parse(json!), 60);
  assert.ok(m.ok, JSON.stringify(m));
  const commune = mapAlert(alert([['VN-ADMIN', '26734']]), m.mapping, NOW);
  assert.deepEqual(commune.unmatched, []);
  assert.deepEqual(
    commune.actions.map((a) => (a as PlayAction).groups),
    [['c26734']],
  );
  const province = mapAlert(alert([['VN-ADMIN', '79']]), m.mapping, NOW);
  assert.deepEqual(
    province.actions.map((a) => (a as PlayAction).groups),
    [['c26734', 'c26737']],
  );
  // A list the mapping lacks fails loudly, naming what there is.
  const other = mapAlert(alert([['VN-ADM3', '26734']]), m.mapping, NOW);
  assert.deepEqual(other.actions, []);
  assert.match(other.unmatched[0] ?? '', /VN-ADM3=26734.*the mapping's geocodes: VN-ADMIN \(3 values/);
});
