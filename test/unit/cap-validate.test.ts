// The CAP 1.2 validator, rule by rule (OASIS CAP 1.2 §3.2 element tables and schema).
// One full message holding every element is valid; each case breaks one rule and
// expects the problem that names it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CapAlert } from '../../noc/cap/alert.js';
import { validateCap } from '../../noc/cap/validate.js';
import { CAP_NS } from '../helpers/cap.js';

const FULL = `<?xml version="1.0" encoding="UTF-8"?>
<!-- a complete alert: every element of CAP 1.2 once -->
<alert xmlns="${CAP_NS}">
  <identifier>VN-KTTV-2026-0042</identifier>
  <sender>canhbao@kttv.gov.vn</sender>
  <sent>2026-11-27T14:05:00+07:00</sent>
  <status>Actual</status>
  <msgType>Update</msgType>
  <source>Trung tâm Dự báo KTTV quốc gia</source>
  <scope>Public</scope>
  <code>IPAWSv1.0</code>
  <note>Cập nhật đường đi của bão</note>
  <references>canhbao@kttv.gov.vn,VN-KTTV-2026-0041,2026-11-27T08:00:00+07:00</references>
  <incidents>bao-so-9</incidents>
  <info>
    <language>vi-VN</language>
    <category>Met</category>
    <category>Safety</category>
    <event>Bão</event>
    <responseType>Prepare</responseType>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <audience>Người dân ven biển</audience>
    <eventCode><valueName>VN-KTTV</valueName><value>TC</value></eventCode>
    <effective>2026-11-27T14:05:00+07:00</effective>
    <onset>2026-11-27T20:00:00+07:00</onset>
    <expires>2026-11-28T14:00:00+07:00</expires>
    <senderName>Trung tâm Dự báo Khí tượng Thủy văn quốc gia</senderName>
    <headline>Bão số 9 &amp; mưa lớn</headline>
    <description><![CDATA[Bão số 9 <mạnh cấp 12> đang tiến vào bờ.]]></description>
    <instruction>Chằng chống nhà cửa, không ra khơi.</instruction>
    <web>https://nchmf.gov.vn/bao-so-9</web>
    <contact>1800 1090</contact>
    <parameter><valueName>windSpeedKmh</valueName><value>133</value></parameter>
    <resource>
      <resourceDesc>Bản tin âm thanh</resourceDesc>
      <mimeType>audio/mpeg</mimeType>
      <size>1843200</size>
      <uri>https://cdn.kttv.gov.vn/bao-so-9.mp3</uri>
      <digest>2fd4e1c67a2d28fced849ee1bb76e7391b93eb12</digest>
    </resource>
    <area>
      <areaDesc>Huyện Cần Giờ</areaDesc>
      <polygon>10.3,106.7 10.6,106.7 10.6,107.0 10.3,107.0 10.3,106.7</polygon>
      <circle>10.41,106.95 15</circle>
      <geocode><valueName>VN-ADM3</valueName><value>27679</value></geocode>
      <altitude>0</altitude>
      <ceiling>1000</ceiling>
    </area>
  </info>
</alert>`;

function problemsOf(xml: string): string[] {
  const v = validateCap(xml);
  return v.ok ? [] : v.problems;
}
function expectProblem(xml: string, re: RegExp): void {
  const p = problemsOf(xml);
  assert.ok(
    p.some((x) => re.test(x)),
    `expected a problem matching ${re}, got:\n${p.join('\n') || '(valid)'}`,
  );
}
const swap = (from: string | RegExp, to: string) => FULL.replace(from, to);

test('a complete CAP 1.2 message is valid and read into plain data', () => {
  const v = validateCap(FULL);
  assert.equal(v.ok, true, v.ok ? '' : v.problems.join('\n'));
  const a = (v as { alert: CapAlert }).alert;
  assert.equal(a.identifier, 'VN-KTTV-2026-0042');
  assert.deepEqual(a.references, [
    { sender: 'canhbao@kttv.gov.vn', identifier: 'VN-KTTV-2026-0041', sent: '2026-11-27T08:00:00+07:00' },
  ]);
  const i = a.infos[0]!;
  assert.deepEqual(i.categories, ['Met', 'Safety']);
  assert.equal(i.headline, 'Bão số 9 & mưa lớn');
  assert.equal(i.description, 'Bão số 9 <mạnh cấp 12> đang tiến vào bờ.');
  assert.deepEqual(i.resources[0], {
    resourceDesc: 'Bản tin âm thanh',
    mimeType: 'audio/mpeg',
    size: 1843200,
    uri: 'https://cdn.kttv.gov.vn/bao-so-9.mp3',
    digest: '2fd4e1c67a2d28fced849ee1bb76e7391b93eb12',
  });
  assert.deepEqual(i.areas[0]!.polygons[0]![0], [10.3, 106.7]);
  assert.deepEqual(i.areas[0]!.circles, [{ lat: 10.41, lon: 106.95, radiusKm: 15 }]);
  assert.deepEqual(i.areas[0]!.geocodes, [{ valueName: 'VN-ADM3', value: '27679' }]);
});

const cases: [string, string, RegExp][] = [
  [
    'root must be a CAP 1.2 alert',
    FULL.replace(CAP_NS, 'urn:oasis:names:tc:emergency:cap:1.1'),
    /root element is <alert> in namespace "urn:oasis:names:tc:emergency:cap:1.1"/,
  ],
  ['not well-formed XML', FULL.replace('</sender>', '</sendr>'), /XML: <\/sendr> closes <sender>/],
  [
    'no DOCTYPE',
    FULL.replace('<!-- a complete', '<!DOCTYPE alert [<!ENTITY x "y">]><!-- a complete'),
    /DOCTYPE is not accepted/,
  ],
  ['identifier is required', swap(/<identifier>.*<\/identifier>\n/, ''), /alert\.identifier: is required/],
  ['sender is required', swap(/<sender>.*<\/sender>\n/, ''), /alert\.sender: is required/],
  ['sent is required', swap(/<sent>.*<\/sent>\n/, ''), /alert\.sent: is required/],
  ['status is required', swap(/<status>.*<\/status>\n/, ''), /alert\.status: is required/],
  ['msgType is required', swap(/<msgType>.*<\/msgType>\n/, ''), /alert\.msgType: is required/],
  ['scope is required', swap(/<scope>.*<\/scope>\n/, ''), /alert\.scope: is required/],
  [
    'identifier without spaces or commas',
    swap('VN-KTTV-2026-0042', 'VN KTTV,42'),
    /alert\.identifier: "VN KTTV,42" must not contain spaces, commas/,
  ],
  [
    'sender without "&"',
    swap('canhbao@kttv.gov.vn</sender>', 'a&amp;b</sender>'),
    /alert\.sender: "a&b" must not contain/,
  ],
  [
    'sent needs an offset, not Z',
    swap('<sent>2026-11-27T14:05:00+07:00', '<sent>2026-11-27T07:05:00Z'),
    /alert\.sent: "2026-11-27T07:05:00Z" is not a CAP dateTime/,
  ],
  [
    'sent is a calendar date',
    swap('<sent>2026-11-27T14:05:00+07:00', '<sent>2026-02-30T14:05:00+07:00'),
    /alert\.sent: .*is not a calendar date/,
  ],
  [
    'expires has no fractions of a second',
    swap('<expires>2026-11-28T14:00:00+07:00', '<expires>2026-11-28T14:00:00.5+07:00'),
    /info\[0\]\.expires: .*not a CAP dateTime/,
  ],
  [
    'status value list',
    swap('<status>Actual', '<status>Real'),
    /alert\.status: "Real" is not one of Actual, Exercise, System, Test, Draft/,
  ],
  [
    'msgType value list',
    swap('<msgType>Update', '<msgType>Replace'),
    /alert\.msgType: "Replace" is not one of Alert, Update, Cancel, Ack, Error/,
  ],
  [
    'scope value list',
    swap('<scope>Public', '<scope>Everyone'),
    /alert\.scope: "Everyone" is not one of Public, Restricted, Private/,
  ],
  [
    'scope Restricted needs restriction',
    swap('<scope>Public', '<scope>Restricted'),
    /alert\.restriction: is required when scope is Restricted/,
  ],
  [
    'scope Private needs addresses',
    swap('<scope>Public', '<scope>Private'),
    /alert\.addresses: is required when scope is Private/,
  ],
  [
    'addresses quotes are closed',
    swap('<scope>Public</scope>', '<scope>Private</scope>\n  <addresses>"UBND xa</addresses>'),
    /alert\.addresses: a double quote is not closed/,
  ],
  [
    'Update needs references',
    swap(/<references>.*<\/references>\n/, ''),
    /alert\.references: is required when msgType is Update/,
  ],
  [
    'Cancel needs references',
    swap(/<references>.*<\/references>\n/, '').replace('<msgType>Update', '<msgType>Cancel'),
    /alert\.references: is required when msgType is Cancel/,
  ],
  [
    'references are sender,identifier,sent triples',
    swap('canhbao@kttv.gov.vn,VN-KTTV-2026-0041,2026-11-27T08:00:00+07:00', 'VN-KTTV-2026-0041'),
    /alert\.references: "VN-KTTV-2026-0041" is not a "sender,identifier,sent" triple/,
  ],
  [
    "a reference's sent is a CAP dateTime",
    swap(',2026-11-27T08:00:00+07:00</references>', ',yesterday</references>'),
    /alert\.references: "yesterday" is not a CAP dateTime/,
  ],
  [
    'elements come in schema order',
    swap(/(<sender>.*<\/sender>\n)(\s*<identifier>)/, '$2').replace('<status>', '<sender>x</sender>\n  <status>'),
    /out of order/,
  ],
  [
    'an element appears at most as often as the schema says',
    swap('<event>Bão</event>', '<event>Bão</event><event>Lũ</event>'),
    /alert\.info\[0\]\.event: appears 2 times; at most 1/,
  ],
  [
    'unknown CAP elements are refused',
    swap('<contact>', '<phone>1</phone><contact>'),
    /alert\.info\[0\]\.phone: not a CAP 1.2 element of <info>/,
  ],
  [
    'other namespaces only close the alert',
    swap('<note>', '<x:sig xmlns:x="urn:x"/><note>'),
    /alert\.note: comes after an element of another namespace/,
  ],
  [
    'a text element holds no elements',
    swap('<event>Bão</event>', '<event><b>Bão</b></event>'),
    /alert\.info\[0\]\.event: must hold text only/,
  ],
  ['empty values are refused', swap('<event>Bão</event>', '<event> </event>'), /alert\.info\[0\]\.event: is empty/],
  ['info needs a category', swap(/<category>.*<\/category>\n/g, ''), /alert\.info\[0\]\.category: is required/],
  [
    'category value list',
    swap('<category>Safety', '<category>Weather'),
    /category\[1\]: "Weather" is not one of Geo, Met, Safety/,
  ],
  ['info needs an event', swap(/<event>.*<\/event>\n/, ''), /alert\.info\[0\]\.event: is required/],
  ['info needs urgency', swap(/<urgency>.*<\/urgency>\n/, ''), /alert\.info\[0\]\.urgency: is required/],
  [
    'urgency value list',
    swap('<urgency>Immediate', '<urgency>Now'),
    /urgency: "Now" is not one of Immediate, Expected, Future, Past, Unknown/,
  ],
  ['info needs severity', swap(/<severity>.*<\/severity>\n/, ''), /alert\.info\[0\]\.severity: is required/],
  [
    'severity value list',
    swap('<severity>Extreme', '<severity>High'),
    /severity: "High" is not one of Extreme, Severe, Moderate, Minor, Unknown/,
  ],
  ['info needs certainty', swap(/<certainty>.*<\/certainty>\n/, ''), /alert\.info\[0\]\.certainty: is required/],
  [
    'certainty value list',
    swap('<certainty>Observed', '<certainty>Sure'),
    /certainty: "Sure" is not one of Observed, Likely, Possible, Unlikely, Unknown/,
  ],
  [
    'responseType value list',
    swap('<responseType>Prepare', '<responseType>Run'),
    /responseType\[0\]: "Run" is not one of Shelter, Evacuate/,
  ],
  [
    'language is an RFC 3066 tag',
    swap('<language>vi-VN', '<language>vi_VN'),
    /language: "vi_VN" is not an RFC 3066 language tag/,
  ],
  [
    'web is an absolute URI',
    swap('<web>https://nchmf.gov.vn/bao-so-9', '<web>nchmf.gov.vn'),
    /web: "nchmf.gov.vn" is not an absolute URI/,
  ],
  [
    'eventCode needs valueName and value',
    swap('<eventCode><valueName>VN-KTTV</valueName>', '<eventCode>'),
    /eventCode\[0\]\.valueName: is required/,
  ],
  ['parameter needs valueName and value', swap('<value>133</value>', ''), /parameter\[0\]\.value: is required/],
  [
    'resource needs resourceDesc',
    swap(/<resourceDesc>.*<\/resourceDesc>\n/, ''),
    /resource\[0\]\.resourceDesc: is required/,
  ],
  ['resource needs mimeType', swap(/<mimeType>.*<\/mimeType>\n/, ''), /resource\[0\]\.mimeType: is required/],
  ['mimeType is a MIME type', swap('<mimeType>audio/mpeg', '<mimeType>mp3'), /mimeType: "mp3" is not a MIME type/],
  ['size is whole bytes', swap('<size>1843200', '<size>1.8MB'), /size: "1.8MB" is not a whole number of bytes/],
  [
    'digest is SHA-1 hex',
    swap(
      '2fd4e1c67a2d28fced849ee1bb76e7391b93eb12',
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    ),
    /digest: .* is not a SHA-1 digest \(40 hex digits\)/,
  ],
  [
    'uri is absolute without derefUri',
    swap('<uri>https://cdn.kttv.gov.vn/bao-so-9.mp3', '<uri>bao-so-9.mp3'),
    /resource\[0\]\.uri: "bao-so-9.mp3" is not an absolute URI/,
  ],
  [
    'derefUri is base64',
    swap('<digest>', '<derefUri>not base64!</derefUri>\n      <digest>'),
    /derefUri: is not base64 data/,
  ],
  ['area needs areaDesc', swap(/<areaDesc>.*<\/areaDesc>\n/, ''), /area\[0\]\.areaDesc: is required/],
  [
    'a polygon has at least 4 points',
    swap(/<polygon>.*<\/polygon>/, '<polygon>10.3,106.7 10.6,106.7 10.3,106.7</polygon>'),
    /polygon\[0\]: has 3 points; a polygon needs at least 4/,
  ],
  [
    'a polygon is closed',
    swap(/<polygon>.*<\/polygon>/, '<polygon>10.3,106.7 10.6,106.7 10.6,107.0 10.3,107.0</polygon>'),
    /polygon\[0\]: is not closed/,
  ],
  [
    'polygon points are lat,lon in range',
    swap(/<polygon>.*<\/polygon>/, '<polygon>95,106.7 10.6,106.7 10.6,107.0 95,106.7</polygon>'),
    /latitude 95 is outside -90..90/,
  ],
  [
    'a circle is "lat,lon radius"',
    swap('<circle>10.41,106.95 15', '<circle>10.41 106.95 15'),
    /circle\[0\]: "10.41 106.95 15" is not "latitude,longitude radius"/,
  ],
  [
    'geocode needs valueName and value',
    swap('<geocode><valueName>VN-ADM3</valueName>', '<geocode>'),
    /geocode\[0\]\.valueName: is required/,
  ],
  ['ceiling needs altitude', swap(/<altitude>.*<\/altitude>\n/, ''), /ceiling: needs altitude/],
  ['altitude is a number', swap('<altitude>0', '<altitude>sea'), /altitude: "sea" is not a decimal number/],
];

for (const [name, xml, re] of cases) test(`rule: ${name}`, () => expectProblem(xml, re));

test('a Signature in another namespace may close the alert', () => {
  const signed = FULL.replace(
    '</alert>',
    '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature>\n</alert>',
  );
  assert.deepEqual(problemsOf(signed), []);
});

test('every problem is listed, not the first only', () => {
  const p = problemsOf(swap('<status>Actual', '<status>Real').replace('<urgency>Immediate', '<urgency>Now'));
  assert.equal(p.length, 2, p.join('\n'));
});
