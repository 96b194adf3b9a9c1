// `noc sign`: validate a schedule or command with the agent's own schema, then sign it.
import { writeFileSync } from 'node:fs';
import { parseArgs, positionals, required } from './args.js';
import { docKind, fillCommand, loadSigningKey, problems, readJsonFile, signDoc, warnings, type DocKind, type SigningKey } from './docs.js';
import { Failure, errorMessage } from './errors.js';
import type { Io } from './io.js';

const SPEC = { key: { kind: 'string' }, kid: { kind: 'string' }, out: { kind: 'string' }, ttl: { kind: 'number', min: 1 } } as const;

export const SIGN_HELP = `noc sign <file.json> --key <kid.key.pem> [--kid kid] [--out file] [--ttl 300]

Check a schedule or command document (its "type" field says which) with the schema the
boxes use, print every problem with its field path, and sign it only when valid: a JWS
(compact) with header {"alg":"EdDSA","kid":<kid>,"typ":"loa-schedule+json"|"loa-command+json"}.

  --key FILE   Ed25519 private key (PKCS8 PEM, from noc keys)
  --kid KID    key id in the header (default: the key file name without .key.pem)
  --out FILE   write the JWS there (default: standard output)
  --ttl S      a command without expiresAt expires S seconds after now (default 300);
               a command without id/issuedAt gets a random UUID / now (and says so)`;

export interface Prepared {
  doc: Record<string, unknown>;
  kind: DocKind;
}

/**
 * Fill (commands), validate and warn: the shared front half of sign, publish and send.
 * Throws a Failure listing every problem; nothing invalid goes further.
 */
export function prepareDoc(raw: unknown, where: string, io: Io, now: number, ttlS: number): Prepared {
  const kind = docKind(raw, where);
  let doc = raw as Record<string, unknown>;
  if (kind === 'command' && typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const f = fillCommand(doc, now, ttlS);
    doc = f.doc;
    if (f.filled.length) io.err(`filled in: ${f.filled.join(', ')}`);
  }
  const bad = problems(kind, doc);
  if (bad.length) {
    for (const p of bad) io.err(`${where}: ${p}`);
    throw new Failure(`${where}: ${bad.length} problem${bad.length > 1 ? 's' : ''} in the ${kind}; nothing signed (fix the fields above)`);
  }
  for (const w of warnings(kind, doc, now)) io.err(`warning: ${where}: ${w}`);
  return { doc, kind };
}

export async function signPrepared(p: Prepared, key: SigningKey): Promise<string> {
  return signDoc(p.doc, p.kind, key);
}

export async function signCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'sign');
  if (help) return io.out(SIGN_HELP), 0;
  const [file] = positionals(positional, ['<file.json>'], 'sign');
  const key = loadSigningKey(required(opts.key, '--key', 'centre-2026.key.pem'), opts.kid);
  const prepared = prepareDoc(readJsonFile(file!), file!, io, Date.now(), opts.ttl ?? 300);
  const jws = await signPrepared(prepared, key);
  if (opts.out) {
    try {
      writeFileSync(opts.out, jws + '\n');
    } catch (err) {
      throw new Failure(`cannot write ${opts.out}: ${errorMessage(err)}`);
    }
    io.err(`signed ${prepared.kind} ${String(prepared.doc.id)} with kid ${key.kid} -> ${opts.out}`);
  } else io.out(jws);
  return 0;
}
