// Signed documents on the centre's side (contract §2): read a JSON document, check it
// with the very schemas the agent verifies with (agent/domain/*-doc.ts), fill a
// command's bookkeeping fields, and sign it as a compact JWS with Ed25519.
//
// Invariant: nothing invalid is ever signed. A signature is a promise to every box
// that trusts the key; the box would refuse a bad document anyway, but only after it
// travelled to the whole fleet and came back as one rejection event per box.
import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { CompactSign, decodeProtectedHeader } from 'jose';
import { ID_RE, describe, scheduleSchema, validateSchedule } from '../agent/domain/schedule-doc.js';
import { commandSchema, validateCommand } from '../agent/domain/command-doc.js';
import { COMMAND_TYP, SCHEDULE_TYP } from '../agent/domain/verify.js';
import { Failure, UsageError, errorMessage } from './errors.js';

export type DocKind = 'schedule' | 'command';

export const TYP: Record<DocKind, string> = { schedule: SCHEDULE_TYP, command: COMMAND_TYP };

/** The box's default payload limit (contract §2); a larger document is refused there. */
export const MAX_BYTES = 256 * 1024;

export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Failure(`${path}: ${errorMessage(err)}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Failure(`${path}: not valid JSON (${errorMessage(err)})`);
  }
}

/** Which schema applies: the document's own `type` field decides. */
export function docKind(raw: unknown, where: string): DocKind {
  const t = (raw as { type?: unknown } | null)?.type;
  if (t === 'schedule' || t === 'command') return t;
  throw new Failure(`${where}: type: must be "schedule" or "command" (got ${JSON.stringify(t)}); it picks the schema the document is checked against`);
}

/**
 * Every problem of the document, each naming its field ("items[1].cron: must have 5
 * fields ..."), empty when valid. The agent's validate*() stop at five; the author of
 * a document wants the whole list in one go.
 */
export function problems(kind: DocKind, raw: unknown): string[] {
  const r = kind === 'schedule' ? scheduleSchema.safeParse(raw) : commandSchema.safeParse(raw);
  if (!r.success) return r.error.issues.map(describe);
  // The agent's entry points, as the final word: what they accept, the box accepts.
  const v = kind === 'schedule' ? validateSchedule(raw) : validateCommand(raw);
  return v.ok ? [] : [v.message];
}

/**
 * A command without `id`, `issuedAt` or `expiresAt` gets them: a random UUID, now, and
 * now + ttl. Returns the filled document and what was filled, so the caller can say so.
 */
export function fillCommand(raw: Record<string, unknown>, now: number, ttlS: number): { doc: Record<string, unknown>; filled: string[] } {
  const doc = { ...raw };
  const filled: string[] = [];
  if (doc.id === undefined) {
    doc.id = randomUUID();
    filled.push(`id=${String(doc.id)}`);
  }
  if (doc.issuedAt === undefined) {
    doc.issuedAt = new Date(now).toISOString();
    filled.push(`issuedAt=${String(doc.issuedAt)}`);
  }
  if (doc.expiresAt === undefined) {
    const base = Date.parse(String(doc.issuedAt));
    doc.expiresAt = new Date((Number.isNaN(base) ? now : Math.max(base, now)) + ttlS * 1000).toISOString();
    filled.push(`expiresAt=${String(doc.expiresAt)} (ttl ${ttlS} s)`);
  }
  return { doc, filled };
}

/** Warnings that do not make the document invalid but make it useless on arrival. */
export function warnings(kind: DocKind, raw: Record<string, unknown>, now: number): string[] {
  const w: string[] = [];
  const exp = typeof raw.expiresAt === 'string' ? Date.parse(raw.expiresAt) : NaN;
  if (!Number.isNaN(exp) && exp <= now) w.push(`expiresAt ${String(raw.expiresAt)} is in the past: every box will refuse this ${kind} as expired`);
  return w;
}

export interface SigningKey {
  key: KeyObject;
  kid: string;
}

/** Loads a PKCS8 PEM Ed25519 private key (what `noc keys` writes); kid defaults to its file name. */
export function loadSigningKey(path: string, kid: string | undefined): SigningKey {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Failure(`--key ${path}: ${errorMessage(err)}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Failure(`--key ${path}: not a PEM private key (${errorMessage(err)}); make one with noc keys --kid <kid>`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Failure(`--key ${path}: is a ${key.asymmetricKeyType ?? 'symmetric'} key; boxes accept only Ed25519 (make one with noc keys --kid <kid>)`);
  }
  const name = basename(path).replace(/\.key\.pem$/, '').replace(/\.pem$/, '');
  const k = kid ?? name;
  if (!ID_RE.test(k)) {
    throw new UsageError(`key id "${k}" (${kid ? '--kid' : 'from the file name'}) is not a valid kid (expected ${ID_RE.source}); pass --kid`);
  }
  return { key, kid: k };
}

export async function signDoc(doc: unknown, kind: DocKind, k: SigningKey): Promise<string> {
  const body = new TextEncoder().encode(JSON.stringify(doc));
  if (body.length > MAX_BYTES) throw new Failure(`the ${kind} is ${body.length} bytes; boxes refuse payloads over ${MAX_BYTES} bytes (too-large)`);
  return new CompactSign(body).setProtectedHeader({ alg: 'EdDSA', kid: k.kid, typ: TYP[kind] }).sign(k.key);
}

/**
 * The header and payload of a compact JWS, NOT verified: only to route it (schedule or
 * command topic) and to check it addresses what it is published to. Boxes verify.
 */
export function peekJws(jws: string, where: string): { kind: DocKind; payload: Record<string, unknown> } {
  const parts = jws.trim().split('.');
  if (parts.length !== 3) throw new Failure(`${where}: not a JWS in compact serialization (three base64url parts separated by dots)`);
  let typ: unknown;
  let payload: Record<string, unknown>;
  try {
    typ = decodeProtectedHeader(jws.trim()).typ;
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Failure(`${where}: unreadable JWS (${errorMessage(err)})`);
  }
  const kind = docKind(payload, where);
  if (typ !== TYP[kind]) throw new Failure(`${where}: header typ ${JSON.stringify(typ)} does not match a ${kind} (expected ${TYP[kind]}); boxes refuse it`);
  return { kind, payload };
}

/** Does the document's target name this device or group? (contract §2: boxes refuse otherwise) */
export function addresses(payload: Record<string, unknown>, to: { device?: string; group?: string }): boolean {
  const t = (payload.target ?? {}) as { devices?: unknown; groups?: unknown };
  const list = (v: unknown) => (Array.isArray(v) ? (v as unknown[]) : []);
  if (to.device !== undefined) return list(t.devices).includes(to.device);
  return list(t.groups).includes(to.group);
}
