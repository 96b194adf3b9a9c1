// Atom and RSS feeds of CAP messages (as alerting authorities publish them), and the
// small JSON state `noc cap` keeps: which alerts it handled (so a feed polled every
// minute actions each alert once) and which groups each was sent to (so an Update or
// Cancel reaches the boxes that play the alert it replaces).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { errorMessage, Failure } from '../../cli-kit/index.js';
import type { XmlElement } from './xml-tree.js';
import { parseXml } from './xml.js';

const ATOM_NS = 'http://www.w3.org/2005/Atom';

/** A feed read entry by entry: the CAP links, and the entries that could not be read (each with why). */
export interface FeedEntries {
  links: string[];
  bad: { entry: number; error: string }[];
}

/**
 * The CAP links of a feed, resolved against its URL. Atom: each entry's link with a CAP
 * type (application/cap+xml, or any *xml), else its alternate/first link. RSS 2.0: each
 * item's enclosure url or link. Each entry is read within budgets of its own
 * (xml.ts): one over them is reported in `bad` and the others are still read.
 */
export function feedLinks(xml: string, base: string): FeedEntries {
  const root = parseXml(xml, {
    isolate: (name, depth) => (name === 'entry' && depth === 2) || (name === 'item' && depth === 3),
  });
  const out: string[] = [];
  const bad: FeedEntries['bad'] = [];
  const add = (href: string | undefined) => {
    if (!href?.trim()) return;
    try {
      out.push(new URL(href.trim(), base).toString());
    } catch {
      /* not a URL: nothing to fetch */
    }
  };
  const kids = (el: XmlElement, name: string) => el.children.filter((c) => c.name === name);
  const each = (entries: XmlElement[], read: (e: XmlElement) => void) =>
    entries.forEach((e, k) => (e.error !== undefined ? bad.push({ entry: k + 1, error: e.error }) : read(e)));
  if (root.name === 'feed' && root.ns === ATOM_NS) {
    each(kids(root, 'entry'), (entry) => {
      const links = kids(entry, 'link');
      const cap =
        links.find((l) => /cap\+xml/i.test(l.attrs.type ?? '')) ??
        links.find((l) => /xml/i.test(l.attrs.type ?? '')) ??
        links.find((l) => (l.attrs.rel ?? 'alternate') === 'alternate') ??
        links[0];
      add(cap?.attrs.href);
    });
  } else if (root.name === 'rss') {
    for (const channel of kids(root, 'channel'))
      each(kids(channel, 'item'), (item) => {
        const enc = kids(item, 'enclosure').find((e) => /xml/i.test(e.attrs.type ?? '')) ?? kids(item, 'enclosure')[0];
        add(enc?.attrs.url ?? kids(item, 'link')[0]?.text);
      });
  } else throw new Failure(`the feed's root is <${root.name}>: expected an Atom <feed> or an RSS <rss>`);
  return { links: [...new Set(out)], bad };
}

export interface CapState {
  /** By CAP key (sender,identifier,sent): when handled. */
  seen: Record<string, string>;
  /** By CAP identifier: the groups and commands it went to. */
  alerts: Record<string, { groups: string[]; commands: string[]; at: string }>;
  /** Feed links already fetched and handled. */
  links: string[];
  /** Feed links that failed: how often, when to try again, why (a bad link backs off instead of costing every poll). */
  failing: Record<string, { n: number; next: string; why: string }>;
}

const MAX_LINKS = 5000;

export function emptyState(): CapState {
  return { seen: {}, alerts: {}, links: [], failing: {} };
}

export function loadState(path: string | undefined): CapState {
  if (!path || !existsSync(path)) return emptyState();
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as Partial<CapState>;
    return {
      seen: raw.seen ?? {},
      alerts: raw.alerts ?? {},
      links: Array.isArray(raw.links) ? raw.links : [],
      failing: raw.failing && typeof raw.failing === 'object' ? raw.failing : {},
    };
  } catch (err) {
    throw new Failure(
      `--state ${path}: unreadable (${errorMessage(err)}); move it away to start afresh (alerts already handled would then be handled again)`,
    );
  }
}

/** Written whole to a temporary file, then renamed: a crash leaves the old state or the new. */
export function saveState(path: string | undefined, s: CapState): void {
  if (!path) return;
  const trimmed = { ...s, links: s.links.slice(-MAX_LINKS) };
  try {
    writeFileSync(`${path}.tmp`, JSON.stringify(trimmed, null, 1));
    renameSync(`${path}.tmp`, path);
  } catch (err) {
    throw new Failure(`--state ${path}: cannot write (${errorMessage(err)})`);
  }
}
