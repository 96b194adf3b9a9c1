// The loa commands an alert becomes (docs/cap.md), as plain JSON, checked before
// signing with the agent's own schema (contract/command-doc.ts: `play` with `repeat`
// and `capRef`, `cancel`), so the centre never signs what a box would refuse:
//   play args' repeat: {everyS: 60..86400, until?: instant, count?: 1..1000}, exactly one of until/count;
//   action cancel, args {docId?, itemId?, cmdId?, capId?}, at least one;
//   capRef: {identifier, sender, sent, msgType} on the command.
import { envelopeProblems, problems } from '../docs.js';
import type { Action } from './map.js';

export interface MediaEntry {
  id: string;
  url: string;
  sha256: string;
  bytes: number;
  durationMs?: number;
}

export function buildCommand(a: Action, now: number, media?: MediaEntry): Record<string, unknown> {
  const envelope = {
    type: 'command',
    id: a.id,
    issuedAt: new Date(now).toISOString(),
    expiresAt: a.expiresAt,
    target: { groups: a.groups },
  };
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

/**
 * Every problem of a command built here, for each group topic it goes to: the agent's
 * own schema and entry point (the box's minimum cadence included: `minRepeatS`, the
 * fleet's config `schedule.minRepeatS`, default the contract's 60 s), then the envelope.
 */
export function commandProblems(doc: Record<string, unknown>, now: number, minRepeatS?: number): string[] {
  const out = problems('command', doc, minRepeatS);
  if (doc.action !== 'play' && doc.action !== 'cancel')
    out.push(`action: ${String(doc.action)} is not made from CAP (play, cancel)`);
  if (out.length) return out;
  for (const g of (doc.target as { groups: string[] }).groups) {
    const env = envelopeProblems('command', doc, now, { kind: 'group', name: g });
    out.push(...env.problems, ...env.warnings);
  }
  return out;
}
