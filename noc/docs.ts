// Signed documents on the centre's side (contract §2): read a JSON document, check it
// with the very schemas the agent verifies with (contract/*-doc.ts), fill a
// command's bookkeeping fields, and sign it as a compact JWS with Ed25519.
//
// Invariant: nothing invalid is ever signed. A signature is a promise to every box
// that trusts the key; the box would refuse a bad document anyway, but only after it
// travelled to the whole fleet and came back as one rejection event per box.
import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { DEFAULT_MAX_DOC_BYTES, ID_RE, signDoc, type SigningKey } from '../contract/index.js';
import {
  MAX_OCCURRENCES_PER_DAY,
  cronMatchesPerDay,
  describe,
  scheduleSchema,
  validateSchedule,
  type Target,
} from '../contract/schedule-doc.js';
import { DEFAULT_COMMAND_LIFETIME_MS, commandSchema, validateCommand } from '../contract/command-doc.js';
import {
  COMMAND_TYP,
  DEFAULT_SCHEDULE_LIFETIME_MS,
  SCHEDULE_TYP,
  checkEnvelope,
  isCanonicalBase64url,
  type Binding,
} from '../contract/verify.js';
import { errorMessage, Failure, UsageError } from '../cli-kit/index.js';

export type DocKind = 'schedule' | 'command';

export const TYP: Record<DocKind, string> = { schedule: SCHEDULE_TYP, command: COMMAND_TYP };

/**
 * Lifetimes (contract v1.1 §2.1). The limits are the boxes' defaults
 * (`schedule.maxLifetimeDays`, `commands.maxLifetimeH`), taken from the agent: a box
 * refuses a longer `expiresAt - issuedAt` as invalid. The defaults are what `noc` fills
 * in when a document has no `expiresAt`: a month for a schedule (re-signed monthly, a
 * captured copy stops being replayable soon), ten minutes for a command (long enough for
 * a box on a flaky 4G link, too short for a captured alert to be replayed tomorrow).
 */
export const MAX_SCHEDULE_TTL_DAYS = DEFAULT_SCHEDULE_LIFETIME_MS / 86_400_000;
export const DEFAULT_SCHEDULE_TTL_DAYS = 30;
export const MAX_COMMAND_TTL_S = DEFAULT_COMMAND_LIFETIME_MS / 1000;
export const DEFAULT_COMMAND_TTL_S = 600;

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
  throw new Failure(
    `${where}: type: must be "schedule" or "command" (got ${JSON.stringify(t)}); it picks the schema the document is checked against`,
  );
}

/**
 * Every problem of the document, each naming its field ("items[1].cron: must have 5
 * fields ..."), empty when valid. The agent's validate*() stop at five; the author of
 * a document wants the whole list in one go. `minRepeatS`: the fleet's config
 * `schedule.minRepeatS` the boxes check `repeat.everyS` against (default the contract's 60 s).
 */
export function problems(kind: DocKind, raw: unknown, minRepeatS?: number): string[] {
  const r = kind === 'schedule' ? scheduleSchema.safeParse(raw) : commandSchema.safeParse(raw);
  if (!r.success) {
    const isCap = (i: (typeof r.error.issues)[number]) =>
      kind === 'schedule' && i.path.length === 1 && i.path[0] === 'items' && i.message.includes('occurrences in a day');
    return r.error.issues.map((i) => (isCap(i) ? `${describe(i)}; by item, ${heaviestItems(raw)}` : describe(i)));
  }
  // The agent's entry points, as the final word: what they accept, the box accepts.
  const v =
    kind === 'schedule'
      ? validateSchedule(raw, minRepeatS === undefined ? {} : { minRepeatS })
      : validateCommand(raw, minRepeatS);
  return v.ok ? [] : [v.message];
}

/**
 * For a document over the occurrence cap (contract §3, bounded work): which items make
 * it so, heaviest first, counted with the agent's own function, so the author knows
 * which cron to fix (`items[3].cron "* * * * * *" starts 86400 times a day`).
 */
function heaviestItems(raw: unknown): string {
  const items = (raw as { items?: unknown }).items;
  if (!Array.isArray(items)) return '';
  const counted: { i: number; cron: string; n: number }[] = [];
  let total = 0;
  items.forEach((it: unknown, i) => {
    const cron = (it as { cron?: unknown } | null)?.cron;
    if (typeof cron !== 'string') {
      if ((it as { at?: unknown } | null)?.at !== undefined) total += 1;
      return;
    }
    try {
      const n = cronMatchesPerDay(cron);
      total += n;
      counted.push({ i, cron, n });
    } catch {
      /* an invalid cron has its own problem line */
    }
  });
  counted.sort((a, b) => b.n - a.n || a.i - b.i);
  const top = counted.slice(0, 3).map((c) => `items[${c.i}].cron ${JSON.stringify(c.cron)} starts ${c.n} times a day`);
  const more = counted.length > 3 ? `, and ${counted.length - 3} more cron items` : '';
  return `${total} a day in all: ${top.join(', ')}${more} (boxes refuse more than ${MAX_OCCURRENCES_PER_DAY} as invalid)`;
}

/**
 * The v1.1 envelope rules the centre can judge before signing, with the agent's own
 * checkEnvelope(): the lifetime under the boxes' default limit, an issuedAt not more than
 * 10 minutes ahead of now, and (when the topic is known: noc send, noc publish) the
 * target listing the topic's device or group. The document must have passed problems().
 * Returns the problems, and a warning when it is already expired (signed anyway: a test
 * may want one).
 */
export function envelopeProblems(
  kind: DocKind,
  doc: Record<string, unknown>,
  now: number,
  binding?: Binding,
): { problems: string[]; warnings: string[] } {
  const target = doc.target as Target;
  const env = checkEnvelope(
    { issuedAt: String(doc.issuedAt), expiresAt: String(doc.expiresAt), target },
    {
      // Without a topic, any device or group of the target stands for the box.
      deviceId: target.devices?.[0] ?? '',
      groups: target.groups ?? [],
      now,
      ...(binding ? { binding } : {}),
      maxLifetimeMs: kind === 'schedule' ? DEFAULT_SCHEDULE_LIFETIME_MS : DEFAULT_COMMAND_LIFETIME_MS,
      clockSynced: true,
      what: kind === 'schedule' ? 'document' : 'command',
    },
  );
  if (!env) return { problems: [], warnings: [] };
  if (env.reason === 'expired')
    return {
      problems: [],
      warnings: [`expiresAt ${String(doc.expiresAt)} is in the past: every box will refuse this ${kind} as expired`],
    };
  const msg =
    env.reason === 'target'
      ? `target: ${env.message.replace('the topic it came on', 'the topic it is sent to')}`
      : env.message
          .replace("this box's synchronised clock", 'now')
          .replace('longer than this box accepts', 'longer than boxes accept by default');
  return { problems: [`${msg} (boxes refuse it: ${env.reason})`], warnings: [] };
}

/**
 * A schedule without `expiresAt` gets issuedAt + ttlDays (contract v1.1 §2.1: boxes
 * refuse a schedule without one); without `issuedAt`, it gets now. Returns the filled
 * document and what was filled, so the caller can say so.
 */
export function fillSchedule(
  raw: Record<string, unknown>,
  now: number,
  ttlDays: number,
): { doc: Record<string, unknown>; filled: string[] } {
  const doc = { ...raw };
  const filled: string[] = [];
  if (doc.issuedAt === undefined) {
    doc.issuedAt = new Date(now).toISOString();
    filled.push(`issuedAt=${String(doc.issuedAt)}`);
  }
  if (doc.expiresAt === undefined) {
    const base = typeof doc.issuedAt === 'string' ? Date.parse(doc.issuedAt) : NaN;
    doc.expiresAt = new Date((Number.isNaN(base) ? now : base) + ttlDays * 86_400_000).toISOString();
    filled.push(`expiresAt=${String(doc.expiresAt)} (ttl ${ttlDays} days)`);
  }
  return { doc, filled };
}

/**
 * A command without `id`, `issuedAt` or `expiresAt` gets them: a random UUID, now, and
 * now + ttl. Returns the filled document and what was filled, so the caller can say so.
 */
export function fillCommand(
  raw: Record<string, unknown>,
  now: number,
  ttlS: number,
): { doc: Record<string, unknown>; filled: string[] } {
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

export type { SigningKey };

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
    throw new Failure(
      `--key ${path}: not a PEM private key (${errorMessage(err)}); make one with noc keys --kid <kid>`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Failure(
      `--key ${path}: is a ${key.asymmetricKeyType ?? 'symmetric'} key; boxes accept only Ed25519 (make one with noc keys --kid <kid>)`,
    );
  }
  const name = basename(path)
    .replace(/\.key\.pem$/, '')
    .replace(/\.pem$/, '');
  const k = kid ?? name;
  if (!ID_RE.test(k)) {
    throw new UsageError(
      `key id "${k}" (${kid ? '--kid' : 'from the file name'}) is not a valid kid (expected ${ID_RE.source}); pass --kid`,
    );
  }
  return { key, kid: k };
}

/**
 * The document signed with the contract's one signDoc, refused first when it exceeds the
 * boxes' default payload limit (DEFAULT_MAX_DOC_BYTES, `schedule.maxBytes`): a box
 * refuses it as too-large, and an MQTT 5 broker drops it before the box sees it.
 */
export function signForBoxes(doc: unknown, kind: DocKind, k: SigningKey): string {
  const bytes = Buffer.byteLength(JSON.stringify(doc), 'utf8');
  if (bytes > DEFAULT_MAX_DOC_BYTES)
    throw new Failure(
      `the ${kind} is ${bytes} bytes; boxes refuse payloads over ${DEFAULT_MAX_DOC_BYTES} bytes (too-large)`,
    );
  return signDoc(doc, k, TYP[kind]);
}

/**
 * The header and payload of a compact JWS, NOT verified: only to route it (schedule or
 * command topic) and to check it addresses what it is published to. Boxes verify.
 */
export function peekJws(jws: string, where: string): { kind: DocKind; payload: Record<string, unknown> } {
  const parts = jws.trim().split('.');
  if (parts.length !== 3)
    throw new Failure(`${where}: not a JWS in compact serialization (three base64url parts separated by dots)`);
  // Contract v1.1 §2.1, strict forms: boxes refuse padding and non-zero spare bits (invalid).
  const names = ['header', 'payload', 'signature'] as const;
  parts.forEach((part, i) => {
    if (!isCanonicalBase64url(part))
      throw new Failure(
        `${where}: the JWS ${names[i]} is not canonical base64url (no padding, zero spare bits); boxes refuse it as invalid: sign the document again with noc sign`,
      );
  });
  let typ: unknown;
  let payload: Record<string, unknown>;
  try {
    const header: unknown = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
    if (header === null || typeof header !== 'object' || Array.isArray(header))
      throw new Error('the protected header is not a JSON object');
    typ = (header as { typ?: unknown }).typ;
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Failure(`${where}: unreadable JWS (${errorMessage(err)})`);
  }
  const kind = docKind(payload, where);
  if (typ !== TYP[kind])
    throw new Failure(
      `${where}: header typ ${JSON.stringify(typ)} does not match a ${kind} (expected ${TYP[kind]}); boxes refuse it`,
    );
  return { kind, payload };
}
