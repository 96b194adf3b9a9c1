// `noc keys`: a new Ed25519 signing key for the centre. The private key stays here
// (PKCS8 PEM, mode 0600); the public half is printed in the exact form of one entry of
// the agent's `trustedKeys` (agent/config.ts), ready to paste into provisioning.
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, Failure, parseArgs, positionals, required } from '../cli-kit/index.js';
import { KEY_ROLES, type KeyRole } from '../contract/verify.js';
import { checkId } from './topics.js';
import type { Io } from './io.js';

const SPEC = { kid: { kind: 'string' }, out: { kind: 'string' }, roles: { kind: 'string' } } as const;

export const KEYS_HELP = `noc keys --kid <kid> [--out dir] [--roles r1,r2]

Generate an Ed25519 key pair. Writes the private key to <dir>/<kid>.key.pem (PKCS8 PEM,
mode 0600; never overwritten) and prints the public key as the agent's configuration
takes it, one entry of "trustedKeys":
  {"kid":"<kid>","publicKey":"<base64url of the 32 raw bytes>"}

  --kid KID    key id, e.g. centre-2026 (boxes look keys up by it; rotate by adding a new kid)
  --out DIR    where to write the private key (default: the current directory)
  --roles LIST what the key may sign: schedule, command, release, live (comma-separated).
               Default: none printed, which boxes read as schedule,command. Keep the
               release key apart from the others: a leaked scheduling key then cannot
               push code to the fleet.`;

function parseRoles(s: string): KeyRole[] {
  const roles = s.split(',').map((r) => r.trim());
  for (const r of roles)
    if (!(KEY_ROLES as readonly string[]).includes(r))
      throw new Failure(`--roles: ${JSON.stringify(r)} is not one of ${KEY_ROLES.join(', ')}`);
  if (new Set(roles).size !== roles.length) throw new Failure('--roles names a role twice');
  return roles as KeyRole[];
}

export async function keysCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc keys');
  if (help) return (io.out(KEYS_HELP), 0);
  positionals(positional, [], 'noc keys');
  const kid = checkId(required(opts.kid, '--kid', 'centre-2026'), '--kid');
  const roles = opts.roles === undefined ? undefined : parseRoles(opts.roles);
  const dir = opts.out ?? '.';
  const file = join(dir, `${kid}.key.pem`);
  if (existsSync(file))
    throw new Failure(`${file} exists; refusing to overwrite a signing key (choose another --kid or --out)`);
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  try {
    mkdirSync(dir, { recursive: true });
    // 'wx' fails if the file appeared meanwhile: never clobber a key, even in a race.
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600); // a umask cannot widen it, but be explicit
  } catch (err) {
    throw new Failure(`cannot write ${file}: ${errorMessage(err)}`);
  }
  const x = publicKey.export({ format: 'jwk' }).x!;
  io.err(`private key written to ${file} (mode 0600); keep it off the boxes`);
  io.out(JSON.stringify({ kid, publicKey: x, ...(roles ? { roles } : {}) }));
  return 0;
}
