// CAP alert → loa decisions (docs/cap.md). Pure: the validated alert, the mapping, the
// time and what earlier alerts were sent to in; out come the actions (a `play` per
// info, a `cancel` per referenced alert) and one printed line per decision.
//
// An alert becomes `play` commands, not a schedule: a topic holds one schedule in force
// (contract §3), so an alert published as a group's schedule would replace the
// commune's daily programme. A command to each group topic leaves it alone.
import { createHash } from 'node:crypto';
import { capKey, type CapAlert, type CapArea, type CapInfo, type CapResource } from './alert.js';
import { DEFAULT_RULE, distanceKm, inPolygon, type Mapping } from './mapping.js';

/** contract: a command lives at most 24 h (commands.maxLifetimeH). */
export const MAX_COMMAND_LIFETIME_MS = 24 * 3_600_000;
/**
 * An info without `expires` from an alert sent longer ago than this is stale: not sent.
 * Without it, an old alert replayed into a feed (or a file run again with no state)
 * would sound its whole repeat count today.
 */
export const MAX_AGE_WITHOUT_EXPIRES_MS = 24 * 3_600_000;

export interface CapRefField {
  identifier: string;
  sender: string;
  sent: string;
  msgType: string;
}
export type Repeat = { everyS: number; until: string } | { everyS: number; count: number };

export interface PlayAction {
  kind: 'play';
  id: string;
  groups: string[];
  priority: number;
  volume?: number;
  repeat: Repeat;
  expiresAt: string;
  capRef: CapRefField;
  /** The audio: an audio resource of the alert, or text to synthesise. */
  audio: { resource: CapResource } | { tts: { lang: string; text: string; sent: string } };
  event: string;
}
export interface CancelAction {
  kind: 'cancel';
  id: string;
  groups: string[];
  capId: string;
  expiresAt: string;
  capRef: CapRefField;
}
export type Action = PlayAction | CancelAction;

/** What an earlier alert was sent to (the state file), by its CAP identifier. */
export type Known = (identifier: string) => { groups: string[] } | undefined;

export interface MapResult {
  actions: Action[];
  lines: string[];
  /**
   * An alert that should sound reaches no group for these infos: a failure, loudly (the
   * caller exits non-zero and does not record the alert as handled). One line each.
   */
  unmatched: string[];
}

/** How the alert was authenticated: an unsigned one may only cancel what this centre sent. */
export interface MapOptions {
  /** Its XML signature verified against a pinned certificate (--cap-cert). */
  signed?: boolean;
}

function shortHash(s: string, n = 16): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}

/** The loa command id of an alert: deterministic, so sending the same alert twice is one command on a box (executed at most once). */
export function commandIdFor(a: { sender: string; identifier: string }, suffix = ''): string {
  return `cap-${shortHash(`${a.sender},${a.identifier}`)}${suffix}`;
}

/** Severity and urgency → the national bulletin classes (contract §3): 100 emergency, 75 priority, 50 normal. */
export function defaultPriority(info: Pick<CapInfo, 'severity' | 'urgency'>): { priority: number; why: string } {
  if (info.severity === 'Extreme' && info.urgency === 'Immediate')
    return { priority: 100, why: 'Extreme and Immediate: emergency' };
  if (info.severity === 'Extreme' || info.severity === 'Severe')
    return { priority: 75, why: `${info.severity}: priority` };
  return { priority: 50, why: `${info.severity || 'no severity'}: normal` };
}

/** The infos in the first preferred language the alert has (all infos of the first one's language otherwise). */
export function pickInfos(infos: CapInfo[], languages: string[]): CapInfo[] {
  const lang = (i: CapInfo) => i.language.toLowerCase();
  for (const pref of languages.map((l) => l.toLowerCase())) {
    const hit = infos.filter((i) => lang(i) === pref || lang(i).startsWith(pref + '-'));
    if (hit.length) return hit;
  }
  return infos.length ? infos.filter((i) => lang(i) === lang(infos[0]!)) : [];
}

/** Groups an area reaches, each with the reason (geocode or point in a shape). */
export function groupsOfArea(area: CapArea, m: Mapping): Map<string, string> {
  const out = new Map<string, string>();
  for (const g of area.geocodes)
    for (const name of m.geocodes[g.valueName]?.[g.value] ?? [])
      if (!out.has(name)) out.set(name, `geocode ${g.valueName}=${g.value}`);
  for (const [name, info] of Object.entries(m.groups)) {
    if (!info.point || out.has(name)) continue;
    if (area.polygons.some((p) => inPolygon(info.point!, p))) out.set(name, 'its point is inside a polygon');
    else if (area.circles.some((c) => distanceKm(info.point!, [c.lat, c.lon]) <= c.radiusKm))
      out.set(name, 'its point is inside a circle');
  }
  return out;
}

export function audioResource(info: CapInfo): CapResource | undefined {
  return info.resources.find((r) => /^audio\//i.test(r.mimeType) && (r.uri !== undefined || r.derefUri !== undefined));
}

/** The text read out for a text-only alert (the issue time is prefixed by tts.ts). */
export function spokenText(info: CapInfo): string {
  return [info.headline, info.description, info.instruction]
    .filter((s): s is string => Boolean(s))
    .join('. ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** What an area names, for a refusal: "VN-ADMIN=26734, VN-ADMIN=79" or its shapes. */
function describeArea(a: CapArea): string {
  const parts = [
    ...a.geocodes.map((g) => `${g.valueName}=${g.value}`),
    ...(a.polygons.length ? [`${a.polygons.length} polygon(s)`] : []),
    ...(a.circles.length ? [`${a.circles.length} circle(s)`] : []),
  ];
  return `"${a.areaDesc}" (${parts.join(', ') || 'no geocode, polygon or circle'})`;
}

/** The mapping's keys, for a refusal: what a geocode would have had to be. */
function mappingKeys(m: Mapping): string {
  const codes = Object.entries(m.geocodes).map(
    ([name, values]) =>
      `${name} (${Object.keys(values).length} value${Object.keys(values).length === 1 ? '' : 's'}: ${Object.keys(values).slice(0, 5).join(', ')}${Object.keys(values).length > 5 ? ', …' : ''})`,
  );
  const points = Object.entries(m.groups).filter(([, g]) => g.point).length;
  return `the mapping's geocodes: ${codes.join('; ') || 'none'}; groups with a point: ${points}`;
}

export function mapAlert(
  alert: CapAlert,
  m: Mapping,
  now: number,
  known: Known = () => undefined,
  o: MapOptions = {},
): MapResult {
  const lines: string[] = [];
  const actions: Action[] = [];
  const unmatched: string[] = [];
  const who = `cap ${alert.sender} ${alert.identifier}`;
  const say = (l: string) => lines.push(`${who}: ${l}`);
  say(
    `status ${alert.status}, msgType ${alert.msgType}, sent ${alert.sent}, ${alert.infos.length} info${alert.infos.length === 1 ? '' : 's'}`,
  );
  if (alert.status === 'Draft' || alert.status === 'System') {
    say(
      `ignored: status ${alert.status} (${alert.status === 'Draft' ? 'a draft is never actioned' : 'a System message is for the alerting network, not the public'})`,
    );
    return { actions, lines, unmatched };
  }
  if (!m.scopes.includes(alert.scope)) {
    say(
      `ignored: scope ${alert.scope} (${alert.scope === 'Private' ? `addressed to ${alert.addresses ?? '?'}` : `restricted: ${alert.restriction ?? '?'}`}); loudspeakers are heard by everyone, and the mapping's "scopes" is ${m.scopes.join(', ')}`,
    );
    return { actions, lines, unmatched };
  }
  if (alert.msgType === 'Ack' || alert.msgType === 'Error') {
    say(`ignored: msgType ${alert.msgType} (answers between alerting systems, nothing to broadcast)`);
    return { actions, lines, unmatched };
  }
  const exercise = alert.status === 'Exercise' || alert.status === 'Test';
  const eligible = (g: string) => (exercise ? m.groups[g]?.exercise === true : m.groups[g]?.actual !== false);
  const capRef: CapRefField = {
    identifier: alert.identifier,
    sender: alert.sender,
    sent: alert.sent,
    msgType: alert.msgType,
  };
  const infos = pickInfos(alert.infos, m.languages);
  if (alert.infos.length && infos.length < alert.infos.length)
    say(
      `using ${infos.length} of ${alert.infos.length} infos: language ${infos[0]!.language} (preference ${m.languages.join(', ')})`,
    );

  // Groups each info's areas reach, filtered by status.
  const targets = infos.map((info, k) => {
    const found = new Map<string, string>();
    info.areas.forEach((area) => {
      for (const [g, why] of groupsOfArea(area, m)) if (!found.has(g)) found.set(g, `area "${area.areaDesc}": ${why}`);
    });
    for (const [g, why] of found) {
      if (eligible(g)) say(`info[${k}] -> group ${g} (${why})`);
      else
        say(
          `info[${k}] -> not group ${g} (${why}, but ${exercise ? `status ${alert.status} goes only to groups with "exercise": true` : 'the group has "actual": false'})`,
        );
    }
    if (!found.size) {
      const l = `info[${k}] "${info.event}": no area maps to a group: ${info.areas.map(describeArea).join('; ') || 'no area'}; ${mappingKeys(m)}`;
      say(l);
      if (alert.msgType !== 'Cancel') unmatched.push(`${who}: ${l}`);
    }
    return [...found.keys()].filter(eligible).sort();
  });

  if (alert.msgType === 'Update' || alert.msgType === 'Cancel') {
    // A cancel only cancels what the centre sent: to the groups the referenced alert went
    // to. An alert this centre never actioned is cancelled nowhere on an unsigned word (an
    // unsigned Cancel naming an alert not yet issued silenced the real one when it came);
    // a signed one (--cap-cert) reaches its own areas' groups. Never every group.
    const areaGroups = o.signed ? [...new Set(targets.flat())].sort() : [];
    for (const r of alert.references) {
      const before = known(r.identifier)?.groups ?? [];
      const groups = before.length ? before : areaGroups;
      const why = before.length
        ? `sent to ${before.join(' ')} from here`
        : `not sent from here; the signed ${alert.msgType}'s own areas`;
      if (!groups.length) {
        say(
          `cancel of ${capKey(r)}: not sent: ${o.signed ? 'its areas map to no group' : `not actioned here, and an unsigned ${alert.msgType} cancels only what this centre sent (--cap-cert to trust the authority's signature)`}`,
        );
        continue;
      }
      actions.push({
        kind: 'cancel',
        id: commandIdFor(alert, `-x${shortHash(capKey(r), 8)}`),
        groups,
        capId: r.identifier,
        expiresAt: new Date(now + MAX_COMMAND_LIFETIME_MS).toISOString(),
        capRef,
      });
      say(
        `${alert.msgType === 'Update' ? 'replaces' : 'cancels'} ${capKey(r)} (${why}): cancel {capId: ${r.identifier}} -> ${groups.join(' ')}`,
      );
    }
    if (alert.msgType === 'Cancel') return { actions, lines, unmatched };
  }

  infos.forEach((info, k) => {
    const tag = `info[${k}] "${info.event}"`;
    const groups = targets[k]!;
    if (!groups.length) return void say(`${tag}: not sent (no eligible group)`);
    const expires = info.expires !== undefined ? Date.parse(info.expires) : undefined;
    if (expires !== undefined && expires <= now) return void say(`${tag}: not sent: expired at ${info.expires}`);
    if (expires === undefined && now - Date.parse(alert.sent) > MAX_AGE_WITHOUT_EXPIRES_MS)
      return void say(
        `${tag}: not sent: no expires, and sent ${alert.sent}, more than ${MAX_AGE_WITHOUT_EXPIRES_MS / 3_600_000} h ago (stale)`,
      );
    const rule = { ...DEFAULT_RULE, ...m.events['*'], ...m.events[info.event] };
    const p =
      rule.priority !== undefined
        ? {
            priority: rule.priority,
            why: `events rule for "${m.events[info.event]?.priority !== undefined ? info.event : '*'}"`,
          }
        : defaultPriority(info);
    const repeat: Repeat =
      expires !== undefined
        ? { everyS: rule.everyS, until: new Date(expires).toISOString() }
        : { everyS: rule.everyS, count: rule.count };
    const lifetimeEnd = Math.min(expires ?? Infinity, now + MAX_COMMAND_LIFETIME_MS);
    const res = audioResource(info);
    const text = spokenText(info);
    if (!res && !text)
      return void say(`${tag}: not sent: no audio resource and no headline, description or instruction to synthesise`);
    const id = commandIdFor(alert, infos.length > 1 ? `-i${k}` : '');
    actions.push({
      kind: 'play',
      id,
      groups,
      priority: p.priority,
      ...(rule.volume !== undefined ? { volume: rule.volume } : {}),
      repeat,
      expiresAt: new Date(lifetimeEnd).toISOString(),
      capRef,
      audio: res ? { resource: res } : { tts: { lang: info.language, text, sent: alert.sent } },
      event: info.event,
    });
    say(`${tag}: severity ${info.severity}, urgency ${info.urgency} -> priority ${p.priority} (${p.why})`);
    say(
      `${tag}: repeat every ${repeat.everyS} s ${'until' in repeat ? `until ${repeat.until} (expires)` : `${repeat.count} times (no expires)`}; command ${id} expires ${new Date(lifetimeEnd).toISOString()}`,
    );
    say(
      `${tag}: audio ${res ? `resource "${res.resourceDesc}" (${res.mimeType}${res.uri ? ` ${res.uri}` : ', embedded'})` : `synthesised from ${text.length} characters of text (${info.language})`}`,
    );
  });
  return { actions, lines, unmatched };
}
