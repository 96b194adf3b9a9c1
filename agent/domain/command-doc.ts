// The command document of docs/protocol.md §4, as one schema (validation, messages that
// name the bad field, and the types), and its verification. Pure: no I/O, no clock.
//
// Order of checks, the first failure deciding the result's error code:
//   size, JWS form, alg, known kid, signature, typ, payload schema, target, expiry,
//   at-most-once (the id was seen before).
// The `noc` CLI validates with this same schema before it signs.
import { z } from 'zod';
import { ID_RE, describe, instant, mediaSchema, sourceSchema, targetSchema, type MediaRef, type Source, type Target } from './schedule-doc.js';
import { COMMAND_TYP, checkEnvelope, verifyJws, type Binding, type KeyRing, type RejectReason } from './verify.js';
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
      z.object({ ...common, action: z.literal('stop'), args: z.object({ itemId: z.string('must be a string').regex(ID_RE, `must match ${ID_RE.source}`).optional() }).default({}) }),
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
  | { ok: false; code: CommandErrorCode; message: string; cmdId: string | null; unverified?: true };

export interface CommandContext {
  deviceId: string;
  groups: readonly string[];
  now: number;
  maxBytes: number;
  /** The topic the command came on (contract v1.1 §2.1); without it, any of the box's ids and groups. */
  binding?: Binding;
  /** Longest `expiresAt - issuedAt` accepted (config `commands.maxLifetimeH`; contract default 24 h). */
  maxLifetimeMs?: number;
  /** false when the box knows its clock is not synchronised: `issuedAt` in the future is then not held against it. */
  clockSynced?: boolean;
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

/** Contract v1.1 §2.1: a command lives at most this long by default (config `commands.maxLifetimeH`). */
export const DEFAULT_COMMAND_LIFETIME_MS = 24 * 3_600_000;

/**
 * Verify a command. Synchronous (node:crypto's Ed25519), so a flood of forgeries is
 * refused message by message without building a queue in front of a genuine one.
 */
export function verifyCommand(payload: Buffer | string, keys: KeyRing, ctx: CommandContext): CommandVerdict {
  const j = verifyJws(payload, keys, COMMAND_TYP, ctx.maxBytes);
  // The id an unverified payload claims is read by the caller, and only when it will
  // answer (the rejection budget allows it): decoding it is the costly part of a refusal.
  if (!j.ok) return { ok: false, code: j.reason, message: j.message, cmdId: null, unverified: true };
  const v = validateCommand(j.raw);
  const rawId = (j.raw as { id?: unknown })?.id;
  const cmdId = typeof rawId === 'string' && ID_RE.test(rawId) ? rawId : null;
  if (!v.ok) return { ok: false, code: 'invalid', message: v.message, cmdId };
  const doc = v.doc;
  const env = checkEnvelope(doc, { ...ctx, maxLifetimeMs: ctx.maxLifetimeMs ?? DEFAULT_COMMAND_LIFETIME_MS, what: 'command' });
  if (env) return { ok: false, code: env.reason, message: env.message, cmdId };
  if (ctx.seen(doc.id)) return { ok: false, code: 'duplicate', message: `command ${doc.id} was already received; a command runs at most once`, cmdId };
  return { ok: true, doc, kid: j.kid };
}
