// UTC offsets of a time zone from the system's tz database (/usr/share/zoneinfo, TZif
// files of RFC 8536; Debian's `tzdata`, priority required), without ICU.
//
// Why: the first Intl.DateTimeFormat with a time zone makes ICU load its locale,
// calendar and zone data, pages of the node binary that then stay resident: +5.8 MB of
// RSS measured (bench `memory`), a tenth of an idle agent. A box plans its schedules
// (domain/occurrences.ts) in the document's zone at every re-plan, so that cost would be
// paid by every box. Here a zone costs one small file read (351 bytes for
// Asia/Ho_Chi_Minh) and a binary search per offset.
//
// Coverage: every instant inside the file's transition table, and after it when the
// footer's rule is a fixed offset (every zone without daylight saving today, Vietnam's
// among them). An instant this cannot answer (a footer with a daylight-saving rule, a
// zone the system does not have, a name that is not a plain zone path) returns null and
// the caller falls back to Intl, which answers the same (test/unit/tzif.test.ts).
import { readFileSync } from 'node:fs';

export const ZONEINFO_DIR = '/usr/share/zoneinfo';

export interface Zone {
  /** UTC offset in ms at instant `t` (local = UTC + offset), or null where the file does not say. */
  offsetAt(t: number): number | null;
}

/** Plain zone names only: no `..`, and not Debian's posix/ and right/ copies or its aliases. */
const NAME_RE = /^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/;
const NOT_ZONES = new Set(['localtime', 'posixrules', 'Factory']);

const zones = new Map<string, Zone | null>();

/** The zone from the system tz database, cached (the files change only with a tzdata upgrade, read again after a restart). */
export function systemZone(name: string, dir = ZONEINFO_DIR): Zone | null {
  const key = `${dir}\0${name}`;
  let z = zones.get(key);
  if (z !== undefined) return z;
  z = null;
  if (NAME_RE.test(name) && !NOT_ZONES.has(name) && !/^(posix|right)\//.test(name)) {
    try {
      z = parseTzif(readFileSync(`${dir}/${name}`));
    } catch {
      z = null; // absent, unreadable or not TZif: the caller asks Intl
    }
  }
  if (zones.size >= 100) zones.delete(zones.keys().next().value as string);
  zones.set(key, z);
  return z;
}

/** A TZif file (versions 1 to 4) as a Zone; null when it is not one. */
export function parseTzif(b: Buffer): Zone | null {
  if (b.length < 44 || b.toString('latin1', 0, 4) !== 'TZif') return null;
  const version = b[4] === 0 ? 1 : b[4]! - 0x30;
  const counts = (at: number) => ({
    isut: b.readUInt32BE(at + 20),
    isstd: b.readUInt32BE(at + 24),
    leap: b.readUInt32BE(at + 28),
    time: b.readUInt32BE(at + 32),
    type: b.readUInt32BE(at + 36),
    char: b.readUInt32BE(at + 40),
  });
  let c = counts(0);
  let at = 44;
  let timeSize = 4;
  if (version >= 2) {
    // Skip the 32-bit block: the 64-bit one after it covers all time.
    at += c.time * 5 + c.type * 6 + c.char + c.leap * 8 + c.isstd + c.isut;
    if (b.length < at + 44 || b.toString('latin1', at, at + 4) !== 'TZif') return null;
    c = counts(at);
    at += 44;
    timeSize = 8;
  }
  const end = at + c.time * (timeSize + 1) + c.type * 6 + c.char + c.leap * (timeSize + 4) + c.isstd + c.isut;
  if (c.type === 0 || b.length < end) return null;
  const times: number[] = [];
  for (let i = 0; i < c.time; i++)
    times.push(timeSize === 8 ? Number(b.readBigInt64BE(at + i * 8)) : b.readInt32BE(at + i * 4));
  const idxAt = at + c.time * timeSize;
  const typesAt = idxAt + c.time;
  const offsets: number[] = [];
  for (let i = 0; i < c.type; i++) offsets.push(b.readInt32BE(typesAt + i * 6));
  const index: number[] = [];
  for (let i = 0; i < c.time; i++) {
    const k = b[idxAt + i]!;
    if (k >= c.type) return null;
    index.push(k);
  }
  // The footer (version 2+): a POSIX TZ rule for instants after the last transition.
  let footer: number | null | undefined; // undefined: no footer; null: a rule we leave to Intl
  if (version >= 2 && b[end] === 0x0a) {
    const nl = b.indexOf(0x0a, end + 1);
    if (nl > end) {
      const rule = b.toString('latin1', end + 1, nl);
      footer = rule === '' ? undefined : fixedPosixOffset(rule);
    }
  }
  const lastType = times.length > 0 ? offsets[index[index.length - 1]!]! : offsets[0]!;
  return {
    offsetAt(t: number): number | null {
      const s = Math.floor(t / 1000);
      if (times.length === 0 || s >= times[times.length - 1]!) {
        if (footer === undefined) return lastType * 1000;
        return footer === null ? null : footer * 1000;
      }
      if (s < times[0]!) return offsets[0]! * 1000;
      let lo = 0;
      let hi = times.length - 1; // times[lo] <= s < times[hi]
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (times[mid]! <= s) lo = mid;
        else hi = mid;
      }
      return offsets[index[lo]!]! * 1000;
    },
  };
}

/**
 * The UTC offset (s) of a POSIX TZ rule without daylight saving (`<+07>-7`, `UTC0`,
 * `IST-5:30`); null for a rule with one. POSIX writes the offset west-positive.
 */
export function fixedPosixOffset(rule: string): number | null {
  const m = /^(?:<[A-Za-z0-9+-]+>|[A-Za-z]{3,})([+-]?)(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?$/.exec(rule);
  if (!m) return null;
  const secs = Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  return m[1] === '-' ? secs : 0 - secs;
}
