// noc watch --lang vi (issue 30 item 2): the table's words from the one catalogue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FleetModel } from '../../noc/watch-model.js';
import { frame, table } from '../../noc/watch-format.js';

test('noc watch --lang vi: the headers, statuses, counts and banner in Vietnamese, the data as it is', () => {
  const m = new FleetModel({ root: 'loa/v1', defaultPeriodMs: 30_000 });
  const t0 = Date.parse('2026-03-01T00:00:00Z');
  m.apply('loa/v1/d/vn-a/status', JSON.stringify({ online: true, bootId: 'b1', ts: new Date(t0).toISOString() }), t0);
  m.apply('loa/v1/d/vn-b/status', JSON.stringify({ online: false, bootId: 'b2', reason: 'lost' }), t0);
  const rows = m.rows(t0 + 1000);
  const vi = frame(rows, t0 + 1000, t0 - 5000, Infinity, 'vi').join('\n');
  assert.match(vi, /MẤT BROKER từ 23:59:55 UTC \(6 s\)/);
  assert.match(vi, /2 hộp: 1 trực tuyến, 1 ngoại tuyến, 0 im lặng, 0 chưa rõ/);
  assert.match(vi, /HỘP +TRẠNG THÁI/);
  assert.match(vi, /vn-b +NGOẠI TUYẾN \(lost\)/);
  assert.match(table(rows).join('\n'), /DEVICE +STATUS/, 'English unless asked');
});
