// The mapping file of `noc cap` (docs/cap.md): which loa groups an alert's area reaches
// (geocodes by valueName and value, or a group's point inside a polygon or circle),
// which groups take exercises, and per event type the priority, repeat cadence and
// volume. Read and checked here, every problem named by its JSON path.
import { ID_RE } from '../../contract/index.js';

export interface EventRule {
  priority?: number;
  everyS?: number;
  /** Repeats when the alert has no expires (it gives `until` otherwise). */
  count?: number;
  volume?: number;
}
export interface GroupInfo {
  /** Receives Exercise and Test alerts. */
  exercise: boolean;
  /** Receives Actual alerts (default true; false for a test bench that must never sound a real one). */
  actual: boolean;
  /** [lat, lon] of the group's loudspeakers, for polygon and circle areas. */
  point?: [number, number];
}
export interface Mapping {
  /** Preferred info languages, by prefix ("vi" matches vi-VN). */
  languages: string[];
  /** valueName → value → groups. */
  geocodes: Record<string, Record<string, string[]>>;
  groups: Record<string, GroupInfo>;
  /** Per event (the CAP info.event, exact text); "*" is the default. */
  events: Record<string, EventRule>;
  /** CAP scopes actioned (default Public only: loudspeakers are heard by everyone). */
  scopes: string[];
}

export const DEFAULT_RULE: Required<Omit<EventRule, 'priority' | 'volume'>> = { everyS: 1800, count: 3 };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function ruleProblems(r: unknown, path: string, out: string[], minRepeatS: number): EventRule {
  if (!isObj(r)) return (out.push(`${path}: must be an object`), {});
  const rule: EventRule = {};
  for (const [k, v] of Object.entries(r)) {
    const bounds: Record<string, [number, number]> = {
      priority: [0, 100],
      everyS: [minRepeatS, 86_400],
      count: [1, 1000],
      volume: [0, 100],
    };
    const bd = bounds[k];
    if (!bd) out.push(`${path}.${k}: unknown field (priority, everyS, count, volume)`);
    else if (typeof v !== 'number' || !Number.isInteger(v) || v < bd[0] || v > bd[1])
      out.push(`${path}.${k}: must be a whole number ${bd[0]}..${bd[1]}`);
    else rule[k as keyof EventRule] = v;
  }
  return rule;
}

/**
 * The mapping from its parsed JSON, or every problem. `minRepeatS` is the fleet's config
 * `schedule.minRepeatS` (`noc cap --min-repeat-s`; the contract's 60 s by default): the
 * shortest cadence an event rule may give.
 */
export function readMapping(
  raw: unknown,
  minRepeatS = 60,
): { ok: true; mapping: Mapping } | { ok: false; problems: string[] } {
  const out: string[] = [];
  if (!isObj(raw)) return { ok: false, problems: ['the mapping must be a JSON object'] };
  for (const k of Object.keys(raw))
    if (!['languages', 'geocodes', 'groups', 'events', 'scopes', '$comment'].includes(k))
      out.push(`${k}: unknown field (languages, geocodes, groups, events, scopes)`);
  const m: Mapping = { languages: ['vi', 'en'], geocodes: {}, groups: {}, events: {}, scopes: ['Public'] };
  if (raw.scopes !== undefined) {
    if (
      !Array.isArray(raw.scopes) ||
      raw.scopes.length === 0 ||
      raw.scopes.some((x) => !['Public', 'Restricted', 'Private'].includes(x as string))
    )
      out.push('scopes: must be a non-empty list of Public, Restricted, Private');
    else m.scopes = raw.scopes as string[];
  }
  if (raw.languages !== undefined) {
    if (!Array.isArray(raw.languages) || raw.languages.some((l) => typeof l !== 'string' || l === ''))
      out.push('languages: must be a list of language tags, e.g. ["vi", "en"]');
    else m.languages = raw.languages as string[];
  }
  const group = (g: unknown, path: string) => {
    if (typeof g !== 'string' || !ID_RE.test(g))
      out.push(`${path}: ${JSON.stringify(g)} is not a group name (${ID_RE.source})`);
    else m.groups[g] ??= { exercise: false, actual: true };
  };
  if (raw.groups !== undefined) {
    if (!isObj(raw.groups)) out.push('groups: must be an object of group name → {exercise, actual, point}');
    else
      for (const [g, v] of Object.entries(raw.groups)) {
        group(g, `groups.${g}`);
        if (!isObj(v)) {
          out.push(`groups.${g}: must be an object`);
          continue;
        }
        const info: GroupInfo = { exercise: false, actual: true };
        for (const [k, x] of Object.entries(v)) {
          if (k === 'exercise' || k === 'actual') {
            if (typeof x !== 'boolean') out.push(`groups.${g}.${k}: must be true or false`);
            else info[k] = x;
          } else if (k === 'point') {
            const ok =
              Array.isArray(x) &&
              x.length === 2 &&
              typeof x[0] === 'number' &&
              typeof x[1] === 'number' &&
              Math.abs(x[0]) <= 90 &&
              Math.abs(x[1]) <= 180;
            if (!ok) out.push(`groups.${g}.point: must be [latitude, longitude]`);
            else info.point = [x[0], x[1]];
          } else out.push(`groups.${g}.${k}: unknown field (exercise, actual, point)`);
        }
        m.groups[g] = info;
      }
  }
  if (raw.geocodes !== undefined) {
    if (!isObj(raw.geocodes)) out.push('geocodes: must be an object: valueName → {value → [groups]}');
    else
      for (const [name, values] of Object.entries(raw.geocodes)) {
        if (!isObj(values)) {
          out.push(`geocodes.${name}: must be an object: value → [groups]`);
          continue;
        }
        m.geocodes[name] = {};
        for (const [value, groups] of Object.entries(values)) {
          const path = `geocodes.${name}.${value}`;
          if (!Array.isArray(groups) || groups.length === 0) {
            out.push(`${path}: must be a non-empty list of group names`);
            continue;
          }
          groups.forEach((g, k) => group(g, `${path}[${k}]`));
          m.geocodes[name]![value] = groups as string[];
        }
      }
  }
  if (raw.events !== undefined) {
    if (!isObj(raw.events)) out.push('events: must be an object: event → {priority, everyS, count, volume}');
    else
      for (const [ev, r] of Object.entries(raw.events)) m.events[ev] = ruleProblems(r, `events.${ev}`, out, minRepeatS);
  }
  if (Object.keys(m.groups).length === 0)
    out.push('no group is named: give geocodes (valueName → value → groups) or groups with a point');
  return out.length ? { ok: false, problems: out } : { ok: true, mapping: m };
}

/** Is [lat, lon] inside the polygon (ray casting on lon/lat as a plane: fine at commune scale)? */
export function inPolygon([lat, lon]: [number, number], poly: [number, number][]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [yi, xi] = poly[i]!;
    const [yj, xj] = poly[j]!;
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Great-circle distance in km (haversine, mean Earth radius). */
export function distanceKm(a: [number, number], b: [number, number]): number {
  const rad = Math.PI / 180;
  const dLat = (b[0] - a[0]) * rad;
  const dLon = (b[1] - a[1]) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}
