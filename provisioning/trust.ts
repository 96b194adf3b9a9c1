// The centre keys a box trusts: reading what the technician pastes, and judging what a
// configuration holds. Pure: no prompts, no files.
//
// `noc keys` prints one entry of the agent's `trustedKeys` as JSON
// ({"kid":"centre-2026","publicKey":"…","roles":[…]}), so that is what a technician has
// on the clipboard; the short `kid=publicKey` form stays for typing. A box with no key
// that may sign schedules or commands starts and runs, but refuses every schedule and
// every emergency the centre sends: `check` fails on it.
import { DEFAULT_KEY_ROLES } from '../contract/verify.js';
import { joinTexts, msg, type Lang, type Text } from './text.js';

export interface TrustedKey {
  kid: string;
  publicKey: string;
  /** As given; the agent's schema checks the names. Absent: schedules and commands. */
  roles?: string[];
}

export type KeyParse = { keys: TrustedKey[] } | { problem: Text } | { incomplete: true };

const FORMS = msg('trust.forms');

/**
 * One answer (or one --trusted-key value): `noc keys` output as printed (one object, an
 * array of them, or {"trustedKeys":[…]} from a config), or `kid=publicKey` (also
 * `kid:key`, `kid key`). `incomplete`: JSON whose brackets are still open, as when a
 * pasted multi-line array arrives one line at a time.
 */
export function parseTrustedKeys(text: string): KeyParse {
  const s = text.trim();
  if (s.startsWith('{') || s.startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (err) {
      if (openBrackets(s) > 0) return { incomplete: true };
      return { problem: msg('trust.badJson', { error: (err as Error).message, forms: FORMS }) };
    }
    return fromJson(v);
  }
  const m = /^([^=:\s{}"]+)\s*[=:\s]\s*(\S+)$/.exec(s);
  if (!m) return { problem: msg('trust.notForm', { text: s, forms: FORMS }) };
  return { keys: [{ kid: m[1]!, publicKey: m[2]! }] };
}

function fromJson(v: unknown): KeyParse {
  const list =
    v !== null && typeof v === 'object' && !Array.isArray(v) && 'trustedKeys' in v
      ? (v as { trustedKeys: unknown }).trustedKeys
      : v;
  const items = Array.isArray(list) ? list : [list];
  if (items.length === 0) return { problem: msg('trust.emptyList') };
  const keys: TrustedKey[] = [];
  for (const [i, item] of items.entries()) {
    const where = items.length > 1 ? msg('trust.where', { n: i + 1 }) : '';
    if (item === null || typeof item !== 'object' || Array.isArray(item))
      return { problem: msg('trust.notKey', { where, json: JSON.stringify(item), forms: FORMS }) };
    const o = item as Record<string, unknown>;
    const extra = Object.keys(o).filter((k) => !['kid', 'publicKey', 'roles'].includes(k));
    if (extra.length > 0) return { problem: msg('trust.field', { where, field: extra[0]! }) };
    if (typeof o.kid !== 'string' || typeof o.publicKey !== 'string')
      return { problem: msg('trust.both', { where, forms: FORMS }) };
    if (o.roles !== undefined && (!Array.isArray(o.roles) || o.roles.some((r) => typeof r !== 'string')))
      return { problem: msg('trust.roles', { where }) };
    keys.push({ kid: o.kid, publicKey: o.publicKey, ...(o.roles ? { roles: [...(o.roles as string[])] } : {}) });
  }
  return { keys };
}

/** Brackets opened and not closed, outside strings: > 0 means more is coming. */
function openBrackets(s: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
  }
  return depth;
}

/** `keys` with each of `added` in place of a key of the same kid (a rotated key replaces the old). */
export function mergeKeys(keys: readonly TrustedKey[], added: readonly TrustedKey[]): TrustedKey[] {
  const kids = new Set(added.map((k) => k.kid));
  return [...keys.filter((k) => !kids.has(k.kid)), ...added];
}

export function rolesOf(k: { roles?: readonly string[] }): readonly string[] {
  return k.roles ?? DEFAULT_KEY_ROLES;
}

/** "centre-2026 (schedule, command), release-2026 (release)"; "none" (in `lang`). */
export function describeKeys(keys: readonly { kid: string; roles?: readonly string[] }[], lang: Lang = 'en'): string {
  return keys.map((k) => `${k.kid} (${rolesOf(k).join(', ')})`).join(', ') || msg('trust.none')(lang);
}

/** "schedules or commands" (`sep` 'or'), "schedules and commands" ('and'), in the language read. */
export function gapsText(gaps: readonly ('schedules' | 'commands')[], sep: 'or' | 'and'): Text {
  return joinTexts(
    gaps.map((g) => msg(g === 'schedules' ? 'trust.schedules' : 'trust.commands')),
    msg(sep === 'or' ? 'trust.or' : 'trust.and'),
  );
}

/**
 * What the box will refuse for want of a key: 'schedules' without a key of role
 * `schedule`, 'commands' without one of role `command` (an emergency comes as either). A
 * `release` key alone signs only updates.
 */
export function trustGaps(keys: readonly { roles?: readonly string[] }[]): ('schedules' | 'commands')[] {
  const can = (role: string) => keys.some((k) => rolesOf(k).includes(role));
  return [...(can('schedule') ? [] : ['schedules' as const]), ...(can('command') ? [] : ['commands' as const])];
}

/** The check's line: ✗ when schedules or commands would all be refused. */
export function trustOutcome(
  keys: readonly { kid: string; roles?: readonly string[] }[],
  configArg = '',
): { status: 'ok' | 'fail'; detail: Text; hint?: Text } {
  const gaps = trustGaps(keys);
  // No words in the list of a box that may obey: key ids and role names.
  if (gaps.length === 0) return { status: 'ok', detail: describeKeys(keys) };
  const detail =
    keys.length === 0
      ? msg('trust.fail.none')
      : msg('trust.fail.gaps', { gaps: gapsText(gaps, 'or'), keys: describeKeys(keys) });
  return { status: 'fail', detail, hint: msg('trust.fail.hint', { config: configArg }) };
}
