// The site the technician set on the box's page (runtime/page.ts): `{stateDir}/site.json`,
// over the configuration's `site` (which the agent may not write: /etc/loa is root's). The
// birth reports the merge; `loa-provision show` and the page show it. A file that does not
// validate is ignored (and said), never half-applied.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteFields } from '../domain/page-view.js';
import { writeFileAtomic } from './atomic-file.js';

export interface SiteFile {
  /** The site set on the page; null when none (or `{ bad }` when the file does not validate). */
  read(): SiteFields | null | { bad: string };
  write(site: SiteFields): void;
}

/** A site as typed: ok (cleaned), or why not. The configuration's schema decides (compose/page.ts). */
export type SiteCheck = (site: SiteFields) => { ok: true; site: SiteFields } | { ok: false; why: string };

export function siteFile(stateDir: string, checkSite: SiteCheck): SiteFile {
  const path = join(stateDir, 'site.json');
  return {
    read() {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        return null;
      }
      try {
        const r = checkSite(JSON.parse(text) as SiteFields);
        return r.ok ? r.site : { bad: `${path}: ${r.why}` };
      } catch (err) {
        return { bad: `${path}: ${(err as Error).message}` };
      }
    },
    write(site) {
      writeFileAtomic(path, JSON.stringify(site, null, 2) + '\n', 0o644);
    },
  };
}
