// The `update` command as a simulated box (noc simulate) checks it, so `noc rollout` can
// be exercised against a fleet without the agent's OTA (docs/ota.md): the JWS checks are
// the agent's (verifyJws, checkEnvelope), by a key trusted with the role `release`; the
// args are checked for the fields the box needs. What a box then does with it (download,
// unpack, trial, commit or roll back) is simulated by SimBox (noc/fleet-box.ts).
import { z } from 'zod';
import { ID_RE, COMMAND_TYP } from '../agent/domain/contract.js';
import { DEFAULT_COMMAND_LIFETIME_MS } from '../agent/domain/command-doc.js';
import { KeyRing, checkEnvelope, verifyJws, type Binding, type TrustedKey } from '../agent/domain/verify.js';
import { VERSION_RE } from './release-manifest.js';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const updateSchema = z.object({
  type: z.literal('command'),
  id: z.string().regex(ID_RE),
  issuedAt: z.iso.datetime({ offset: true }),
  expiresAt: z.iso.datetime({ offset: true }),
  target: z.object({ devices: z.array(z.string()).optional(), groups: z.array(z.string()).optional() }),
  action: z.literal('update'),
  args: z.object({
    version: z.string().regex(VERSION_RE),
    url: z.url(),
    sha256: hex64,
    bytes: z.number().int().positive(),
    arch: z.string().optional(),
    tarSha256: hex64.optional(),
    installedBytes: z.number().int().positive().optional(),
    waitS: z.number().int().min(0).max(86_400).default(3600),
    trialS: z.number().int().min(30).max(1800).default(180),
    delta: z.object({ from: z.string(), url: z.url(), sha256: hex64, bytes: z.number().int().positive() }).optional(),
  }),
});

export type UpdateDoc = z.infer<typeof updateSchema>;

/**
 * The keys trusted with the role release, as a ring verifyJws accepts for a command's typ
 * (it asks for the role `command`): an update is the one command a release key signs.
 */
export function releaseRing(trusted: readonly TrustedKey[]): KeyRing {
  return new KeyRing(trusted.filter((k) => k.roles?.includes('release')).map((k) => ({ kid: k.kid, publicKey: k.publicKey, roles: ['command'] as const })));
}

/** Does this (unverified) command claim the action update? Only to route it. */
export function claimsUpdate(payload: Buffer): boolean {
  try {
    const p = JSON.parse(Buffer.from(payload.toString('latin1').split('.')[1] ?? '', 'base64url').toString('utf8')) as { action?: unknown };
    return p?.action === 'update';
  } catch {
    return false;
  }
}

export type UpdateVerdict = { ok: true; doc: UpdateDoc } | { ok: false; code: string; message: string; cmdId: string | null };

export function verifyUpdate(
  payload: Buffer,
  ring: KeyRing,
  ctx: { deviceId: string; groups: readonly string[]; now: number; maxBytes: number; binding?: Binding; arch: string; seen: (id: string) => boolean },
): UpdateVerdict {
  const j = verifyJws(payload, ring, COMMAND_TYP, ctx.maxBytes);
  if (!j.ok) return { ok: false, code: j.reason, message: j.reason === 'unknown-key' ? `${j.message} (an update needs a key with the role release)` : j.message, cmdId: null };
  const rawId = (j.raw as { id?: unknown })?.id;
  const cmdId = typeof rawId === 'string' && ID_RE.test(rawId) ? rawId : null;
  const v = updateSchema.safeParse(j.raw);
  if (!v.success) return { ok: false, code: 'invalid', message: v.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), cmdId };
  const doc = v.data;
  const env = checkEnvelope(doc, { ...ctx, maxLifetimeMs: DEFAULT_COMMAND_LIFETIME_MS, what: 'command' });
  if (env) return { ok: false, code: env.reason, message: env.message, cmdId };
  if (ctx.seen(doc.id)) return { ok: false, code: 'duplicate', message: `command ${doc.id} was already received; a command runs at most once`, cmdId };
  if (doc.args.arch !== undefined && doc.args.arch !== ctx.arch) return { ok: false, code: 'invalid', message: `release for ${doc.args.arch}; this box is ${ctx.arch}`, cmdId };
  return { ok: true, doc };
}
