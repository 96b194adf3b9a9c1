// The strict XML reader under the CAP validator and the feed reader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml, XmlError } from '../../noc/cap/xml.js';

test('elements, attributes, namespaces, entities, character references and CDATA', () => {
  const x = parseXml(`<?xml version="1.0"?>\r\n<a:root xmlns:a="urn:a" xmlns="urn:d" k='v &amp; w'><child>x &lt; y &#x1EA1;&#65;<![CDATA[<raw>&amp;]]></child><!-- c --><a:n/></a:root>`);
  assert.equal(x.name, 'root');
  assert.equal(x.ns, 'urn:a');
  assert.deepEqual(x.attrs, { k: 'v & w' });
  assert.equal(x.children[0]!.ns, 'urn:d');
  assert.equal(x.children[0]!.text, 'x < y ạA<raw>&amp;');
  assert.equal(x.children[1]!.ns, 'urn:a');
});

const bad: [string, string, RegExp][] = [
  ['unknown entity', '<a>&nbsp;</a>', /unknown entity &nbsp;/],
  ['bare ampersand', '<a>x & y</a>', /"&" must start an entity reference/],
  ['mismatched close', '<a><b></a>', /<\/a> closes <b>/],
  ['unclosed root', '<a><b/>', /<a> is not closed/],
  ['two roots', '<a/><b/>', /content after the root element/],
  ['undeclared prefix', '<x:a/>', /prefix "x" is not declared/],
  ['duplicate attribute', '<a k="1" k="2"/>', /attribute k appears twice/],
  ['unquoted attribute', '<a k=1/>', /must be quoted/],
  ['DOCTYPE', '<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', /DOCTYPE is not accepted/],
  ['control character', '<a>\u0001</a>', /U\+0001 is not allowed/],
  ['empty document', '  ', /the document is empty/],
  ['too deep', '<a>'.repeat(101) + '</a>'.repeat(101), /nested deeper than 100/],
  ['late XML declaration', '<!-- x --><?xml version="1.0"?><a/>', /XML declaration may only come first/],
];
for (const [name, xml, re] of bad)
  test(`refused: ${name}`, () => {
    assert.throws(() => parseXml(xml), (e: unknown) => e instanceof XmlError && re.test(e.message) && /line \d+, column \d+/.test(e.message));
  });

test('a large document reads in linear time, line numbers included', () => {
  const big = `<feed>\n${'<entry><link href="x"/></entry>\n'.repeat(50_000)}</feed>`;
  const t0 = performance.now();
  const root = parseXml(big);
  assert.equal(root.children.length, 50_000);
  assert.equal(root.children[49_999]!.line, 50_001);
  assert.ok(performance.now() - t0 < 10_000, `${performance.now() - t0} ms`);
});
