// The loa commands an alert becomes (docs/cap.md), as plain JSON, checked before
// signing. The box side of issue 16 (repeat, cancel) is not built yet, so the agent's
// schema does not know `repeat`, `capRef` or the `cancel` action: the parts it knows
// are checked with it (a play command's source, media, priority; the envelope), the new
// parts by the contract written for them here:
//   play args gain repeat: {everyS: 60..86400, until?: instant, count?: 1..1000}, exactly one of until/count;
//   action cancel, args {docId?, itemId?, cmdId?, capId?}, at least one;
//   capRef: {identifier, sender, sent, msgType} on the command.
import { ID_RE } from '../../agent/domain/contract.js';
import { envelopeProblems, problems } from '../docs.js';
import type { Action, CapRefField, Repeat } from './map.js';

export interface MediaEntry {
  id: string;
  url: string;
  sha256: string;
  bytes: number;
  durationMs?: number;
}

export function buildCommand(a: Action, now: number, media?: MediaEntry): Record<string, unknown> {
  const envelope = { type: 'command', id: a.id, issuedAt: new Date(now).toISOString(), expiresAt: a.expiresAt, target: { groups: a.groups } };
  if (a.kind === 'cancel') return { ...envelope, action: 'cancel', args: { capId: a.capId }, capRef: a.capRef };
  if (!media) throw new Error(`play ${a.id} needs its media`);
  return {
    ...envelope,
    action: 'play',
    args: {
      source: { kind: 'file', media: [media.id] },
      priority: a.priority,
      ...(a.volume !== undefined ? { volume: a.volume } : {}),
      media: [media],
      repeat: a.repeat,
    },
    capRef: a.capRef,
  };
}

const INSTANT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const whole = (v: unknown, lo: number, hi: number) => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

export function repeatProblems(r: unknown): string[] {
  if (!isObj(r)) return ['args.repeat: must be an object {everyS, until | count}'];
  const out: string[] = [];
  const x = r as Partial<Repeat> & Record<string, unknown>;
  for (const k of Object.keys(x)) if (!['everyS', 'until', 'count'].includes(k)) out.push(`args.repeat.${k}: unknown field`);
  if (!whole(x.everyS, 60, 86_400)) out.push('args.repeat.everyS: must be whole seconds, 60 to 86400');
  const hasUntil = x.until !== undefined;
  const hasCount = x.count !== undefined;
  if (hasUntil === hasCount) out.push('args.repeat: must have exactly one of until or count');
  if (hasUntil && (typeof x.until !== 'string' || !INSTANT_RE.test(x.until) || Number.isNaN(Date.parse(x.until)))) out.push('args.repeat.until: must be an RFC 3339 instant');
  if (hasCount && !whole(x.count, 1, 1000)) out.push('args.repeat.count: must be a whole number, 1 to 1000');
  return out;
}

export function capRefProblems(c: unknown): string[] {
  if (!isObj(c)) return ['capRef: must be an object {identifier, sender, sent, msgType}'];
  const out: string[] = [];
  const r = c as Partial<CapRefField>;
  for (const k of ['identifier', 'sender', 'sent'] as const) if (typeof r[k] !== 'string' || r[k] === '') out.push(`capRef.${k}: must be a non-empty string`);
  if (!['Alert', 'Update', 'Cancel'].includes(String(r.msgType))) out.push('capRef.msgType: must be Alert, Update or Cancel');
  return out;
}

export function cancelArgsProblems(a: unknown): string[] {
  if (!isObj(a)) return ['args: must be an object {docId?, itemId?, cmdId?, capId?}'];
  const out: string[] = [];
  const keys = ['docId', 'itemId', 'cmdId', 'capId'];
  for (const k of Object.keys(a)) if (!keys.includes(k)) out.push(`args.${k}: unknown field (${keys.join(', ')})`);
  if (!keys.some((k) => a[k] !== undefined)) out.push(`args: must name at least one of ${keys.join(', ')}`);
  for (const k of ['docId', 'itemId', 'cmdId']) if (a[k] !== undefined && (typeof a[k] !== 'string' || !ID_RE.test(a[k]))) out.push(`args.${k}: must match ${ID_RE.source}`);
  if (a.capId !== undefined && (typeof a.capId !== 'string' || a.capId === '' || /[\s,<&]/.test(a.capId))) out.push('args.capId: must be a CAP identifier (no spaces, commas, "<" or "&")');
  return out;
}

/**
 * Every problem of a command built here, for each group topic it goes to: the agent's
 * own schema for what the box already knows, the rules above for the rest.
 */
export function commandProblems(doc: Record<string, unknown>, now: number): string[] {
  const out: string[] = [];
  const known = doc.action === 'cancel' ? { ...doc, action: 'ping', args: {} } : doc;
  out.push(...problems('command', known));
  if (doc.action === 'play') out.push(...repeatProblems((doc.args as { repeat?: unknown }).repeat));
  else if (doc.action === 'cancel') out.push(...cancelArgsProblems(doc.args));
  else out.push(`action: ${String(doc.action)} is not made from CAP (play, cancel)`);
  if (doc.capRef !== undefined) out.push(...capRefProblems(doc.capRef));
  if (out.length) return out;
  for (const g of (doc.target as { groups: string[] }).groups) {
    const env = envelopeProblems('command', doc, now, { kind: 'group', name: g });
    out.push(...env.problems, ...env.warnings);
  }
  return out;
}
