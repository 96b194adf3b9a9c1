// The command document of shared contract §4, as one schema (validation, messages that
// name the bad field, and the types), and its verification. Pure: no I/O, no clock.
//
// Order of checks, the first failure deciding the result's error code:
//   size, JWS form, alg, known kid, signature, typ, payload schema, target, expiry,
//   at-most-once (the id was seen before).
// The `noc` CLI validates with this same schema before it signs.
import { z } from 'zod';
import { ID_RE, describe, mediaSchema, sourceSchema, targetSchema, targets, type MediaRef, type Source, type Target } from './schedule-doc.js';
import { COMMAND_TYP, verifyJws, type KeyRing, type RejectReason } from './verify.js';

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const instant = z
  .string('must be an RFC 3339 timestamp')
  .regex(RFC3339_RE, 'must be an RFC 3339 timestamp with an offset, e.g. 2026-11-26T06:30:00+07:00')
  .refine((s) => !Number.isNaN(Date.parse(s)), 'is not a valid date');
const level = z.number('must be a number').min(0, 'must be 0 to 100').max(100, 'must be 0 to 100');

export const ACTIONS = ['ping', 'play', 'stop', 'volume', 'sync', 'selftest', 'restart', 'reboot'] as const;
export type Action = (typeof ACTIONS)[number];

const empty = z.object({}).default({});
const playArgs = z
  .object({
    source: sourceSchema,
    priority: level.int('must be a whole number').default(50),
    volume: level.optional(),
    durationS: z.number('must be a number').int('must be whole seconds').min(1, 'must be at least 1 s').max(86_400, 'must be at most 1 day').optional(),
    media: z.array(mediaSchema, 'must be a list').default([]),
  })
  .superRefine((a, ctx) => {
    if (a.source.kind !== 'file' && a.durationS === undefined) ctx.addIssue({ code: 'custom', path: ['durationS'], message: `is required for a ${a.source.kind} source` });
    const ids = new Set(a.media.map((m) => m.id));
    const files = [a.source, 'fallback' in a.source ? a.source.fallback : undefined].filter((s) => s?.kind === 'file') as { media: string[] }[];
    for (const f of files) for (const m of f.media) if (!ids.has(m)) ctx.addIssue({ code: 'custom', path: ['source', 'media'], message: `names media "${m}" that args.media does not list` });
  });

const common = {
  type: z.literal('command', 'must be "command"'),
  id: z.string('must be a string').regex(ID_RE, `must match ${ID_RE.source}`),
  issuedAt: instant,
  expiresAt: instant,
  target: targetSchema,
};

export const commandSchema = z
  .discriminatedUnion(
    'action',
    [
      z.object({ ...common, action: z.literal('ping'), args: empty }),
      z.object({ ...common, action: z.literal('play'), args: playArgs }),
      z.object({ ...common, action: z.literal('stop'), args: z.object({ itemId: z.string('must be a string').max(64).optional() }).default({}) }),
      z.object({ ...common, action: z.literal('volume'), args: z.object({ level }) }),
      z.object({ ...common, action: z.literal('sync'), args: empty }),
      z.object({ ...common, action: z.literal('selftest'), args: empty }),
      z.object({ ...common, action: z.literal('restart'), args: empty }),
      z.object({ ...common, action: z.literal('reboot'), args: empty }),
    ],
    `must have an action of ${ACTIONS.join(', ')}`,
  )
  .superRefine((c, ctx) => {
    if (Date.parse(c.expiresAt) <= Date.parse(c.issuedAt)) ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'must be after issuedAt' });
  });

export type CommandDoc = z.output<typeof commandSchema>;
export type PlayArgs = Extract<CommandDoc, { action: 'play' }>['args'];
export type { MediaRef, Source, Target };

export function validateCommand(raw: unknown): { ok: true; doc: CommandDoc } | { ok: false; message: string } {
  const r = commandSchema.safeParse(raw);
  if (r.success) return { ok: true, doc: r.data };
  return { ok: false, message: r.error.issues.slice(0, 5).map(describe).join('; ') };
}

/** Error codes of a refused command's result (`error.code`); `failed` is an execution error. */
export type CommandErrorCode = RejectReason | 'duplicate' | 'failed' | 'busy';

export type CommandVerdict =
  | { ok: true; doc: CommandDoc; kid: string }
  | { ok: false; code: CommandErrorCode; message: string; cmdId: string | null };

export interface CommandContext {
  deviceId: string;
  groups: readonly string[];
  now: number;
  maxBytes: number;
  /** Was this command id executed (or refused after verification) before? */
  seen: (cmdId: string) => boolean;
}

/**
 * The id a payload claims, read WITHOUT verifying it: only to address the result of a
 * refused command to the right id (contract §4: every command received gets one result).
 * Nothing else is taken from an unverified payload.
 */
export function claimedId(payload: Buffer | string): string | null {
  const s = (typeof payload === 'string' ? payload : payload.toString('utf8')).trim();
  const part = s.split('.')[1];
  if (!part || part.length > 400_000) return null;
  try {
    const id = (JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { id?: unknown })?.id;
    return typeof id === 'string' && ID_RE.test(id) ? id : null;
  } catch {
    return null;
  }
}

export async function verifyCommand(payload: Buffer | string, keys: KeyRing, ctx: CommandContext): Promise<CommandVerdict> {
  const j = await verifyJws(payload, keys, COMMAND_TYP, ctx.maxBytes);
  if (!j.ok) return { ok: false, code: j.reason, message: j.message, cmdId: claimedId(payload) };
  const v = validateCommand(j.raw);
  const rawId = (j.raw as { id?: unknown })?.id;
  const cmdId = typeof rawId === 'string' && ID_RE.test(rawId) ? rawId : null;
  if (!v.ok) return { ok: false, code: 'invalid', message: v.message, cmdId };
  const doc = v.doc;
  if (!targets(doc.target, ctx.deviceId, ctx.groups)) return { ok: false, code: 'target', message: `command targets ${JSON.stringify(doc.target)}, not this box`, cmdId };
  if (Date.parse(doc.expiresAt) <= ctx.now) return { ok: false, code: 'expired', message: `expired at ${doc.expiresAt}`, cmdId };
  if (ctx.seen(doc.id)) return { ok: false, code: 'duplicate', message: `command ${doc.id} was already received; a command runs at most once`, cmdId };
  return { ok: true, doc, kid: j.kid };
}
