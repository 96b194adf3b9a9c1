// CAP 1.2 messages for tests, written as an alerting authority would: an <alert> with
// its infos, areas (geocodes, polygons, circles) and resources, in the schema's order.
export const CAP_NS = 'urn:oasis:names:tc:emergency:cap:1.2';

export interface TestResource {
  desc?: string;
  mime?: string;
  uri?: string;
  derefUri?: string;
  size?: number;
  digest?: string;
}
export interface TestArea {
  desc?: string;
  polygons?: string[];
  circles?: string[];
  geocodes?: [string, string][];
}
export interface TestInfo {
  language?: string;
  category?: string;
  event?: string;
  urgency?: string;
  severity?: string;
  certainty?: string;
  expires?: string;
  senderName?: string;
  headline?: string;
  description?: string;
  instruction?: string;
  resources?: TestResource[];
  areas?: TestArea[];
}
export interface TestAlert {
  identifier?: string;
  sender?: string;
  sent?: string;
  status?: string;
  msgType?: string;
  scope?: string;
  references?: string;
  note?: string;
  infos?: TestInfo[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const el = (name: string, v: string | number | undefined, pad: string) =>
  v === undefined ? '' : `${pad}<${name}>${esc(String(v))}</${name}>\n`;

/** CAP dateTime of an instant, in +07:00 (Vietnam), as CAP writes it (no "Z", no fractions). */
export function capTime(ms: number, offsetH = 7): string {
  const d = new Date(ms + offsetH * 3_600_000);
  const sign = offsetH < 0 ? '-' : '+';
  return `${d.toISOString().slice(0, 19)}${sign}${String(Math.abs(offsetH)).padStart(2, '0')}:00`;
}

export function capXml(a: TestAlert = {}): string {
  const infos = (a.infos ?? [{}])
    .map((i) => {
      const res = (i.resources ?? [])
        .map(
          (r) =>
            `    <resource>\n${el('resourceDesc', r.desc ?? 'Bản tin cảnh báo', '      ')}${el('mimeType', r.mime ?? 'audio/mpeg', '      ')}${el('size', r.size, '      ')}${el('uri', r.uri, '      ')}${el('derefUri', r.derefUri, '      ')}${el('digest', r.digest, '      ')}    </resource>\n`,
        )
        .join('');
      const areas = (i.areas ?? [{ geocodes: [['VN-ADM3', '26734']] }])
        .map(
          (ar) =>
            `    <area>\n${el('areaDesc', ar.desc ?? 'Xã Thạnh Lộc', '      ')}${(ar.polygons ?? []).map((p) => el('polygon', p, '      ')).join('')}${(ar.circles ?? []).map((c) => el('circle', c, '      ')).join('')}${(
              ar.geocodes ?? []
            )
              .map(
                ([n, v]) =>
                  `      <geocode>\n        <valueName>${esc(n)}</valueName>\n        <value>${esc(v)}</value>\n      </geocode>\n`,
              )
              .join('')}    </area>\n`,
        )
        .join('');
      return `  <info>\n${el('language', i.language ?? 'vi-VN', '    ')}${el('category', i.category ?? 'Met', '    ')}${el('event', i.event ?? 'Bão', '    ')}${el('urgency', i.urgency ?? 'Immediate', '    ')}${el('severity', i.severity ?? 'Extreme', '    ')}${el('certainty', i.certainty ?? 'Observed', '    ')}${el('expires', i.expires, '    ')}${el('senderName', i.senderName, '    ')}${el('headline', i.headline ?? 'Cảnh báo bão số 9', '    ')}${el('description', i.description, '    ')}${el('instruction', i.instruction, '    ')}${res}${areas}  </info>\n`;
    })
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="${CAP_NS}">
${el('identifier', a.identifier ?? 'VN-KTTV-2026-0001', '  ')}${el('sender', a.sender ?? 'canhbao@kttv.gov.vn', '  ')}${el('sent', a.sent ?? capTime(Date.now() - 60_000), '  ')}${el('status', a.status ?? 'Actual', '  ')}${el('msgType', a.msgType ?? 'Alert', '  ')}${el('scope', a.scope ?? 'Public', '  ')}${el('restriction', a.scope === 'Restricted' ? 'Cơ quan chức năng' : undefined, '  ')}${el('addresses', a.scope === 'Private' ? 'ubnd-c26734' : undefined, '  ')}${el('note', a.note, '  ')}${el('references', a.references, '  ')}${infos}</alert>
`;
}

/** A mapping file: two communes by admin-unit code (and one by district), a lab bench for exercises, a group far away by its point. */
export const MAPPING_JSON = {
  languages: ['vi', 'en'],
  geocodes: { 'VN-ADM3': { '26734': ['c26734'], '26737': ['c26737'] }, 'VN-ADM2': { '761': ['c26734', 'c26737'] } },
  groups: {
    c26734: { point: [10.87, 106.68] },
    c26737: {},
    lab: { exercise: true, actual: false, point: [10.77, 106.7] },
    c99999: { point: [21.0, 105.8] },
  },
  events: { 'Sóng thần': { priority: 100, everyS: 1200, count: 6, volume: 100 }, '*': { everyS: 1800, count: 3 } },
};
