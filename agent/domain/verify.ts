// Verification of signed schedule documents (contract §2, §3). Only a document that
// passes every check, in this order, may change what the speaker plays:
//   size, JWS form, alg, known kid, signature, typ, payload schema, target, expiry, replay.
// The first failure decides the reason reported in `schedule.rejected`. Parsing of
// the untrusted JWS is left to `jose`; we only peek at the protected header (also via
// jose) to pick the key, and nothing from the payload is trusted before the signature.
import { compactVerify, decodeProtectedHeader, importJWK, type CryptoKey } from 'jose';
import { validateSchedule, targets, type ScheduleDoc } from './schedule-doc.js';

export type RejectReason = 'signature' | 'unknown-key' | 'replay' | 'expired' | 'target' | 'invalid' | 'too-large';

export interface TrustedKey {
  kid: string;
  /** Raw Ed25519 public key, base64url (32 bytes). */
  publicKey: string;
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
  /** Highest version accepted for a document id, across restarts. */
  acceptedVersion: (docId: string) => number | undefined;
}

export const SCHEDULE_TYP = 'loa-schedule+json';
export const COMMAND_TYP = 'loa-command+json';

/** Imports trusted keys once; verification then costs one Ed25519 verify. */
export class KeyRing {
  private readonly keys = new Map<string, Promise<CryptoKey | Uint8Array>>();
  constructor(trusted: readonly TrustedKey[]) {
    for (const k of trusted) this.keys.set(k.kid, importJWK({ kty: 'OKP', crv: 'Ed25519', x: k.publicKey }, 'EdDSA'));
  }
  get(kid: string): Promise<CryptoKey | Uint8Array> | undefined {
    return this.keys.get(kid);
  }
}

type Fail = { ok: false; reason: RejectReason; message: string; docId: string | null; version: number | null };

function fail(reason: RejectReason, message: string, docId: string | null = null, version: number | null = null): Fail {
  return { ok: false, reason, message, docId, version };
}

/**
 * The checks every signed document shares (contract §2), in order: size, JWS form, alg,
 * known kid, signature, typ, JSON. Returns the parsed (still unvalidated) payload.
 */
export async function verifyJws(
  payload: Buffer | string,
  keys: KeyRing,
  typ: string,
  maxBytes: number,
): Promise<{ ok: true; raw: unknown; kid: string } | Fail> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxBytes) return fail('too-large', `${size} bytes exceeds the limit of ${maxBytes}`);
  const jws = (typeof payload === 'string' ? payload : payload.toString('utf8')).trim();
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(jws)) return fail('invalid', 'not a JWS in compact serialization');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jws);
  } catch (err) {
    return fail('invalid', `unreadable JWS header: ${(err as Error).message}`);
  }
  if (header.alg !== 'EdDSA') return fail('signature', `alg ${JSON.stringify(header.alg)} is not accepted (only EdDSA)`);
  if (typeof header.kid !== 'string') return fail('unknown-key', 'the JWS header has no kid');
  const key = keys.get(header.kid);
  if (!key) return fail('unknown-key', `kid ${JSON.stringify(header.kid)} is not a trusted key`);
  let body: Uint8Array;
  try {
    ({ payload: body } = await compactVerify(jws, await key, { algorithms: ['EdDSA'] }));
  } catch (err) {
    return fail('signature', `signature does not verify with key ${header.kid}: ${(err as Error).message}`);
  }
  if (header.typ !== typ) return fail('invalid', `typ ${JSON.stringify(header.typ)} on this topic (expected ${typ})`);
  try {
    return { ok: true, raw: JSON.parse(Buffer.from(body).toString('utf8')), kid: header.kid };
  } catch (err) {
    return fail('invalid', `payload is not JSON: ${(err as Error).message}`);
  }
}

export async function verifySchedule(payload: Buffer | string, keys: KeyRing, ctx: VerifyContext): Promise<Verdict> {
  const j = await verifyJws(payload, keys, SCHEDULE_TYP, ctx.maxBytes);
  if (!j.ok) return j;
  const raw = j.raw;
  const r = raw as { id?: unknown; version?: unknown };
  const docId = typeof r?.id === 'string' ? r.id : null;
  const version = typeof r?.version === 'number' ? r.version : null;
  const v = validateSchedule(raw);
  if (!v.ok) return fail('invalid', v.message, docId, version);
  const doc = v.doc;
  if (!targets(doc.target, ctx.deviceId, ctx.groups)) {
    return fail('target', `document targets ${JSON.stringify(doc.target)}, not this box`, doc.id, doc.version);
  }
  if (doc.expiresAt && Date.parse(doc.expiresAt) <= ctx.now) return fail('expired', `expired at ${doc.expiresAt}`, doc.id, doc.version);
  const seen = ctx.acceptedVersion(doc.id);
  if (seen !== undefined && doc.version < seen) {
    return fail('replay', `version ${doc.version} is older than the accepted version ${seen}`, doc.id, doc.version);
  }
  if (seen !== undefined && doc.version === seen) return { ok: 'same', doc };
  return { ok: true, doc, kid: j.kid };
}
