// `noc sign`: validate a schedule or command with the agent's own schema, then sign it.
import { writeFileSync } from 'node:fs';
import type { Binding } from '../contract/verify.js';
import { errorMessage, Failure, parseArgs, positionals, required } from '../cli-kit/index.js';
import {
  DEFAULT_COMMAND_TTL_S,
  DEFAULT_SCHEDULE_TTL_DAYS,
  MAX_COMMAND_TTL_S,
  MAX_SCHEDULE_TTL_DAYS,
  docKind,
  envelopeProblems,
  fillCommand,
  fillSchedule,
  loadSigningKey,
  problems,
  readJsonFile,
  signForBoxes,
  type DocKind,
  type SigningKey,
} from './docs.js';
import type { Io } from './io.js';

/** The lifetime options of sign, publish (and --ttl of send), bounded by the boxes' default limits. */
export const TTL_SPEC = {
  ttl: { kind: 'number', min: 1, max: MAX_COMMAND_TTL_S },
  'ttl-days': { kind: 'number', min: 1, max: MAX_SCHEDULE_TTL_DAYS },
} as const;

const SPEC = { key: { kind: 'string' }, kid: { kind: 'string' }, out: { kind: 'string' }, ...TTL_SPEC } as const;

export const TTL_HELP = `  --ttl S      a command without expiresAt expires S seconds after now (default
               ${DEFAULT_COMMAND_TTL_S}, at most ${MAX_COMMAND_TTL_S}: boxes refuse a command living longer than 24 h);
               a command without id/issuedAt gets a random UUID / now (and says so)
  --ttl-days D a schedule without expiresAt expires D days after its issuedAt (default
               ${DEFAULT_SCHEDULE_TTL_DAYS}, at most ${MAX_SCHEDULE_TTL_DAYS}: boxes refuse a schedule living longer than 400 days);
               a schedule without issuedAt gets now (and says so)`;

export const SIGN_HELP = `noc sign <file.json> --key <kid.key.pem> [--kid kid] [--out file] [--ttl ${DEFAULT_COMMAND_TTL_S}] [--ttl-days ${DEFAULT_SCHEDULE_TTL_DAYS}]

Check a schedule or command document (its "type" field says which) with the schema and
the rules the boxes use (contract v1.1: lifetime, issuedAt at most 10 minutes ahead,
real calendar dates, URL and cron lengths, at most 1,440 occurrences a day), print every
problem with its field path, and sign it only when valid: a JWS (compact) with header
{"alg":"EdDSA","kid":<kid>,"typ":"loa-schedule+json"|"loa-command+json"}.

  --key FILE   Ed25519 private key (PKCS8 PEM, from noc keys)
  --kid KID    key id in the header (default: the key file name without .key.pem)
  --out FILE   write the JWS there (default: standard output)
${TTL_HELP}`;

export interface Prepared {
  doc: Record<string, unknown>;
  kind: DocKind;
}

export interface PrepareOptions {
  now: number;
  /** A command's lifetime when it has no expiresAt (seconds). */
  ttlS?: number | undefined;
  /** A schedule's lifetime when it has no expiresAt (days). */
  ttlDays?: number | undefined;
  /** The topic the document goes to, when known (send, publish): its target must list it. */
  binding?: Binding | undefined;
}

/**
 * Fill, validate and warn: the shared front half of sign, publish and send. Throws a
 * Failure listing every problem; nothing a box would refuse (as far as the centre can
 * judge it: not the box's replay state or its own limits) goes further.
 */
export function prepareDoc(raw: unknown, where: string, io: Io, o: PrepareOptions): Prepared {
  const kind = docKind(raw, where);
  let doc = raw as Record<string, unknown>;
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const f =
      kind === 'command'
        ? fillCommand(doc, o.now, o.ttlS ?? DEFAULT_COMMAND_TTL_S)
        : fillSchedule(doc, o.now, o.ttlDays ?? DEFAULT_SCHEDULE_TTL_DAYS);
    doc = f.doc;
    if (f.filled.length) io.err(`filled in: ${f.filled.join(', ')}`);
  }
  let bad = problems(kind, doc);
  let warned: string[] = [];
  if (!bad.length) ({ problems: bad, warnings: warned } = envelopeProblems(kind, doc, o.now, o.binding));
  if (bad.length) {
    for (const p of bad) io.err(`${where}: ${p}`);
    throw new Failure(
      `${where}: ${bad.length} problem${bad.length > 1 ? 's' : ''} in the ${kind}; nothing signed (fix the fields above)`,
    );
  }
  for (const w of warned) io.err(`warning: ${where}: ${w}`);
  return { doc, kind };
}

export async function signPrepared(p: Prepared, key: SigningKey): Promise<string> {
  return signForBoxes(p.doc, p.kind, key);
}

export async function signCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc sign');
  if (help) return (io.out(SIGN_HELP), 0);
  const [file] = positionals(positional, ['<file.json>'], 'noc sign');
  const key = loadSigningKey(required(opts.key, '--key', 'centre-2026.key.pem'), opts.kid);
  const prepared = prepareDoc(readJsonFile(file!), file!, io, {
    now: Date.now(),
    ttlS: opts.ttl,
    ttlDays: opts['ttl-days'],
  });
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
