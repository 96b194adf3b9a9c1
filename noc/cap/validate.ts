// The project's own CAP 1.2 validator, written from the element tables of OASIS
// "Common Alerting Protocol Version 1.2" (§3.2) and its XML schema: the elements of
// alert, info, resource and area, in the schema's order and counts; the value lists;
// the dateTime form (with an offset, never "Z"); identifiers without spaces, commas,
// "<" or "&"; references as sender,identifier,sent triples; the conditional rules
// (scope Restricted needs restriction, Private needs addresses, Update and Cancel need
// references, ceiling needs altitude); polygons of at least 4 closed points, circles
// "lat,lon radius"; geocode/parameter/eventCode valueName + value; a resource's
// resourceDesc and mimeType, and its digest a SHA-1 in hex. Every problem names its
// element path (alert.info[0].area[1].polygon[0]: ...). Pure: text in, verdict out.
// The alert's shapes and value lists are in alert.ts.
import {
  CAP_NS,
  CATEGORY,
  CERTAINTY,
  MSG_TYPE,
  RESPONSE_TYPE,
  SCOPE,
  SEVERITY,
  STATUS,
  URGENCY,
  type CapAlert,
  type CapArea,
  type CapInfo,
  type CapRef,
  type CapResource,
  type CapVerdict,
  type NameValue,
} from './alert.js';
import { XmlError, type XmlElement } from './xml-tree.js';
import { parseXml } from './xml.js';

/** CAP 1.2 §3.3.2: "2002-05-24T16:49:00-07:00"; UTC is -00:00 or +00:00, never "Z". */
const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})([+-])(\d{2}):(\d{2})$/;

export function capDateTimeProblem(v: string): string | undefined {
  const m = DATETIME_RE.exec(v);
  if (!m) return `"${v}" is not a CAP dateTime (YYYY-MM-DDThh:mm:ss+hh:mm, an offset and no "Z", no fractions)`;
  const [y, mo, d, h, mi, sec, , oh, om] = m.slice(1).map(Number) as number[];
  const day = new Date(Date.UTC(y!, mo! - 1, d!));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo! - 1 || day.getUTCDate() !== d)
    return `"${v}": ${m[1]}-${m[2]}-${m[3]} is not a calendar date`;
  if (h! > 23 || mi! > 59 || sec! > 59) return `"${v}": the time of day is out of range`;
  if (oh! > 14 || om! > 59) return `"${v}": the offset is out of range`;
  return undefined;
}

/** identifier and sender (§3.2.1): no spaces, commas or the restricted characters < and &. */
function tokenProblem(v: string): string | undefined {
  return /[\s,<&]/.test(v) ? `"${v}" must not contain spaces, commas, "<" or "&"` : undefined;
}

const ABSOLUTE_URI_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/;
const LANGUAGE_RE = /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/;
const BASE64_RE = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

type Kind = 'text' | 'block';
interface ChildSpec {
  name: string;
  min: number;
  max: number;
  kind: Kind;
  /** Only checked on a non-empty value. */
  check?: (v: string) => string | undefined;
  values?: readonly string[];
}
const ONE = { min: 1, max: 1 };
const OPT = { min: 0, max: 1 };
const MANY = { min: 0, max: Infinity };
const SOME = { min: 1, max: Infinity };
const t = (name: string, n: { min: number; max: number }, more: Partial<ChildSpec> = {}): ChildSpec => ({
  name,
  kind: 'text',
  ...n,
  ...more,
});
const b = (name: string, n: { min: number; max: number }): ChildSpec => ({ name, kind: 'block', ...n });
const dateTime = { check: capDateTimeProblem };
const uri = (v: string) => (ABSOLUTE_URI_RE.test(v) ? undefined : `"${v}" is not an absolute URI`);
const decimal = (v: string) => (/^-?\d+(\.\d+)?$/.test(v) ? undefined : `"${v}" is not a decimal number`);

const ALERT: ChildSpec[] = [
  t('identifier', ONE, { check: tokenProblem }),
  t('sender', ONE, { check: tokenProblem }),
  t('sent', ONE, dateTime),
  t('status', ONE, { values: STATUS }),
  t('msgType', ONE, { values: MSG_TYPE }),
  t('source', OPT),
  t('scope', ONE, { values: SCOPE }),
  t('restriction', OPT),
  t('addresses', OPT, {
    check: (v) =>
      (v.match(/"/g) ?? []).length % 2 ? 'a double quote is not closed (multi-word addresses are quoted)' : undefined,
  }),
  t('code', MANY),
  t('note', OPT),
  t('references', OPT),
  t('incidents', OPT),
  b('info', MANY),
];
const INFO: ChildSpec[] = [
  t('language', OPT, { check: (v) => (LANGUAGE_RE.test(v) ? undefined : `"${v}" is not an RFC 3066 language tag`) }),
  t('category', SOME, { values: CATEGORY }),
  t('event', ONE),
  t('responseType', MANY, { values: RESPONSE_TYPE }),
  t('urgency', ONE, { values: URGENCY }),
  t('severity', ONE, { values: SEVERITY }),
  t('certainty', ONE, { values: CERTAINTY }),
  t('audience', OPT),
  b('eventCode', MANY),
  t('effective', OPT, dateTime),
  t('onset', OPT, dateTime),
  t('expires', OPT, dateTime),
  t('senderName', OPT),
  t('headline', OPT),
  t('description', OPT),
  t('instruction', OPT),
  t('web', OPT, { check: uri }),
  t('contact', OPT),
  b('parameter', MANY),
  b('resource', MANY),
  b('area', MANY),
];
const NAME_VALUE: ChildSpec[] = [t('valueName', ONE), t('value', ONE)];
const RESOURCE: ChildSpec[] = [
  t('resourceDesc', ONE),
  t('mimeType', ONE),
  t('size', OPT, { check: (v) => (/^\d+$/.test(v) ? undefined : `"${v}" is not a whole number of bytes`) }),
  t('uri', OPT),
  t('derefUri', OPT, { check: (v) => (BASE64_RE.test(v) ? undefined : 'is not base64 data') }),
  t('digest', OPT, {
    check: (v) => (/^[0-9a-fA-F]{40}$/.test(v) ? undefined : `"${v}" is not a SHA-1 digest (40 hex digits)`),
  }),
];
const AREA: ChildSpec[] = [
  t('areaDesc', ONE),
  t('polygon', MANY, { check: polygonProblem }),
  t('circle', MANY, { check: circleProblem }),
  b('geocode', MANY),
  t('altitude', OPT, { check: decimal }),
  t('ceiling', OPT, { check: decimal }),
];

function pointProblem(p: string): string | undefined {
  const m = /^(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)$/.exec(p);
  if (!m) return `"${p}" is not a "latitude,longitude" pair`;
  const lat = Number(m[1]);
  const lon = Number(m[2]);
  if (lat < -90 || lat > 90) return `latitude ${m[1]} is outside -90..90`;
  if (lon < -180 || lon > 180) return `longitude ${m[2]} is outside -180..180`;
  return undefined;
}
export function polygonProblem(v: string): string | undefined {
  const pts = v.trim().split(/\s+/);
  for (const p of pts) {
    const bad = pointProblem(p);
    if (bad) return bad;
  }
  if (pts.length < 4) return `has ${pts.length} points; a polygon needs at least 4 (the first repeated last)`;
  const [a, z] = [pts[0]!.split(',').map(Number), pts[pts.length - 1]!.split(',').map(Number)];
  if (a[0] !== z[0] || a[1] !== z[1]) return 'is not closed: the last point must equal the first';
  return undefined;
}
export function circleProblem(v: string): string | undefined {
  const m = /^(\S+)\s+(\d+(?:\.\d+)?)$/.exec(v.trim());
  if (!m) return `"${v}" is not "latitude,longitude radius" (radius in km)`;
  return pointProblem(m[1]!);
}
const points = (v: string) =>
  v
    .trim()
    .split(/\s+/)
    .map((p) => p.split(',').map(Number) as [number, number]);

/** The children of `el` against `spec`: unknown, misplaced, missing or repeated elements, values. */
function walk(
  el: XmlElement,
  spec: ChildSpec[],
  path: string,
  out: string[],
  foreignAtEnd = false,
): Map<string, XmlElement[]> {
  const found = new Map<string, XmlElement[]>(spec.map((c) => [c.name, []]));
  let last = -1;
  let lastName = '';
  let foreignSeen = false;
  for (const c of el.children) {
    if (c.ns !== CAP_NS) {
      if (foreignAtEnd) foreignSeen = true;
      else out.push(`${path}.${c.name}: element of namespace "${c.ns}" is not allowed here (line ${c.line})`);
      continue;
    }
    const idx = spec.findIndex((s) => s.name === c.name);
    if (idx < 0) {
      out.push(`${path}.${c.name}: not a CAP 1.2 element of <${el.name}> (line ${c.line})`);
      continue;
    }
    if (foreignSeen)
      out.push(
        `${path}.${c.name}: comes after an element of another namespace; those (a Signature) may only close the alert (line ${c.line})`,
      );
    if (idx < last)
      out.push(
        `${path}.${c.name}: out of order, must come before ${lastName} (CAP 1.2 schema sequence; line ${c.line})`,
      );
    else if (idx > last) {
      last = idx;
      lastName = c.name;
    }
    found.get(c.name)!.push(c);
  }
  for (const s of spec) {
    const list = found.get(s.name)!;
    if (list.length < s.min) out.push(`${path}.${s.name}: is required`);
    if (list.length > s.max) out.push(`${path}.${s.name}: appears ${list.length} times; at most ${s.max} allowed`);
    list.forEach((c, k) => {
      const at = s.max > 1 ? `${path}.${s.name}[${k}]` : `${path}.${s.name}`;
      if (s.kind === 'block') return;
      if (c.children.length) out.push(`${at}: must hold text only, not elements`);
      const v = c.text.trim();
      if (v === '') return void out.push(`${at}: is empty`);
      if (s.values && !s.values.includes(v)) out.push(`${at}: "${v}" is not one of ${s.values.join(', ')}`);
      const bad = s.check?.(v);
      if (bad) out.push(`${at}: ${bad}`);
    });
  }
  return found;
}

const text = (m: Map<string, XmlElement[]>, name: string): string | undefined =>
  m.get(name)?.[0]?.text.trim() || undefined;
const texts = (m: Map<string, XmlElement[]>, name: string): string[] => (m.get(name) ?? []).map((e) => e.text.trim());
function opt<K extends string, V>(key: K, v: V | undefined): { [k in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [k in K]?: V };
}

function nameValues(m: Map<string, XmlElement[]>, name: string, path: string, out: string[]): NameValue[] {
  return (m.get(name) ?? []).map((e, k) => {
    const nv = walk(e, NAME_VALUE, `${path}.${name}[${k}]`, out);
    return { valueName: text(nv, 'valueName') ?? '', value: text(nv, 'value') ?? '' };
  });
}

/** references (§3.2.1): whitespace-separated "sender,identifier,sent" triples. */
export function parseReferences(v: string, path: string, out: string[]): CapRef[] {
  const refs: CapRef[] = [];
  for (const triple of v.trim().split(/\s+/)) {
    const parts = triple.split(',');
    if (parts.length !== 3 || parts.some((p) => p === '')) {
      out.push(`${path}: "${triple}" is not a "sender,identifier,sent" triple`);
      continue;
    }
    const bad = capDateTimeProblem(parts[2]!);
    if (bad) out.push(`${path}: ${bad}`);
    refs.push({ sender: parts[0]!, identifier: parts[1]!, sent: parts[2]! });
  }
  return refs;
}

function readResource(e: XmlElement, path: string, out: string[]): CapResource {
  const m = walk(e, RESOURCE, path, out);
  const r: CapResource = {
    resourceDesc: text(m, 'resourceDesc') ?? '',
    mimeType: text(m, 'mimeType') ?? '',
    ...opt('uri', text(m, 'uri')),
    ...opt('derefUri', text(m, 'derefUri')),
    ...opt('digest', text(m, 'digest')?.toLowerCase()),
  };
  const size = text(m, 'size');
  if (size !== undefined && /^\d+$/.test(size)) r.size = Number(size);
  if (r.uri !== undefined && r.derefUri === undefined && uri(r.uri))
    out.push(`${path}.uri: ${uri(r.uri)} (a relative URI is allowed only with derefUri)`);
  if (r.mimeType && !/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/.test(r.mimeType))
    out.push(`${path}.mimeType: "${r.mimeType}" is not a MIME type`);
  return r;
}

function readArea(e: XmlElement, path: string, out: string[]): CapArea {
  const m = walk(e, AREA, path, out);
  const a: CapArea = {
    areaDesc: text(m, 'areaDesc') ?? '',
    polygons: texts(m, 'polygon')
      .filter((p) => !polygonProblem(p))
      .map(points),
    circles: texts(m, 'circle')
      .filter((c) => !circleProblem(c))
      .map((c) => {
        const [p, r] = c.trim().split(/\s+/);
        const [lat, lon] = p!.split(',').map(Number);
        return { lat: lat!, lon: lon!, radiusKm: Number(r) };
      }),
    geocodes: nameValues(m, 'geocode', path, out),
  };
  const alt = text(m, 'altitude');
  const ceil = text(m, 'ceiling');
  if (alt !== undefined && !decimal(alt)) a.altitude = Number(alt);
  if (ceil !== undefined && !decimal(ceil)) a.ceiling = Number(ceil);
  if (ceil !== undefined && alt === undefined)
    out.push(`${path}.ceiling: needs altitude (CAP 1.2: ceiling only with altitude)`);
  if (a.altitude !== undefined && a.ceiling !== undefined && a.ceiling < a.altitude)
    out.push(`${path}.ceiling: ${a.ceiling} is below altitude ${a.altitude}`);
  return a;
}

function readInfo(e: XmlElement, path: string, out: string[]): CapInfo {
  const m = walk(e, INFO, path, out);
  const info: CapInfo = {
    language: text(m, 'language') ?? 'en-US',
    categories: texts(m, 'category'),
    event: text(m, 'event') ?? '',
    responseTypes: texts(m, 'responseType'),
    urgency: text(m, 'urgency') ?? '',
    severity: text(m, 'severity') ?? '',
    certainty: text(m, 'certainty') ?? '',
    eventCodes: nameValues(m, 'eventCode', path, out),
    parameters: nameValues(m, 'parameter', path, out),
    resources: (m.get('resource') ?? []).map((r, k) => readResource(r, `${path}.resource[${k}]`, out)),
    areas: (m.get('area') ?? []).map((a, k) => readArea(a, `${path}.area[${k}]`, out)),
  };
  for (const f of [
    'audience',
    'effective',
    'onset',
    'expires',
    'senderName',
    'headline',
    'description',
    'instruction',
    'web',
    'contact',
  ] as const) {
    const v = text(m, f);
    if (v !== undefined) info[f] = v;
  }
  return info;
}

/** Validates a CAP 1.2 message; every problem found, or the alert read into plain data. */
export function validateCap(xml: string): CapVerdict {
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (err) {
    if (err instanceof XmlError) return { ok: false, problems: [err.message] };
    throw err;
  }
  if (root.name !== 'alert' || root.ns !== CAP_NS) {
    return {
      ok: false,
      problems: [
        `the root element is <${root.name}> in namespace "${root.ns}"; a CAP 1.2 message is <alert xmlns="${CAP_NS}">`,
      ],
    };
  }
  const out: string[] = [];
  const m = walk(root, ALERT, 'alert', out, true);
  const alert: CapAlert = {
    identifier: text(m, 'identifier') ?? '',
    sender: text(m, 'sender') ?? '',
    sent: text(m, 'sent') ?? '',
    status: text(m, 'status') ?? '',
    msgType: text(m, 'msgType') ?? '',
    scope: text(m, 'scope') ?? '',
    codes: texts(m, 'code'),
    references: [],
    infos: (m.get('info') ?? []).map((e, k) => readInfo(e, `alert.info[${k}]`, out)),
  };
  for (const f of ['source', 'restriction', 'addresses', 'note', 'incidents'] as const) {
    const v = text(m, f);
    if (v !== undefined) alert[f] = v;
  }
  const refs = text(m, 'references');
  if (refs !== undefined) alert.references = parseReferences(refs, 'alert.references', out);
  if (alert.scope === 'Restricted' && alert.restriction === undefined)
    out.push('alert.restriction: is required when scope is Restricted');
  if (alert.scope === 'Private' && alert.addresses === undefined)
    out.push('alert.addresses: is required when scope is Private');
  if ((alert.msgType === 'Update' || alert.msgType === 'Cancel') && refs === undefined)
    out.push(
      `alert.references: is required when msgType is ${alert.msgType} (which earlier alert it updates or cancels)`,
    );
  return out.length ? { ok: false, problems: out } : { ok: true, alert };
}
