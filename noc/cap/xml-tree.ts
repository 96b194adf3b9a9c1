// What the strict XML reader (xml.ts) gives and refuses with: the element tree (elements,
// attributes with their namespaces, text and processing instructions in document order),
// XmlError and XmlBudgetError, the budgets it keeps (CAP_BUDGETS: bytes, depth, elements,
// attributes, namespaces, text; docs/cap.md "Budgets") and its options; and
// childrenNamed, a lookup on the tree. No parsing here.

export interface XmlAttr {
  qname: string;
  prefix: string;
  local: string;
  /** Namespace URI ('' for an unprefixed attribute). */
  ns: string;
  value: string;
}
/** Text (CDATA included, entities decoded) or a processing instruction, in document order. */
export type XmlNode = XmlElement | { text: string } | { pi: string; data: string };

export interface XmlElement {
  /** Local name (without prefix). */
  name: string;
  /** Namespace URI, '' when none. */
  ns: string;
  prefix: string;
  /** Attributes by their qualified name as written (xmlns declarations left out). */
  attrs: Record<string, string>;
  /** The same with their namespaces, in document order. */
  attrList: XmlAttr[];
  /** Namespaces in scope here, prefix ('' = default) → URI ('' = undeclared default). */
  scope: Readonly<Record<string, string>>;
  children: XmlElement[];
  /** Children, text and processing instructions in document order (comments dropped): what canonical XML needs. */
  content: XmlNode[];
  /** The element's own text (CDATA included), its children's text left out. */
  text: string;
  line: number;
  /** On the root: processing instructions before or after it (canonical XML of the document would include them). */
  outsidePis?: number;
  /** An isolated element that crossed a budget: why (its content is left out). */
  error?: string;
}

export class XmlError extends Error {}

export interface XmlBudgets {
  /** UTF-8 bytes of the whole document. */
  bytes: number;
  /** Elements nested. */
  depth: number;
  /** Elements in all. */
  elements: number;
  /** Attributes of one element, namespace declarations included. */
  attributes: number;
  /** Namespace prefixes in scope at one element. */
  namespaces: number;
  /** Characters of text and attribute values in all. */
  text: number;
}

export const BUDGET_LABEL: Record<keyof XmlBudgets, string> = {
  bytes: 'bytes',
  depth: 'levels of nesting',
  elements: 'elements',
  attributes: 'attributes on one element',
  namespaces: 'namespaces in scope',
  text: 'characters of text',
};

/**
 * A CAP message is a few kilobytes, 5 levels deep, a few hundred elements; an embedded
 * recording (derefUri) is the only big part. These leave room for every real alert and
 * feed and refuse what is only an attack on the reader.
 */
export const CAP_BUDGETS: XmlBudgets = {
  bytes: 5 * 1024 * 1024,
  depth: 32,
  elements: 20_000,
  attributes: 64,
  namespaces: 32,
  text: 5 * 1024 * 1024,
};

/** A budget crossed: `budget` names it; the message is one line. */
export class XmlBudgetError extends XmlError {
  constructor(
    readonly budget: keyof XmlBudgets,
    message: string,
  ) {
    super(message);
  }
}

export interface ParseOptions {
  budgets?: Partial<XmlBudgets>;
  /** Elements with budgets of their own (a feed's entries): crossing them sets `error` on the element instead of failing the document. */
  isolate?: (name: string, depth: number) => boolean;
}

/** Children of `el` with local name `name` (in `el`'s own namespace unless given). */
export function childrenNamed(el: XmlElement, name: string, ns = el.ns): XmlElement[] {
  return el.children.filter((c) => c.name === name && c.ns === ns);
}
