// A small, strict XML reader for CAP messages and the Atom/RSS feeds that carry them:
// elements, attributes, text, the five predefined entities and character references,
// CDATA, comments and processing instructions (skipped), and namespaces (every element
// knows its namespace URI). No DTD: a document with <!DOCTYPE is refused, which also
// closes the entity-expansion and external-entity attacks that DTDs allow.
// Anything not well-formed is an XmlError naming the line and column.
//
// Budgets, not just rules (docs/cap.md "Budgets"): bytes, depth, elements, attributes per
// element, namespaces in scope and total text; time and memory linear in the input (a
// namespace scope is a prototype chain, not a copy per element; duplicate checks are
// sets). The first budget crossed is named in a one-line XmlBudgetError. An element the
// caller isolates (a feed's entry) has budgets of its own: one crossing them comes back
// with `error` set and no content, and the rest of the document is read on.
// The tree it returns, its errors and the budgets are in xml-tree.ts.
import {
  BUDGET_LABEL,
  CAP_BUDGETS,
  XmlBudgetError,
  XmlError,
  type ParseOptions,
  type XmlAttr,
  type XmlBudgets,
  type XmlElement,
} from './xml-tree.js';

const NAME_START = /[A-Za-z_\u00C0-\uFFFF]/;
const NAME_CHAR = /[A-Za-z0-9._\-\u00B7\u00C0-\uFFFF]/;
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
/** The reader's own stack limit, whatever the budgets (an isolated entry is read on past its depth budget). */
const MAX_DEPTH = 100;

/** Characters XML 1.0 allows in a document. */
function allowedChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

export function parseXml(input: string, opts: ParseOptions = {}): XmlElement {
  const b: XmlBudgets = { ...CAP_BUDGETS, ...opts.budgets };
  const bytes = Buffer.byteLength(input, 'utf8');
  if (bytes > b.bytes) throw new XmlBudgetError('bytes', `XML: ${bytes} bytes, over the budget of ${b.bytes} bytes`);
  let s = input;
  if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  s = s.replace(/\r\n?/g, '\n'); // XML 1.0 §2.11: line ends are read as LF
  let i = 0;
  let outsidePis = 0;

  const where = (at = i) => {
    const before = s.slice(0, at);
    const line = before.split('\n').length;
    return `line ${line}, column ${at - before.lastIndexOf('\n')}`;
  };
  const fail = (msg: string, at = i): never => {
    throw new XmlError(`XML: ${msg} at ${where(at)}`);
  };
  // Line numbers by binary search over the newline offsets: a large document stays linear.
  const newlines: number[] = [];
  for (let k = s.indexOf('\n'); k >= 0; k = s.indexOf('\n', k + 1)) newlines.push(k);
  const lineAt = (at: number) => {
    let lo = 0;
    let hi = newlines.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (newlines[mid]! < at) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
  let depth = 0;
  // Budget counters: the document's, or an isolated element's own while inside it.
  interface Budget {
    elements: number;
    text: number;
    isolated: boolean;
    error?: string;
  }
  let ctx: Budget = { elements: 0, text: 0, isolated: false };
  /** Inside an isolated element that crossed a budget: parsed for well-formedness, nothing kept. */
  const skimming = () => ctx.error !== undefined;
  const over = (budget: keyof XmlBudgets, detail: string, at: number): void => {
    const msg = `XML: over the budget of ${b[budget]} ${BUDGET_LABEL[budget]} (${detail}) at ${where(at)}`;
    if (!ctx.isolated) throw new XmlBudgetError(budget, msg);
    ctx.error ??= msg;
  };
  const addTextBudget = (n: number, at: number) => {
    ctx.text += n;
    if (ctx.text > b.text && !skimming()) over('text', `${ctx.text} so far`, at);
  };

  for (let k = 0; k < s.length; k++) {
    const cp = s.codePointAt(k)!;
    if (!allowedChar(cp))
      fail(`character U+${cp.toString(16).toUpperCase().padStart(4, '0')} is not allowed in XML`, k);
    if (cp > 0xffff) k++;
  }

  const readName = (): string => {
    const start = i;
    if (!NAME_START.test(s[i] ?? '')) fail('expected a name');
    i++;
    while (i < s.length && (NAME_CHAR.test(s[i]!) || s[i] === ':')) i++;
    const n = s.slice(start, i);
    if (n.split(':').length > 2 || n.startsWith(':') || n.endsWith(':'))
      fail(`"${n}" is not a valid qualified name`, start);
    return n;
  };
  const skipSpace = () => {
    while (i < s.length && /[ \t\r\n]/.test(s[i]!)) i++;
  };
  const decode = (raw: string, at: number): string =>
    raw.replace(/&([^;&<]*);?/g, (m, body: string) => {
      if (!m.endsWith(';')) fail('"&" must start an entity reference such as &amp;', at);
      if (body === 'lt') return '<';
      if (body === 'gt') return '>';
      if (body === 'amp') return '&';
      if (body === 'quot') return '"';
      if (body === 'apos') return "'";
      const num = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(body);
      if (num) {
        const cp = num[1] !== undefined ? parseInt(num[1], 16) : parseInt(num[2]!, 10);
        if (!allowedChar(cp)) fail(`character reference &${body}; is not an allowed character`, at);
        return String.fromCodePoint(cp);
      }
      return fail(`unknown entity &${body}; (only &lt; &gt; &amp; &quot; &apos; and character references; no DTD)`, at);
    });

  /** Skips comments, PIs and whitespace between top-level items; false at the end. */
  const skipMisc = (allowDecl: boolean): void => {
    for (;;) {
      skipSpace();
      if (s.startsWith('<?', i)) {
        const end = s.indexOf('?>', i);
        if (end < 0) fail('unterminated processing instruction');
        const target = /^<\?([^\s?]+)/.exec(s.slice(i, end))?.[1] ?? '';
        if (target.toLowerCase() === 'xml' && !(allowDecl && i === 0)) fail('the XML declaration may only come first');
        if (target.toLowerCase() !== 'xml') outsidePis++;
        i = end + 2;
      } else if (s.startsWith('<!--', i)) {
        const end = s.indexOf('-->', i + 4);
        if (end < 0) fail('unterminated comment');
        i = end + 3;
      } else if (s.startsWith('<!DOCTYPE', i) || s.startsWith('<!doctype', i)) {
        fail('a DOCTYPE is not accepted (no DTDs: CAP and feeds need none, and they allow entity attacks)');
      } else return;
      allowDecl = false;
    }
  };

  type Scope = Record<string, string>;
  // How many prefixes are in scope, per scope object (a scope is a prototype chain).
  const scopeSize = new WeakMap<Scope, number>();
  const resolve = (qname: string, scope: Scope, isAttr: boolean, at: number): { ns: string; local: string } => {
    const c = qname.indexOf(':');
    if (c < 0) return { ns: isAttr ? '' : (scope[''] ?? ''), local: qname };
    const prefix = qname.slice(0, c);
    if (prefix === 'xml') return { ns: XML_NS, local: qname.slice(c + 1) };
    const ns = scope[prefix];
    if (ns === undefined) fail(`namespace prefix "${prefix}" is not declared`, at);
    return { ns: ns!, local: qname.slice(c + 1) };
  };

  const readElement = (outer: Scope): XmlElement => {
    const start = i;
    if (++depth > MAX_DEPTH) fail(`elements nested deeper than ${MAX_DEPTH}`);
    i++; // '<'
    const qname = readName();
    const local0 = qname.slice(qname.indexOf(':') + 1);
    const parentCtx = ctx;
    const isolated = opts.isolate?.(local0, depth) === true;
    if (isolated) ctx = { elements: 0, text: 0, isolated: true };
    const keep = !skimming();
    if (keep && depth > b.depth) over('depth', `<${qname}>`, start);
    if (keep && ++ctx.elements > b.elements) over('elements', `<${qname}> is element ${ctx.elements}`, start);
    const rawAttrs: [string, string][] = [];
    const attrNames = new Set<string>();
    let selfClosing = false;
    for (;;) {
      const hadSpace = /[ \t\r\n]/.test(s[i] ?? '');
      skipSpace();
      if (s.startsWith('/>', i)) {
        i += 2;
        selfClosing = true;
        break;
      }
      if (s[i] === '>') {
        i++;
        break;
      }
      if (i >= s.length) fail(`unterminated start tag <${qname}>`, start);
      if (!hadSpace) fail('attributes must be separated by white space');
      const an = readName();
      skipSpace();
      if (s[i] !== '=') fail(`attribute ${an} needs "="`);
      i++;
      skipSpace();
      const q = s[i];
      if (q !== '"' && q !== "'") fail(`attribute ${an}'s value must be quoted`);
      const end = s.indexOf(q!, i + 1);
      if (end < 0) fail(`unterminated value of attribute ${an}`);
      const raw = s.slice(i + 1, end);
      if (raw.includes('<')) fail(`"<" is not allowed in the value of attribute ${an}`, i);
      if (attrNames.has(an)) fail(`attribute ${an} appears twice`, i);
      attrNames.add(an);
      if (attrNames.size > b.attributes && !skimming()) over('attributes', `<${qname}>`, start);
      // Attribute-value normalisation (XML 1.0 §3.3.3): literal white space becomes a space; character references stay.
      const value = decode(raw.replace(/[\t\n]/g, ' '), i);
      addTextBudget(value.length, i);
      if (!skimming() || an === 'xmlns' || an.startsWith('xmlns:')) rawAttrs.push([an, value]);
      i = end + 1;
    }
    // A new scope only where this element declares namespaces, inheriting the outer one.
    const declares = rawAttrs.some(([n]) => n === 'xmlns' || n.startsWith('xmlns:'));
    const scope: Scope = declares ? (Object.create(outer) as Scope) : outer;
    if (declares) {
      let size = scopeSize.get(outer) ?? 0;
      for (const [n, v] of rawAttrs) {
        const p = n === 'xmlns' ? '' : n.startsWith('xmlns:') ? n.slice(6) : undefined;
        if (p === undefined) continue;
        if (p !== '' && v === '') fail(`namespace prefix ${p} cannot be undeclared in XML 1.0`, start);
        if (!(p in scope)) size++;
        Object.defineProperty(scope, p, { value: v, enumerable: true, writable: true, configurable: true });
      }
      scopeSize.set(scope, size);
      if (size > b.namespaces && !skimming()) over('namespaces', `<${qname}> has ${size}`, start);
    }
    const attrs: Record<string, string> = {};
    const attrList: XmlAttr[] = [];
    const expanded = new Set<string>();
    for (const [n, v] of rawAttrs) {
      if (n === 'xmlns' || n.startsWith('xmlns:')) continue;
      const r = resolve(n, scope, true, start);
      if (r.ns !== '') {
        const k = `${r.ns}\u0000${r.local}`;
        if (expanded.has(k)) fail(`attribute {${r.ns}}${r.local} appears twice`, start);
        expanded.add(k);
      }
      attrs[n] = v;
      attrList.push({
        qname: n,
        prefix: n.includes(':') ? n.slice(0, n.indexOf(':')) : '',
        local: r.local,
        ns: r.ns,
        value: v,
      });
    }
    const { ns, local } = resolve(qname, scope, false, start);
    const prefix = qname.includes(':') ? qname.slice(0, qname.indexOf(':')) : '';
    const el: XmlElement = {
      name: local,
      ns,
      prefix,
      attrs,
      attrList,
      scope,
      children: [],
      content: [],
      text: '',
      line: lineAt(start),
    };
    const addText = (t: string) => {
      addTextBudget(t.length, i);
      if (skimming()) return;
      el.text += t;
      const last = el.content[el.content.length - 1];
      if (last && !('name' in last) && 'text' in last)
        last.text += t; // an element has a text field too
      else el.content.push({ text: t });
    };
    /** Leaving the element: an isolated one takes its verdict, the outer counters come back. */
    const close = (): XmlElement => {
      depth--;
      if (isolated) {
        if (ctx.error !== undefined) {
          el.error = ctx.error;
          el.children = [];
          el.content = [];
          el.text = '';
        }
        ctx = parentCtx;
      }
      return el;
    };
    if (selfClosing) return close();
    for (;;) {
      if (i >= s.length) fail(`<${qname}> is not closed`, start);
      if (s.startsWith('</', i)) {
        i += 2;
        const closeAt = i;
        const n = readName();
        if (n !== qname) fail(`</${n}> closes <${qname}> (opened at ${where(start)})`, closeAt);
        skipSpace();
        if (s[i] !== '>') fail(`expected ">" to end </${n}>`);
        i++;
        return close();
      }
      if (s.startsWith('<![CDATA[', i)) {
        const end = s.indexOf(']]>', i + 9);
        if (end < 0) fail('unterminated CDATA section');
        addText(s.slice(i + 9, end));
        i = end + 3;
      } else if (s.startsWith('<!--', i)) {
        const end = s.indexOf('-->', i + 4);
        if (end < 0) fail('unterminated comment');
        i = end + 3;
      } else if (s.startsWith('<?', i)) {
        const end = s.indexOf('?>', i);
        if (end < 0) fail('unterminated processing instruction');
        const m = /^<\?([^\s?]+)\s*/.exec(s.slice(i, end));
        if (!m || m[1]!.toLowerCase() === 'xml') fail('a processing instruction needs a target other than "xml"');
        if (!skimming()) el.content.push({ pi: m![1]!, data: s.slice(i + m![0].length, end) });
        i = end + 2;
      } else if (s.startsWith('<!', i)) {
        fail('markup declarations are not accepted (no DTD)');
      } else if (s[i] === '<') {
        const child = readElement(scope);
        if (!skimming() || child.error !== undefined) {
          el.children.push(child);
          el.content.push(child);
        }
      } else {
        const next = s.indexOf('<', i);
        const end = next < 0 ? s.length : next;
        const raw = s.slice(i, end);
        if (raw.includes(']]>')) fail('"]]>" is not allowed in text', i);
        addText(decode(raw, i));
        i = end;
      }
    }
  };

  skipMisc(true);
  if (s[i] !== '<') fail(i >= s.length ? 'the document is empty' : 'expected the root element');
  const root = readElement({});
  skipMisc(false);
  if (i < s.length) fail('content after the root element');
  if (outsidePis) root.outsidePis = outsidePis;
  return root;
}
