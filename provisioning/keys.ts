// The device's identity for mutual TLS: its private key, the certificate signing
// request the centre's CA signs, and the fingerprint by which the centre recognises it.
//
// Key type: EC P-256 (prime256v1), not Ed25519. Every broker the contract names takes
// ECDSA P-256 client certificates (Mosquitto/OpenSSL, EMQX, HiveMQ, VerneMQ, and AWS IoT
// Core, which accepts RSA and ECDSA P-256/P-384 device certificates but not Ed25519), as
// do the CAs a province is likely to run. Ed25519 stays what it is in loa: the centre's
// document-signing algorithm (contract §2), which no TLS stack has to support.
//
// Fingerprint: SHA-256 over the DER SubjectPublicKeyInfo of the device's public key, in
// hex. The centre computes the same from the CSR or the signed certificate:
//   openssl req -in device.csr -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum
import { execFileSync } from 'node:child_process';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { atomicWrite, PUBLIC_MODE, SECRET_MODE, type Account } from './files.js';

// Why (init says it, from the catalogue: init.keyWhy): the client-certificate key type
// every MQTT broker and CA accepts (Ed25519 is not, e.g. on AWS IoT).
export const KEY_ALGORITHM = 'EC P-256 (prime256v1)';

export function generateDeviceKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function readPrivateKey(path: string): KeyObject {
  return createPrivateKey(readFileSync(path));
}

/** sha256 hex of the DER SubjectPublicKeyInfo. Takes a private key, public key, certificate or CSR holder's key. */
export function fingerprintOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** "ab12 cd34 …": the first 8 groups, readable aloud over the phone to the centre. */
export function shortFingerprint(hex: string): string {
  return (hex.match(/.{4}/g) ?? []).slice(0, 8).join(' ');
}

/** Describe a key for `show`: "EC P-256" / "Ed25519" / "RSA 2048". */
export function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') return `EC ${d?.namedCurve === 'prime256v1' ? 'P-256' : (d?.namedCurve ?? '?')}`;
  if (key.asymmetricKeyType === 'rsa') return `RSA ${d?.modulusLength ?? '?'}`;
  return key.asymmetricKeyType === 'ed25519' ? 'Ed25519' : String(key.asymmetricKeyType);
}

/** Escape a value for `openssl req -subj` ("/" "+" "=" "\" are separators there). */
function rdn(v: string): string {
  return v.replace(/[\\/+=]/g, (c) => `\\${c}`);
}

export function csrSubject(deviceId: string, communeCode: string | undefined): string {
  return `/CN=${rdn(deviceId)}/O=loa${communeCode ? `/OU=${rdn(communeCode)}` : ''}`;
}

/** Make the CSR with openssl (on every Debian box); written atomically, 0644 (it holds no secret). */
export function writeCsr(keyPath: string, csrPath: string, subject: string, account?: Account): void {
  const pem = execFileSync('openssl', ['req', '-new', '-utf8', '-key', keyPath, '-subj', subject, '-sha256'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20_000,
  });
  if (!pem.includes('BEGIN CERTIFICATE REQUEST')) throw new Error(`openssl req printed no CSR`);
  atomicWrite(csrPath, pem, PUBLIC_MODE, 'public', account);
}

export function writeDeviceKey(path: string, account?: Account): KeyObject {
  const pem = generateDeviceKeyPem();
  atomicWrite(path, pem, SECRET_MODE, 'secret', account);
  return createPrivateKey(pem);
}

export interface CertInfo {
  subject: string;
  issuer: string;
  validFrom: Date;
  validTo: Date;
  fingerprint: string;
}

export function readCertificate(path: string): X509Certificate {
  return new X509Certificate(readFileSync(path));
}

export function certInfo(cert: X509Certificate): CertInfo {
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    validFrom: new Date(cert.validFrom),
    validTo: new Date(cert.validTo),
    fingerprint: fingerprintOf(cert.publicKey),
  };
}

/** Does this certificate belong to this private key? */
export function certMatchesKey(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}
