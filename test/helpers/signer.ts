// The centre's signing side for tests: an Ed25519 key pair and JWS compact signing
// (the contract's one signDoc, as noc and the demo sign), with knobs to produce every
// kind of bad document the box must refuse.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SCHEDULE_TYP, signDoc } from '../../contract/index.js';

export interface TestKey {
  kid: string;
  privateKey: KeyObject;
  /** As the agent's config takes it: raw 32 bytes, base64url. */
  publicKey: string;
}

export function makeKey(kid: string): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { kid, privateKey, publicKey: publicKey.export({ format: 'jwk' }).x! };
}

export async function sign(payload: unknown, key: TestKey, header: Record<string, unknown> = {}): Promise<string> {
  return signDoc(payload, { key: key.privateKey, kid: key.kid }, SCHEDULE_TYP, header);
}

/** A valid schedule document; override any field. */
export function scheduleDoc(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'schedule',
    id: 'c26734-daily',
    version: 1,
    issuedAt: new Date(Date.now() - 60_000).toISOString(),
    expiresAt: new Date(Date.now() + 7 * 86_400_000).toISOString(),
    target: { groups: ['c26734'] },
    timezone: 'Asia/Ho_Chi_Minh',
    media: [],
    items: [],
    ...over,
  };
}

/** A compact JWS with any header and a signature of random bytes (for alg confusion tests). */
export function forge(payload: unknown, header: Record<string, unknown>): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64url');
  return `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}.${Buffer.from(crypto.getRandomValues(new Uint8Array(64))).toString('base64url')}`;
}
