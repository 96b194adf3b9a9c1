// The strict XML reader under the CAP validator and the feed reader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CAP_BUDGETS, XmlBudgetError, XmlError } from '../../noc/cap/xml-tree.js';
import { parseXml } from '../../noc/cap/xml.js';

test('elements, attributes, namespaces, entities, character references and CDATA', () => {
  const x = parseXml(
    `<?xml version="1.0"?>\r\n<a:root xmlns:a="urn:a" xmlns="urn:d" k='v &amp; w'><child>x &lt; y &#x1EA1;&#65;<![CDATA[<raw>&amp;]]></child><!-- c --><a:n/></a:root>`,
  );
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
  ['too deep for the budget', '<a>'.repeat(33) + '</a>'.repeat(33), /over the budget of 32 levels of nesting/],
  ['late XML declaration', '<!-- x --><?xml version="1.0"?><a/>', /XML declaration may only come first/],
];
for (const [name, xml, re] of bad)
  test(`refused: ${name}`, () => {
    assert.throws(
      () => parseXml(xml),
      (e: unknown) => e instanceof XmlError && re.test(e.message) && /line \d+, column \d+/.test(e.message),
    );
  });

test('a large document reads in linear time, line numbers included', () => {
  const big = `<feed>\n${'<entry><link href="x"/></entry>\n'.repeat(50_000)}</feed>`;
  const t0 = performance.now();
  const root = parseXml(big, { budgets: { elements: 100_001 } });
  assert.equal(root.children.length, 50_000);
  assert.equal(root.children[49_999]!.line, 50_001);
  assert.ok(performance.now() - t0 < 10_000, `${performance.now() - t0} ms`);
});

test("the reader's own stack limit holds whatever the budgets", () => {
  assert.throws(
    () => parseXml('<a>'.repeat(101) + '</a>'.repeat(101), { budgets: { depth: 1000 } }),
    /nested deeper than 100/,
  );
});

// Issue [3/8]: what a hostile CAP or feed did to the reader, each refused in one line naming the budget.
const ns = (n: number, kids: number) =>
  `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" ${Array.from({ length: n }, (_, k) => `xmlns:p${k}="urn:x:${k}"`).join(' ')}>${'<code>x</code>'.repeat(kids)}</alert>`;
const budgetCases: [string, string, keyof typeof CAP_BUDGETS][] = [
  [
    '2,000 namespace declarations over 20,000 elements',
    `<alert ${Array.from({ length: 30 }, (_, k) => `xmlns:p${k}="urn:x:${k}"`).join(' ')}>${Array.from({ length: 400 }, (_, k) => `<code ${Array.from({ length: 5 }, (_, j) => `xmlns:q${j}="urn:y:${k}:${j}"`).join(' ')}>${'<x/>'.repeat(49)}</code>`).join('')}</alert>`,
    'namespaces',
  ],
  ['2,000 namespace declarations on one element', ns(2000, 20_000), 'attributes'],
  [
    'an element with 40,000 attributes',
    `<a ${Array.from({ length: 40_000 }, (_, k) => `a${k}="1"`).join(' ')}/>`,
    'attributes',
  ],
  ['20,001 elements', `<a>${'<b/>'.repeat(20_001)}</a>`, 'elements'],
  ['33 levels', '<a>'.repeat(33) + '</a>'.repeat(33), 'depth'],
  ['6 MB of text', `<a>${'x'.repeat(6 * 1024 * 1024)}</a>`, 'bytes'],
];
for (const [name, xml, budget] of budgetCases)
  test(`budget: ${name} is refused in one line naming the ${budget} budget, quickly`, () => {
    const t0 = performance.now();
    assert.throws(
      () => parseXml(xml),
      (e: unknown) =>
        e instanceof XmlBudgetError &&
        e.budget === budget &&
        !e.message.includes('\n') &&
        new RegExp(`over the budget of|over the budget`).test(e.message),
    );
    assert.ok(performance.now() - t0 < 2000, `${name}: ${Math.round(performance.now() - t0)} ms`);
  });

test('budget: text counts attribute values and text together', () => {
  assert.throws(
    () => parseXml(`<a v="${'y'.repeat(60)}">${'x'.repeat(50)}</a>`, { budgets: { text: 100 } }),
    (e: unknown) => e instanceof XmlBudgetError && e.budget === 'text',
  );
  assert.equal(parseXml(`<a v="${'y'.repeat(40)}">${'x'.repeat(50)}</a>`, { budgets: { text: 100 } }).text.length, 50);
});

test('namespaces are inherited, not copied: 32 in scope at the top, read at every one of 20,000 elements, in linear time', () => {
  const xml = ns(31, 19_999);
  const t0 = performance.now();
  const root = parseXml(xml);
  assert.equal(root.children.length, 19_999);
  assert.equal(root.children[19_998]!.scope.p30, 'urn:x:30');
  assert.equal('p30' in root.children[0]!.scope, true);
  assert.ok(performance.now() - t0 < 2000, `${Math.round(performance.now() - t0)} ms`);
});

test('an isolated element (a feed entry) over its budget comes back with its error; the others and the rest are read', () => {
  const bomb = `<entry>${'<x/>'.repeat(30)}</entry>`;
  const xml = `<feed><entry><link href="a"/></entry>${bomb}<entry><link href="b"/></entry></feed>`;
  const root = parseXml(xml, { budgets: { elements: 20 }, isolate: (name, depth) => name === 'entry' && depth === 2 });
  assert.equal(root.children.length, 3);
  assert.deepEqual(
    root.children.map((e) => e.children[0]?.attrs.href ?? null),
    ['a', null, 'b'],
  );
  assert.match(root.children[1]!.error ?? '', /over the budget of 20 elements/);
  assert.equal(root.children[0]!.error, undefined);
  // Well-formedness is still the document's: a broken entry breaks the feed.
  assert.throws(() => parseXml('<feed><entry><x></entry></feed>', { isolate: (n) => n === 'entry' }), /closes <x>/);
});
