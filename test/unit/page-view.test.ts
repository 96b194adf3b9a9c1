// The page's HTML (agent/domain/page-view.ts): what the box and the network said is
// escaped, every fault and refusal comes with what to do, a board that cannot measure
// says so, and the forms carry the session's CSRF token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adviceKey, loginPage, refusalKey, statusPage, type PageModel } from '../../agent/domain/page-view.js';

const model = (o: Partial<PageModel> = {}): PageModel => ({
  lang: 'vi',
  deviceId: 'vn-1',
  site: {},
  csrf: 'tok"en',
  nonce: 'n0',
  flash: [],
  online: false,
  offlineWhy: null,
  playing: null,
  next: null,
  faults: [],
  refusals: [],
  clock: { synced: false, source: 'none' },
  signal: null,
  diskFreeMB: 812,
  volume: 70,
  sound: { measures: false, baseline: null, last: null },
  selftest: null,
  ...o,
});

test('values from the box and the network are escaped, attributes included', () => {
  const html = statusPage(
    model({
      refusals: [
        { ts: '07/12 08:00', type: 'schedule.rejected', reason: 'unknown-key', message: '<script>alert(1)</script>' },
      ],
      site: { communeName: '"><img src=x onerror=alert(1)>' },
      offlineWhy: '<b>',
    }),
  );
  assert.ok(!html.includes('<script>alert'), 'a message is text');
  assert.ok(!html.includes('"><img'), 'a site field cannot close its attribute');
  assert.ok(html.includes('&lt;b&gt;'));
  assert.ok(html.includes('value="tok&quot;en"'), 'the CSRF token, escaped, in every form');
  assert.equal(
    html.match(/name="csrf"/g)?.length,
    4,
    'logout, self-test, tone, site (no baseline form: the board cannot measure)',
  );
});

test('each fault and refusal says what to do; an unmeasuring board says it cannot', () => {
  const html = statusPage(
    model({
      faults: [{ component: 'output', code: 'weak', message: 'the amplifier delivers 50 %' }],
      refusals: [
        { ts: 'x', type: 'schedule.rejected', reason: 'unknown-key', message: 'kid "c" is not a trusted key' },
      ],
    }),
  );
  assert.match(html, /Ampli yếu: kiểm tra điện áp nguồn/);
  assert.match(html, /loa-provision init --trusted-key/);
  assert.match(html, /bo mạch này không đo được công suất ra/);
  assert.match(html, /MẤT KẾT NỐI/);
  assert.equal(adviceKey('line', 'line_open'), 'advice.line');
  assert.equal(adviceKey('something-new', 'x'), 'advice.amp');
  assert.equal(refusalKey('too-large'), 'refusal.other');
});

test('the login page in either language, its language switch, and the CSP nonce on its style', () => {
  const vi = loginPage({ lang: 'vi', deviceId: 'vn-1', nonce: 'abc', error: 'Sai mật khẩu.' });
  assert.match(vi, /<html lang="vi">/);
  assert.match(vi, /<style nonce="abc">/);
  assert.match(vi, /href="\/login\?lang=en">English/);
  assert.match(vi, /role="alert">Sai mật khẩu\./);
  assert.match(loginPage({ lang: 'en', deviceId: 'vn-1', nonce: 'abc' }), /Log in/);
});
