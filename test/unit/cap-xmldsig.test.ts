// XML signatures on CAP alerts (noc/cap/xmldsig.ts). The signed vectors were made by an
// independent implementation, xmlsec1 (test/fixtures/cap-signed/gen.sh); the canonical
// forms below were printed by libxml2 (`xmllint --exc-c14n`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { excC14n, verifyCapSignature } from '../../noc/cap/xmldsig.js';
import { parseXml } from '../../noc/cap/xml.js';
import { validateCap } from '../../noc/cap/validate.js';
import { REPO_ROOT } from '../helpers/agent-process.js';

const DIR = join(REPO_ROOT, 'test/fixtures/cap-signed');
const read = (f: string) => readFileSync(join(DIR, f), 'utf8');
const cert = (f: string) => new X509Certificate(readFileSync(join(DIR, f)));
const RSA = read('alert-rsa.xml');
const EC = read('alert-ec-prefixed.xml');

test('exclusive c14n as libxml2 prints it: namespaces where used, sorted attributes, escapes, xmlns="" only when needed', () => {
  const doc = `<?xml version="1.0" encoding="UTF-8"?>
<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2" xmlns:unused="urn:unused" xmlns="urn:default">
  <cap:identifier>VN &amp; 1 &#x1EA1; &gt; "q" 'a'</cap:identifier>
  <cap:info b:z="1" a="2" xmlns:b="urn:b" c="&#9;tab&#10;nl &quot; &lt;">
    <plain>x<![CDATA[<y>]]>&#13;</plain>
    <cap:area><inner xmlns=""><deep/></inner><?pi some data?></cap:area>
    <e xmlns:x="urn:x" x:attr="v" attr='s"q'/>
  </cap:info>
</cap:alert>`;
  const expected = `<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2">
  <cap:identifier>VN &amp; 1 ạ &gt; "q" 'a'</cap:identifier>
  <cap:info xmlns:b="urn:b" a="2" c="&#x9;tab&#xA;nl &quot; &lt;" b:z="1">
    <plain xmlns="urn:default">x&lt;y&gt;&#xD;</plain>
    <cap:area><inner><deep></deep></inner><?pi some data?></cap:area>
    <e xmlns="urn:default" xmlns:x="urn:x" attr="s&quot;q" x:attr="v"></e>
  </cap:info>
</cap:alert>`;
  assert.equal(excC14n(parseXml(doc)), expected);
  assert.equal(
    excC14n(parseXml('<a xmlns:p="urn:p">\r\n  <p:b p:c="1"\n     d="2\r\n3">t\r\n</p:b>\n</a>')),
    '<a>\n  <p:b xmlns:p="urn:p" d="2 3" p:c="1">t\n</p:b>\n</a>',
  );
});

test('xmlsec1 signatures verify: RSA-SHA256, and ECDSA-SHA256 on a prefixed alert with an unused namespace', () => {
  const r = verifyCapSignature(RSA, [cert('other-cert.pem'), cert('rsa-cert.pem')]);
  assert.deepEqual(r, {
    ok: true,
    subject: 'C=VN, O=Trung tam Du bao KTTV quoc gia, CN=canhbao RSA',
    algorithm: 'rsa-sha256',
  });
  const e = verifyCapSignature(EC, [cert('ec-cert.pem')]);
  assert.equal(e.ok, true, JSON.stringify(e));
  assert.equal(validateCap(RSA).ok, true, 'a Signature closing the alert is valid CAP');
  assert.equal(validateCap(EC).ok, true);
});

test('a namespace declaration nobody uses does not change the signed content (exclusive c14n)', () => {
  assert.equal(
    verifyCapSignature(RSA.replace('<alert xmlns=', '<alert xmlns:extra="urn:extra" xmlns='), [cert('rsa-cert.pem')])
      .ok,
    true,
  );
});

const refused: [string, string, X509Certificate[] | undefined, RegExp][] = [
  ['a changed headline', RSA.replace('Bão số 9', 'Bão số 8'), undefined, /the digest does not match/],
  [
    'a changed area code',
    EC.replace('<cap:value>26734<', '<cap:value>26735<'),
    [cert('ec-cert.pem')],
    /the digest does not match/,
  ],
  [
    'changed white space inside the alert',
    RSA.replace('<status>Actual</status>', '<status>Actual</status> '),
    undefined,
    /the digest does not match/,
  ],
  [
    'a signature by another key',
    RSA,
    [cert('other-cert.pem')],
    /no pinned certificate verifies the signature \(C=VN, O=Trung tam Du bao KTTV quoc gia, CN=someone else: signature does not verify\)/,
  ],
  ['an ECDSA signature against an RSA certificate', EC, [cert('rsa-cert.pem')], /a rsa key, the signature is ec/],
  [
    'a digest recomputed by whoever changed the alert',
    RSA.replace('Bão số 9', 'Bão số 8').replace(
      /<DigestValue>[^<]*</,
      `<DigestValue>${digestOf(RSA.replace('Bão số 9', 'Bão số 8'))}<`,
    ),
    undefined,
    /no pinned certificate verifies/,
  ],
  ['an unsigned alert', RSA.replace(/<Signature[\s\S]*<\/Signature>/, ''), undefined, /the alert is not signed/],
  [
    'a second Signature wrapped inside the info',
    RSA.replace('</info>', `${/<Signature[\s\S]*<\/Signature>/.exec(RSA)![0]}</info>`),
    undefined,
    /exactly one <Signature>, a child of <alert>/,
  ],
  [
    'a Reference to part of the document',
    RSA.replace('<Reference URI="">', '<Reference URI="#x">'),
    undefined,
    /only URI="" \(the whole alert\)/,
  ],
  [
    'SHA-1',
    RSA.replace('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', 'http://www.w3.org/2000/09/xmldsig#rsa-sha1'),
    undefined,
    /SHA-1 is refused/,
  ],
  [
    'inclusive c14n',
    RSA.replace(
      '<CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"',
      '<CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"',
    ),
    undefined,
    /CanonicalizationMethod .* is not supported/,
  ],
  [
    'transforms other than enveloped + exc-c14n',
    RSA.replace(/<Transform Algorithm="http:\/\/www.w3.org\/2001\/10\/xml-exc-c14n#"\/>/, ''),
    undefined,
    /Transforms must be exactly enveloped-signature, then exclusive c14n/,
  ],
];
for (const [name, xml, certs, re] of refused)
  test(`refused: ${name}`, () => {
    const v = verifyCapSignature(xml, certs ?? [cert('rsa-cert.pem')]);
    assert.equal(v.ok, false);
    assert.match((v as { reason: string }).reason, re);
  });

test('a pinned certificate outside its validity is refused', () => {
  const v = verifyCapSignature(RSA, [cert('rsa-cert.pem')], Date.parse('2200-01-01T00:00:00Z'));
  assert.match((v as { reason: string }).reason, /whose certificate is not valid now/);
});

/** What an attacker without the key can do: recompute the Reference digest of the changed alert. */
function digestOf(xml: string): string {
  return createHash('sha256')
    .update(
      excC14n(parseXml(xml), [], (e) => e.name === 'Signature'),
      'utf8',
    )
    .digest('base64');
}
