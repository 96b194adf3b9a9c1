// Verification of signed documents (contract §2, v1.1 §2.1). Only a document that passes
// every check, in this order, may change what the speaker plays:
//   size, JWS form (strict base64url: the header first, the payload and signature once
//   the kid is known), alg, known kid and its role, signature, typ, payload schema
//   (with the lifetime and issuedAt bounds), target bound to the topic, expiry, replay.
// The first failure decides the reason reported in `schedule.rejected`.
//
// Everything here is synchronous and cheap before the signature: Ed25519 goes through
// node:crypto's one-shot verify (about 50 µs), so a forged message costs the box one
// parse and one verify, never a queue slot in front of a genuine one. Nothing from the
// payload is trusted before the signature.
import { createPublicKey, verify as edVerify, type KeyObject } from 'node:crypto';
import { validateSchedule, targets, type ScheduleDoc, type Target } from './schedule-doc.js';

export type RejectReason = 'signature' | 'unknown-key' | 'replay' | 'expired' | 'target' | 'invalid' | 'too-large';

/**
 * What a trusted key may sign. A key without roles signs schedules and commands (configs
 * from before roles keep working) and never a release, so a leaked scheduling key cannot
 * push code to the fleet.
 */
export type KeyRole = 'schedule' | 'command' | 'release' | 'live';
export const KEY_ROLES: readonly KeyRole[] = ['schedule', 'command', 'release', 'live'];
export const DEFAULT_KEY_ROLES: readonly KeyRole[] = ['schedule', 'command'];

export interface TrustedKey {
  kid: string;
  /** Raw Ed25519 public key, base64url (32 bytes). */
  publicKey: string;
  /** Absent: `DEFAULT_KEY_ROLES`. */
  roles?: readonly KeyRole[];
}

/** Where a document came from: contract v1.1 §2.1 binds it to the topic's device or group. */
export type Binding = { kind: 'device' | 'group'; name: string };

/** What the box knows of the document in force on a schedule topic (the per-topic high-water mark). */
export interface TopicMark {
  id: string;
  version: number;
  issuedAt: string;
}

export type Verdict =
  | { ok: true; doc: ScheduleDoc; kid: string }
  | { ok: 'same'; doc: ScheduleDoc }
  | { ok: false; reason: RejectReason; message: string; docId: string | null; version: number | null };

export interface VerifyContext {
  deviceId: string;
  groups: readonly string[];
  now: number;
  maxBytes: number;
  /** Highest version accepted for a document id, across restarts (and database losses). */
  acceptedVersion: (docId: string) => number | undefined;
  /** The topic's binding; without it (the centre's own tools), any of the box's ids and groups. */
  binding?: Binding;
  /** The mark of the document in force on the topic the document came on. */
  topicMark?: () => TopicMark | undefined;
  /** Longest `expiresAt - issuedAt` (config `schedule.maxLifetimeDays`; contract default 400 days). */
  maxLifetimeMs?: number;
  /** Config `schedule.minRepeatS`: the shortest `repeat.everyS` accepted (default 60, the contract's). */
  minRepeatS?: number;
  /** false when the box knows its clock is not synchronised. */
  clockSynced?: boolean;
}

export const SCHEDULE_TYP = 'loa-schedule+json';
export const COMMAND_TYP = 'loa-command+json';
/** Contract v1.2 §8: a chunk of a live session, signed by a key with the `live` role. */
export const LIVE_TYP = 'loa-live+json';
export const DEFAULT_SCHEDULE_LIFETIME_MS = 400 * 86_400_000;
/** Contract v1.1 §2.1: an `issuedAt` more than this far ahead of a synchronised clock is invalid. */
export const MAX_ISSUED_AHEAD_MS = 10 * 60_000;

/**
 * The roles of which a key needs one to sign a document of this `typ`, checked before the
 * signature. A command needs `command`, or `release` for the `update` action: the action
 * is read only after the signature verified (command-doc.ts checks that rule). The
 * centre's release manifest (`noc release`, `noc rollout`) needs `release`.
 */
export function rolesFor(typ: string): readonly KeyRole[] {
  if (typ === 'loa-release+json') return ['release'];
  if (typ === LIVE_TYP) return ['live'];
  return typ === SCHEDULE_TYP ? ['schedule'] : ['command', 'release'];
}

/** Imports trusted keys once; verification then costs one Ed25519 verify. */
export class KeyRing {
  private readonly keys = new Map<string, { key: KeyObject; roles: readonly KeyRole[] }>();
  constructor(trusted: readonly TrustedKey[]) {
    for (const k of trusted) {
      const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.publicKey }, format: 'jwk' });
      this.keys.set(k.kid, { key, roles: k.roles ?? DEFAULT_KEY_ROLES });
    }
  }
  get(kid: string): KeyObject | undefined {
    return this.keys.get(kid)?.key;
  }
  roles(kid: string): readonly KeyRole[] {
    return this.keys.get(kid)?.roles ?? [];
  }
  get size(): number {
    return this.keys.size;
  }
}

type Fail = { ok: false; reason: RejectReason; message: string; docId: string | null; version: number | null };

function fail(reason: RejectReason, message: string, docId: string | null = null, version: number | null = null): Fail {
  return { ok: false, reason, message, docId, version };
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/** Base64url without padding, and with the spare bits of the last character zero (RFC 4648 §3.5, RFC 7515 §2). */
export function isCanonicalBase64url(s: string): boolean {
  if (!B64URL.test(s) || s.length % 4 === 1) return false;
  return Buffer.from(s, 'base64url').toString('base64url') === s;
}

/** A protected header is small; anything bigger is not one of ours. */
const MAX_HEADER_CHARS = 1024;

/**
 * The checks every signed document shares (contract §2), in order: size, JWS form, alg,
 * known kid, signature, typ, JSON. Returns the parsed (still unvalidated) payload.
 */
export function verifyJws(
  payload: Buffer | string,
  keys: KeyRing,
  typ: string,
  maxBytes: number,
): { ok: true; raw: unknown; kid: string } | Fail {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxBytes) return fail('too-large', `${size} bytes exceeds the limit of ${maxBytes}`);
  const jws = (typeof payload === 'string' ? payload : payload.toString('latin1')).trim();
  const parts = jws.split('.');
  if (parts.length !== 3) return fail('invalid', 'not a JWS in compact serialization (three base64url parts)');
  const [h, p, sig] = parts as [string, string, string];
  if (h.length > MAX_HEADER_CHARS)
    return fail('invalid', `JWS header of ${h.length} characters (at most ${MAX_HEADER_CHARS})`);
  // The small header first: a forgery naming no trusted key is refused before its
  // payload (up to maxBytes) is decoded at all.
  if (!isCanonicalBase64url(h))
    return fail('invalid', 'JWS header is not canonical base64url (no padding, zero spare bits)');
  let header: { alg?: unknown; kid?: unknown; typ?: unknown; crit?: unknown; b64?: unknown };
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as typeof header;
  } catch (err) {
    return fail('invalid', `unreadable JWS header: ${(err as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    return fail('invalid', 'the JWS header is not a JSON object');
  if (header.alg !== 'EdDSA')
    return fail('signature', `alg ${JSON.stringify(header.alg)?.slice(0, 40)} is not accepted (only EdDSA)`);
  if (header.crit !== undefined || header.b64 !== undefined)
    return fail('invalid', 'the JWS header names extensions (crit, b64) this box does not implement');
  if (typeof header.kid !== 'string') return fail('unknown-key', 'the JWS header has no kid');
  const key = keys.get(header.kid);
  if (!key) return fail('unknown-key', `kid ${JSON.stringify(header.kid.slice(0, 64))} is not a trusted key`);
  // The role before the signature: as cheap as the kid, and a key trusted for something
  // else is, for this document, not a trusted key.
  const roles = rolesFor(typ);
  if (!keys.roles(header.kid).some((r) => roles.includes(r))) {
    return fail(
      'unknown-key',
      `key ${header.kid} is not trusted to sign a ${typ === SCHEDULE_TYP ? 'schedule' : typ === COMMAND_TYP ? 'command' : typ === LIVE_TYP ? 'live chunk' : 'release manifest'} (its roles: ${keys.roles(header.kid).join(', ') || 'none'})`,
    );
  }
  for (const [name, part] of [
    ['payload', p],
    ['signature', sig],
  ] as const) {
    if (!isCanonicalBase64url(part))
      return fail('invalid', `JWS ${name} is not canonical base64url (no padding, zero spare bits)`);
  }
  const signature = Buffer.from(sig, 'base64url');
  if (signature.length !== 64 || !edVerify(null, Buffer.from(`${h}.${p}`, 'latin1'), key, signature)) {
    return fail('signature', `signature does not verify with key ${header.kid}`);
  }
  if (header.typ !== typ) return fail('invalid', `typ ${JSON.stringify(header.typ)} on this topic (expected ${typ})`);
  try {
    return { ok: true, raw: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')), kid: header.kid };
  } catch (err) {
    return fail('invalid', `payload is not JSON: ${(err as Error).message}`);
  }
}

/**
 * The envelope rules shared by schedules and commands once the schema passed: lifetime
 * and `issuedAt` bounds (invalid), target bound to the topic, expiry. Null when all hold.
 */
export function checkEnvelope(
  doc: { issuedAt: string; expiresAt: string; target: Target },
  ctx: {
    deviceId: string;
    groups: readonly string[];
    now: number;
    binding?: Binding;
    maxLifetimeMs: number;
    clockSynced?: boolean;
    what: string;
  },
): { reason: RejectReason; message: string } | null {
  const issued = Date.parse(doc.issuedAt);
  const expires = Date.parse(doc.expiresAt);
  if (expires - issued > ctx.maxLifetimeMs) {
    return {
      reason: 'invalid',
      message: `expiresAt: lives ${describeMs(expires - issued)}, longer than this box accepts for a ${ctx.what} (${describeMs(ctx.maxLifetimeMs)})`,
    };
  }
  if (ctx.clockSynced !== false && issued > ctx.now + MAX_ISSUED_AHEAD_MS) {
    return {
      reason: 'invalid',
      message: `issuedAt: ${doc.issuedAt} is more than ${MAX_ISSUED_AHEAD_MS / 60_000} minutes ahead of this box's synchronised clock`,
    };
  }
  const b = ctx.binding;
  if (b) {
    const listed =
      b.kind === 'device' ? (doc.target.devices ?? []).includes(b.name) : (doc.target.groups ?? []).includes(b.name);
    if (!listed)
      return {
        reason: 'target',
        message: `${ctx.what} targets ${JSON.stringify(doc.target)}, which does not list the ${b.kind} ${b.name} of the topic it came on`,
      };
  } else if (!targets(doc.target, ctx.deviceId, ctx.groups)) {
    return { reason: 'target', message: `${ctx.what} targets ${JSON.stringify(doc.target)}, not this box` };
  }
  if (expires <= ctx.now) return { reason: 'expired', message: `expired at ${doc.expiresAt}` };
  return null;
}

function describeMs(ms: number): string {
  return ms >= 2 * 86_400_000 ? `${Math.round(ms / 86_400_000)} days` : `${Math.round(ms / 3_600_000)} h`;
}

/**
 * The replay rules (contract §3 per id, v1.1 §2.1 per topic): the same id and version
 * again is a no-op; a lower version of an id is `replay`; on a topic, a document with
 * another id than the one in force must be issued later than it.
 */
export function replayVerdict(
  doc: ScheduleDoc,
  seenVersion: number | undefined,
  mark: TopicMark | undefined,
): { reason: 'replay'; message: string } | 'same' | null {
  if (seenVersion !== undefined && doc.version < seenVersion)
    return { reason: 'replay', message: `version ${doc.version} is older than the accepted version ${seenVersion}` };
  if (seenVersion !== undefined && doc.version === seenVersion) return 'same';
  if (mark && mark.id === doc.id && doc.version <= mark.version) {
    return doc.version === mark.version
      ? 'same'
      : {
          reason: 'replay',
          message: `version ${doc.version} is older than version ${mark.version} in force on this topic`,
        };
  }
  if (mark && mark.id !== doc.id && Date.parse(doc.issuedAt) <= Date.parse(mark.issuedAt)) {
    return {
      reason: 'replay',
      message: `document ${doc.id} was issued ${doc.issuedAt}, not after ${mark.id} v${mark.version} in force on this topic (issued ${mark.issuedAt})`,
    };
  }
  return null;
}

export function verifySchedule(payload: Buffer | string, keys: KeyRing, ctx: VerifyContext): Verdict {
  const j = verifyJws(payload, keys, SCHEDULE_TYP, ctx.maxBytes);
  if (!j.ok) return j;
  const raw = j.raw;
  const r = raw as { id?: unknown; version?: unknown };
  const docId = typeof r?.id === 'string' ? r.id.slice(0, 64) : null;
  const version = typeof r?.version === 'number' ? r.version : null;
  const v = validateSchedule(raw, ctx.minRepeatS === undefined ? {} : { minRepeatS: ctx.minRepeatS });
  if (!v.ok) return fail('invalid', v.message, docId, version);
  const doc = v.doc;
  if (doc.expiresAt === undefined) return fail('invalid', 'expiresAt: is required', doc.id, doc.version); // validateSchedule() already says so
  const env = checkEnvelope(
    { ...doc, expiresAt: doc.expiresAt },
    { ...ctx, maxLifetimeMs: ctx.maxLifetimeMs ?? DEFAULT_SCHEDULE_LIFETIME_MS, what: 'document' },
  );
  if (env) return fail(env.reason, env.message, doc.id, doc.version);
  const replay = replayVerdict(doc, ctx.acceptedVersion(doc.id), ctx.topicMark?.());
  if (replay === 'same') return { ok: 'same', doc };
  if (replay) return fail(replay.reason, replay.message, doc.id, doc.version);
  return { ok: true, doc, kid: j.kid };
}
