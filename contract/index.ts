// contract/: the wire contract (docs/protocol.md) between the box and the centre, the one
// folder agent/, noc/ and provisioning/ all import (none of them imports another's code
// for it): topics, document and command schemas, sign/verify, telemetry shapes, the
// release delta format, the version. This file is the contract in one import, for
// everything that talks to a box from outside the agent: the centre's tool (noc/), the
// technician's tool (provisioning/), the demo's centre, the bench and the tests. The topics and their
// payload types are topics.ts (the agent's runtime imports that module alone and never
// signs); the id pattern and the size limit are the document schema's; the signing
// side, one signDoc, is here, next to the verification it must satisfy (verify.ts).
import { sign, type KeyObject } from 'node:crypto';
import { COMMAND_TYP, SCHEDULE_TYP } from './verify.js';

export * from './topics.js';
export { DEFAULT_MAX_DOC_BYTES, ID_RE } from './schedule-doc.js';
export { COMMAND_TYP, SCHEDULE_TYP } from './verify.js';

export type DocTyp = typeof SCHEDULE_TYP | typeof COMMAND_TYP;

/** An Ed25519 private key (node:crypto KeyObject: from a PKCS8 PEM or generated) and its kid. */
export interface SigningKey {
  key: KeyObject;
  kid: string;
}

/**
 * A compact JWS (RFC 7515) of `payload` (JSON; a string is signed as is), Ed25519
 * (`alg: EdDSA`), with protected header `{alg, kid, typ, ...header}` in that order:
 * byte for byte what jose's CompactSign made before (Ed25519 is deterministic). Parts
 * are unpadded base64url, the only form boxes accept (contract v1.1 §2.1). `header`
 * may add or override fields, for tests that need a document the box must refuse.
 */
export function signDoc(
  payload: unknown,
  key: SigningKey,
  typ: DocTyp | string,
  header: Record<string, unknown> = {},
): string {
  if (key.key.asymmetricKeyType !== 'ed25519')
    throw new TypeError(`signDoc needs an Ed25519 private key, got ${key.key.asymmetricKeyType ?? 'a symmetric key'}`);
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const signingInput = `${b64url(JSON.stringify({ alg: 'EdDSA', kid: key.kid, typ, ...header }))}.${b64url(body)}`;
  return `${signingInput}.${sign(null, Buffer.from(signingInput, 'ascii'), key.key).toString('base64url')}`;
}

function b64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
