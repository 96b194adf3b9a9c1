// The command document of docs/protocol.md §4, as one schema (validation, messages that
// name the bad field, and the types), and its verification. Pure: no I/O, no clock.
//
// Order of checks, the first failure deciding the result's error code:
//   size, JWS form, alg, known kid, signature, typ, payload schema, target, expiry,
//   at-most-once (the id was seen before).
// The `noc` CLI validates with this same schema before it signs.
import { z } from 'zod';
import {
  ID_RE,
  capIdentifier,
  capRefSchema,
  describe,
  httpUrl,
  instant,
  mediaSchema,
  repeatError,
  repeatSchema,
  sourceSchema,
  targetSchema,
  type MediaRef,
  type Source,
  type Target,
} from './schedule-doc.js';
import { volumeProfileSchema } from './volume-profile.js';
import { COMMAND_TYP, checkEnvelope, verifyJws, type Binding, type KeyRing, type RejectReason } from './verify.js';

/** A `cancel` command's arguments (docs/protocol.md §7): at least one of the ids it matches. */
const idField = z.string('must be a string').regex(ID_RE, `must match ${ID_RE.source}`);
export const cancelArgsSchema = z
  .object({
    docId: idField.optional(),
    itemId: idField.optional(),
    cmdId: idField.optional(),
    capId: capIdentifier.optional(),
  })
  .refine(
    (a) => a.docId !== undefined || a.itemId !== undefined || a.cmdId !== undefined || a.capId !== undefined,
    'must name at least one of docId, itemId, cmdId, capId',
  );
export type CancelArgs = z.output<typeof cancelArgsSchema>;
const level = z.number('must be a number').min(0, 'must be 0 to 100').max(100, 'must be 0 to 100');

export const ACTIONS = [
  'ping',
  'play',
  'stop',
  'volume',
  'volume-profile',
  'sync',
  'selftest',
  'restart',
  'reboot',
  'update',
  'cancel',
  'clock',
  'live',
] as const;
export type Action = (typeof ACTIONS)[number];

const empty = z.object({}).default({});
const playArgs = z
  .object({
    source: sourceSchema,
    priority: level.int('must be a whole number').default(50),
    volume: level.optional(),
    durationS: z
      .number('must be a number')
      .int('must be whole seconds')
      .min(1, 'must be at least 1 s')
      .max(86_400, 'must be at most 1 day')
      .optional(),
    media: z.array(mediaSchema, 'must be a list').default([]),
    /** Repeat until cancelled (issue 16): the first play is now, then every everyS. */
    repeat: repeatSchema.optional(),
  })
  .superRefine((a, ctx) => {
    if (a.source.kind !== 'file' && a.durationS === undefined)
      ctx.addIssue({ code: 'custom', path: ['durationS'], message: `is required for a ${a.source.kind} source` });
    const ids = new Set(a.media.map((m) => m.id));
    const files = [a.source, 'fallback' in a.source ? a.source.fallback : undefined].filter(
      (s) => s?.kind === 'file',
    ) as { media: string[] }[];
    for (const f of files)
      for (const m of f.media)
        if (!ids.has(m))
          ctx.addIssue({
            code: 'custom',
            path: ['source', 'media'],
            message: `names media "${m}" that args.media does not list`,
          });
  });

const hex64 = z.string('must be a string').regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters');
/** A release version: semver (1.2.0, 1.2.0-rc.1); also a directory name under releases/. */
export const VERSION_RE = /^[0-9]{1,6}\.[0-9]{1,6}\.[0-9]{1,6}(-[0-9A-Za-z.-]{1,40})?$/;
const releaseVersion = z.string('must be a string').regex(VERSION_RE, 'must be a version like 1.2.0 or 1.2.0-rc.1');
const artifactBytes = z
  .number('must be a number')
  .int('must be whole bytes')
  .min(1, 'must be at least 1')
  .max(2 ** 31, 'must be at most 2 GiB');
export const RELEASE_ARCHES = ['amd64', 'arm64', 'armhf'] as const;
/** The `update` command (issue [5/8]; docs/ota.md): signed by a key with the `release` role only. */
const updateArgs = z.object({
  version: releaseVersion,
  url: httpUrl,
  sha256: hex64,
  bytes: artifactBytes,
  arch: z.enum(RELEASE_ARCHES, `must be one of ${RELEASE_ARCHES.join(', ')}`).optional(),
  tarSha256: hex64.optional(),
  installedBytes: z
    .number('must be a number')
    .int('must be whole bytes')
    .min(1, 'must be at least 1')
    .max(2 ** 40, 'must be at most 1 TiB')
    .optional(),
  waitS: z
    .number('must be a number')
    .int('must be whole seconds')
    .min(0)
    .max(86_400, 'must be at most 1 day')
    .default(3600),
  trialS: z
    .number('must be a number')
    .int('must be whole seconds')
    .min(30, 'must be at least 30 s')
    .max(1800, 'must be at most 30 min')
    .default(180),
  delta: z.object({ from: releaseVersion, url: httpUrl, sha256: hex64, bytes: artifactBytes }).optional(),
  /** Anti-rollback: a version older than the running one installs only with this set (issue [2/8]). */
  allowDowngrade: z.boolean('must be true or false').optional(),
});

/** Contract v1.2 §8: a live session's opening command. */
export const LIVE_LATENCY_MS = { min: 1000, max: 10_000, default: 2500 } as const;
export const MAX_LIVE_S = 14_400;
const liveArgs = z.object({
  sessionId: idField,
  /** The key that signs the chunks; it must hold the `live` role on the box. */
  kid: z.string('must be a string').min(1, 'must not be empty').max(128, 'must be at most 128 characters'),
  priority: level.int('must be a whole number').default(75),
  latencyMs: z
    .number('must be a number')
    .int('must be whole milliseconds')
    .min(LIVE_LATENCY_MS.min, `must be at least ${LIVE_LATENCY_MS.min} ms`)
    .max(LIVE_LATENCY_MS.max, `must be at most ${LIVE_LATENCY_MS.max} ms`)
    .default(LIVE_LATENCY_MS.default),
  codec: z.literal('opus', 'must be "opus"').default('opus'),
  sampleRate: z.union([z.literal(48_000), z.literal(16_000)], 'must be 48000 or 16000').default(48_000),
  channels: z.literal(1, 'must be 1').default(1),
  maxDurationS: z
    .number('must be a number')
    .int('must be whole seconds')
    .min(1, 'must be at least 1 s')
    .max(MAX_LIVE_S, `must be at most ${MAX_LIVE_S} s (4 h)`),
  volume: level.optional(),
});

const common = {
  type: z.literal('command', 'must be "command"'),
  id: z.string('must be a string').regex(ID_RE, `must match ${ID_RE.source}`),
  issuedAt: instant,
  expiresAt: instant,
  target: targetSchema,
  /** The CAP alert the command comes from (noc cap); proof of play names its identifier. */
  capRef: capRefSchema.optional(),
};

export const commandSchema = z
  .discriminatedUnion(
    'action',
    [
      z.object({ ...common, action: z.literal('ping'), args: empty }),
      z.object({ ...common, action: z.literal('play'), args: playArgs }),
      z.object({
        ...common,
        action: z.literal('stop'),
        args: z
          .object({ itemId: z.string('must be a string').regex(ID_RE, `must match ${ID_RE.source}`).optional() })
          .default({}),
      }),
      z.object({ ...common, action: z.literal('volume'), args: z.object({ level }) }),
      // Volume safety (docs/protocol.md §3 "Volume"): a profile, or null for the configured one.
      z.object({
        ...common,
        action: z.literal('volume-profile'),
        args: z.object({ profile: volumeProfileSchema.nullable() }),
      }),
      z.object({ ...common, action: z.literal('sync'), args: empty }),
      z.object({ ...common, action: z.literal('selftest'), args: empty }),
      z.object({ ...common, action: z.literal('restart'), args: empty }),
      z.object({ ...common, action: z.literal('reboot'), args: empty }),
      z.object({ ...common, action: z.literal('update'), args: updateArgs }),
      z.object({ ...common, action: z.literal('cancel'), args: cancelArgsSchema }),
      z.object({ ...common, action: z.literal('live'), args: liveArgs }),
      // Contract v1.2 §2.2: the centre mends a lower bound no time source corroborates.
      z.object({
        ...common,
        action: z.literal('clock'),
        args: z.object({ resetBound: z.literal(true, 'must be true') }),
      }),
    ],
    `must have an action of ${ACTIONS.join(', ')}`,
  )
  .superRefine((c, ctx) => {
    if (Date.parse(c.expiresAt) <= Date.parse(c.issuedAt))
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'must be after issuedAt' });
  });

export type CommandDoc = z.output<typeof commandSchema>;
export type PlayArgs = Extract<CommandDoc, { action: 'play' }>['args'];
export type UpdateArgs = Extract<CommandDoc, { action: 'update' }>['args'];
export type LiveArgs = Extract<CommandDoc, { action: 'live' }>['args'];
export type CancelDoc = Extract<CommandDoc, { action: 'cancel' }>;
export type { MediaRef, Source, Target };

export function validateCommand(
  raw: unknown,
  minRepeatS?: number,
): { ok: true; doc: CommandDoc } | { ok: false; message: string } {
  const r = commandSchema.safeParse(raw);
  if (r.success) {
    const e = r.data.action === 'play' ? repeatError(r.data.args.repeat, minRepeatS) : undefined;
    return e ? { ok: false, message: `args.repeat.everyS: ${e}` } : { ok: true, doc: r.data };
  }
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
  /** Config `schedule.minRepeatS`: the shortest `repeat.everyS` accepted (default 60). */
  minRepeatS?: number;
  /** Was this command id executed (or refused after verification) before? */
  seen: (cmdId: string) => boolean;
  /**
   * The latest time corroborated evidence proves (contract v1.2 §2.2): a priority-100
   * `play` and a `clock` command are judged expired on this, never on a lower bound one
   * document raised alone. Default: `now`.
   */
  vouchedNow?: number;
}

/**
 * Contract v1.2 §2.2: a signed emergency (and the command that mends time) is never
 * refused on unproven time. So is `ping`: it changes nothing, so replaying it does no
 * harm, and its answer (the heartbeat's clock.aheadS) is how the centre sees a poisoned
 * bound (a box refusing every ping `expired` for a day tells it nothing).
 */
function judgedOnVouchedTime(doc: CommandDoc): boolean {
  return (
    ((doc.action === 'play' || doc.action === 'live') && doc.args.priority === 100) ||
    doc.action === 'clock' ||
    doc.action === 'ping'
  );
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
  const v = validateCommand(j.raw, ctx.minRepeatS);
  const rawId = (j.raw as { id?: unknown })?.id;
  const cmdId = typeof rawId === 'string' && ID_RE.test(rawId) ? rawId : null;
  if (!v.ok) return { ok: false, code: 'invalid', message: v.message, cmdId };
  const doc = v.doc;
  // Keys with either role pass the check before the signature (verify.ts); the action
  // decides which one it needs: code only from a release key, everything else from a command key.
  const need = doc.action === 'update' ? 'release' : 'command';
  if (!keys.roles(j.kid).includes(need)) {
    return {
      ok: false,
      code: 'unknown-key',
      message: `key ${j.kid} is not trusted to sign ${need === 'release' ? 'an update (needs the release role)' : `a ${doc.action} command (needs the command role)`}; its roles: ${keys.roles(j.kid).join(', ')}`,
      cmdId,
    };
  }
  const now = judgedOnVouchedTime(doc) && ctx.vouchedNow !== undefined ? Math.min(ctx.now, ctx.vouchedNow) : ctx.now;
  const env = checkEnvelope(doc, {
    ...ctx,
    now,
    maxLifetimeMs: ctx.maxLifetimeMs ?? DEFAULT_COMMAND_LIFETIME_MS,
    what: 'command',
  });
  if (env) return { ok: false, code: env.reason, message: env.message, cmdId };
  if (ctx.seen(doc.id))
    return {
      ok: false,
      code: 'duplicate',
      message: `command ${doc.id} was already received; a command runs at most once`,
      cmdId,
    };
  return { ok: true, doc, kid: j.kid };
}
