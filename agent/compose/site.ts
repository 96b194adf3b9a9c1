// The site as the technician types it on the page, checked by the configuration's own
// schema (so the page accepts exactly what `site` in the configuration would).
import { siteSchema } from '../config-schema.js';
import type { SiteFields } from '../domain/page-view.js';

/** A site as the technician typed it: ok, or why not (a latitude out of range, …). */
export function checkSite(site: SiteFields): { ok: true; site: SiteFields } | { ok: false; why: string } {
  const clean = Object.fromEntries(Object.entries(site).filter(([, v]) => v !== undefined));
  const r = siteSchema.safeParse(clean);
  if (!r.success) return { ok: false, why: r.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ') };
  return { ok: true, site: r.data };
}
