// The technician's page on the box (issue [7/8]), as HTML: the login, and the status with
// its forms. Pure: a model in, a string out; every value from the box or the network is
// escaped. One file, no build step, no external resource: inline CSS for a 360 px phone,
// and one small inline script (its nonce in the CSP) that only fills the coordinates from
// the phone's GPS. Every form is a plain POST with the session's CSRF token.
import { t, type Lang, type MessageKey } from '../../contract/messages.js';

export interface SiteFields {
  communeName?: string | undefined;
  communeCode?: string | undefined;
  province?: string | undefined;
  lat?: number | undefined;
  lon?: number | undefined;
  installer?: string | undefined;
}

export interface Flash {
  ok: boolean;
  text: string;
}

export interface PageModel {
  lang: Lang;
  deviceId: string;
  site: SiteFields;
  csrf: string;
  nonce: string;
  flash: readonly Flash[];
  online: boolean;
  offlineWhy: string | null;
  playing: { itemId: string; source: string; since: string } | null;
  next: { itemId: string; at: string } | null;
  faults: readonly { component: string; code: string; message: string }[];
  refusals: readonly { ts: string; type: string; reason: string; message: string }[];
  clock: { synced: boolean | null; source: string };
  signal: { bearer?: string; signal?: number | null; operator?: string } | null;
  diskFreeMB: number | null;
  volume: number | null;
  sound: { measures: boolean; baseline: string | null; last: string | null };
  selftest: { passed: boolean; checks: readonly { name: string; ok: boolean; detail: string; hint?: string }[] } | null;
}

export function esc(s: unknown): string {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

const CSS = `*{box-sizing:border-box}body{margin:0;font:16px/1.4 system-ui,sans-serif;color:#111;background:#f4f4f2}
header{background:#7a1d12;color:#fff;padding:10px 12px;display:flex;flex-wrap:wrap;gap:8px;align-items:center}
header h1{font-size:18px;margin:0;flex:1 1 auto}header a,header button{color:#fff}
main{padding:8px;max-width:640px;margin:auto}section{background:#fff;border-radius:6px;margin:8px 0;padding:10px 12px}
h2{font-size:16px;margin:0 0 6px}.ok{color:#176b2c}.bad{color:#a4120c;font-weight:600}.muted{color:#555}
ul{margin:0;padding-left:18px}li{margin:4px 0;overflow-wrap:anywhere}.todo{display:block;color:#444;font-size:14px}
.flash{padding:8px 12px;border-radius:6px;margin:8px 0}.flash.ok{background:#dff3e4}.flash.bad{background:#fbe1de}
form{margin:6px 0}label{display:block;font-size:14px;margin-top:6px}
input,select{font:inherit;width:100%;padding:8px;border:1px solid #999;border-radius:4px}
button{font:inherit;padding:10px 14px;margin-top:8px;border:0;border-radius:4px;background:#7a1d12;color:#fff;min-height:44px}
header form{margin:0}header button{background:transparent;border:1px solid #fff;padding:4px 8px;min-height:0;margin:0}
.row{display:flex;gap:8px}.row>*{flex:1}dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:4px 10px}dt{color:#555}dd{margin:0;overflow-wrap:anywhere}`;

function frame(m: { lang: Lang; deviceId: string; nonce: string }, body: string, head = ''): string {
  return `<!doctype html><html lang="${m.lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(t(m.lang, 'page.title', { deviceId: m.deviceId }))}</title><style nonce="${m.nonce}">${CSS}</style>${head}</head><body>${body}</body></html>`;
}

const other = (lang: Lang): Lang => (lang === 'vi' ? 'en' : 'vi');

export function loginPage(m: { lang: Lang; deviceId: string; nonce: string; error?: string }): string {
  const L = (k: MessageKey) => esc(t(m.lang, k));
  return frame(
    m,
    `<header><h1>${esc(t(m.lang, 'page.title', { deviceId: m.deviceId }))}</h1><a href="/login?lang=${other(m.lang)}">${L('page.lang.other')}</a></header><main><section>${m.error ? `<p class="bad" role="alert">${esc(m.error)}</p>` : ''}<form method="post" action="/login"><input type="hidden" name="lang" value="${m.lang}"><label for="pw">${L('page.password')}</label><input id="pw" name="password" type="password" autocomplete="current-password" required autofocus><button type="submit">${L('page.login')}</button></form></section></main>`,
  );
}

export function statusPage(m: PageModel): string {
  const L = (k: MessageKey, v?: Record<string, string | number>) => esc(t(m.lang, k, v));
  const csrf = `<input type="hidden" name="csrf" value="${esc(m.csrf)}">`;
  const flash = m.flash.map((f) => `<p class="flash ${f.ok ? 'ok' : 'bad'}" role="status">${esc(f.text)}</p>`).join('');
  const conn = m.online
    ? `<p class="ok">✓ ${L('page.online')}</p>`
    : `<p class="bad">✗ ${L('page.offline')}</p><p>${L('page.offline.why', { why: m.offlineWhy ?? t(m.lang, 'page.offline.unknown') })}</p>`;
  const playing = m.playing
    ? `${esc(m.playing.itemId)} (${esc(m.playing.source)}), ${esc(m.playing.since)}`
    : L('page.playing.none');
  const next = m.next ? `${esc(m.next.itemId)}, ${esc(m.next.at)}` : L('page.next.none');
  const faults =
    m.faults.length === 0
      ? `<p class="ok">${L('page.faults.none')}</p>`
      : `<ul>${m.faults.map((f) => `<li><span class="bad">${esc(f.component)}/${esc(f.code)}</span>: ${esc(f.message)}<span class="todo">${L('page.todo', { what: t(m.lang, adviceKey(f.component, f.code)) })}</span></li>`).join('')}</ul>`;
  const refusals =
    m.refusals.length === 0
      ? `<p class="muted">${L('page.refusals.none')}</p>`
      : `<ul>${m.refusals.map((r) => `<li>${esc(r.ts)} <b>${esc(r.type)}</b> ${esc(r.reason)}: ${esc(r.message)}<span class="todo">${L('page.todo', { what: t(m.lang, refusalKey(r.reason)) })}</span></li>`).join('')}</ul>`;
  const clock =
    m.clock.synced === true
      ? `<span class="ok">${L('page.clock.synced', { source: m.clock.source })}</span>`
      : m.clock.synced === false
        ? `<span class="bad">${L('page.clock.unsynced')}</span>`
        : L('page.clock.unknown');
  const sig = m.signal
    ? [m.signal.bearer, m.signal.signal != null ? `${m.signal.signal} %` : null, m.signal.operator]
        .filter((x) => x)
        .map(esc)
        .join(', ')
    : L('page.signal.none');
  const sound = !m.sound.measures
    ? L('page.sound.cannot')
    : `${m.sound.baseline ? esc(m.sound.baseline) : L('page.sound.none')}${m.sound.last ? `<br><span class="muted">${L('page.sound.last', { what: m.sound.last })}</span>` : ''}`;
  const st = m.selftest
    ? `<p class="${m.selftest.passed ? 'ok' : 'bad'}">${L(m.selftest.passed ? 'page.selftest.passed' : 'page.selftest.failed')}</p><ul>${m.selftest.checks.map((c) => `<li><span class="${c.ok ? 'ok' : 'bad'}">${c.ok ? '✓' : '✗'} ${esc(c.name)}</span>: ${esc(c.detail)}${c.hint ? `<span class="todo">${esc(c.hint)}</span>` : ''}</li>`).join('')}</ul>`
    : '';
  const levels = [10, 25, 50, 75, 100].map((v) => `<option${v === 50 ? ' selected' : ''}>${v}</option>`).join('');
  const secs = [3, 10, 30, 60].map((v) => `<option${v === 10 ? ' selected' : ''}>${v}</option>`).join('');
  const s = m.site;
  const field = (name: string, key: MessageKey, value: unknown, extra = '') =>
    `<label for="${name}">${L(key)}</label><input id="${name}" name="${name}" value="${value === undefined ? '' : esc(value)}"${extra}>`;
  const baseline = m.sound.measures
    ? `<form method="post" action="/baseline">${csrf}<label><input type="checkbox" name="replace" value="1" style="width:auto"> ${L('page.baseline.replace')}</label><button type="submit">${L('page.baseline.record')}</button></form>`
    : '';
  const body = `<header><h1>${esc(t(m.lang, 'page.title', { deviceId: m.deviceId }))}</h1><a href="/?lang=${other(m.lang)}">${L('page.lang.other')}</a><a href="/">${L('page.refresh')}</a><form method="post" action="/logout">${csrf}<button type="submit">${L('page.logout')}</button></form></header><main>${flash}
<section>${conn}<dl><dt>${L('page.playing')}</dt><dd>${playing}</dd><dt>${L('page.next')}</dt><dd>${next}</dd><dt>${L('page.clock')}</dt><dd>${clock}</dd><dt>${L('page.signal')}</dt><dd>${sig}</dd><dt>${L('page.disk')}</dt><dd>${m.diskFreeMB === null ? '?' : `${m.diskFreeMB} MB`}</dd><dt>${L('page.volume')}</dt><dd>${m.volume === null ? '?' : `${m.volume} %`}</dd></dl></section>
<section><h2>${L('page.faults')}</h2>${faults}</section>
<section><h2>${L('page.refusals')}</h2>${refusals}</section>
<section><h2>${L('page.selftest')}</h2>${st}<form method="post" action="/selftest">${csrf}<button type="submit">${L('page.selftest.run')}</button></form></section>
<section><h2>${L('page.tone')}</h2><p class="muted">${L('page.tone.warn')}</p><form method="post" action="/tone">${csrf}<div class="row"><div><label for="level">${L('page.tone.level')}</label><select id="level" name="level">${levels}</select></div><div><label for="seconds">${L('page.tone.seconds')}</label><select id="seconds" name="seconds">${secs}</select></div></div><button type="submit">${L('page.tone.play')}</button></form></section>
<section><h2>${L('page.sound')}</h2><p>${sound}</p>${baseline}</section>
<section><h2>${L('page.site')}</h2><form method="post" action="/site" id="site">${csrf}${field('communeName', 'page.site.commune', s.communeName)}${field('communeCode', 'page.site.code', s.communeCode)}${field('province', 'page.site.province', s.province)}<div class="row"><div>${field('lat', 'page.site.lat', s.lat, ' inputmode="decimal"')}</div><div>${field('lon', 'page.site.lon', s.lon, ' inputmode="decimal"')}</div></div><button type="button" id="gps">${L('page.site.gps')}</button><p class="muted" id="gpsnote" hidden>${L('page.site.gps.https')}</p>${field('installer', 'page.site.installer', s.installer)}<button type="submit">${L('page.site.save')}</button></form></section></main>
<script nonce="${m.nonce}">document.getElementById('gps').onclick=function(){if(!window.isSecureContext||!navigator.geolocation){document.getElementById('gpsnote').hidden=false;return}navigator.geolocation.getCurrentPosition(function(p){document.getElementById('lat').value=p.coords.latitude.toFixed(6);document.getElementById('lon').value=p.coords.longitude.toFixed(6)},function(){document.getElementById('gpsnote').hidden=false})}</script>`;
  return frame(m, body);
}

export function adviceKey(component: string, code: string): MessageKey {
  const exact = `advice.${component}/${code}`;
  if (exact === 'advice.output/weak') return exact;
  const known = ['amp', 'output', 'line', 'mains', 'door', 'mcu', 'fm', 'gpio'];
  return (known.includes(component) ? `advice.${component}` : 'advice.amp') as MessageKey;
}

export function refusalKey(reason: string): MessageKey {
  const known = ['unknown-key', 'signature', 'expired', 'replay', 'target'];
  return (known.includes(reason) ? `refusal.${reason}` : 'refusal.other') as MessageKey;
}
