// Who may speak through `noc studio` (issue [5/8]): operators in a JSON file, each with a
// password stored as an scrypt hash and the groups they may speak to; the logins, sessions,
// CSRF tokens and rate limit are cli-kit/web-auth.ts's, shared with the box's own page.
import { readFileSync } from 'node:fs';
import { Failure, errorMessage } from '../cli-kit/index.js';
import { ID_RE } from '../contract/schedule-doc.js';
import type { Operator } from '../contract/web-auth.js';

export { Logins, hashPassword, verifyPassword, type Login, type Operator } from '../contract/web-auth.js';

export function readOperators(path: string): Operator[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Failure(`--operators ${path}: ${errorMessage(err)}`);
  }
  if (!Array.isArray(raw)) throw new Failure(`--operators ${path}: not a list of operators`);
  return raw.map((o: Partial<Operator>, i) => {
    if (typeof o?.name !== 'string' || !o.name || typeof o.hash !== 'string' || !o.hash.startsWith('scrypt$'))
      throw new Failure(`--operators ${path}: entry ${i} needs a name and an scrypt hash (noc studio operator)`);
    if (!Array.isArray(o.groups) || o.groups.some((g) => typeof g !== 'string' || !ID_RE.test(g)))
      throw new Failure(`--operators ${path}: ${o.name}: groups must be a list of group names`);
    return { name: o.name, groups: o.groups, hash: o.hash };
  });
}
