// The schedule document of docs/protocol.md §3, as one schema: validation (with
// messages that name the bad field) and the TypeScript types. Unknown fields are
// ignored, as the contract requires of a receiver. Pure: no I/O, no clock.
import { z } from 'zod';
import { cronFor } from './cron-cache.js';
import { systemZone } from './tzif.js';

/** Every identifier of the contract (device ids, groups, document, item, media and command ids). */
export const ID_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Contract §2: the default size limit of a signed document (config `schedule.maxBytes`). */
export const DEFAULT_MAX_DOC_BYTES = 256 * 1024;
/** RFC 3339 with a mandatory offset or Z. */
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Longest URL a document may carry. mpg123's remote-control line holds 2,047 bytes
 * ("LOAD " + URL + newline): a 2,042-character URL already gets `Too long command`
 * (measured with mpg123 1.31), so the limit leaves a margin below it; no CDN needs more.
 */
export const MAX_URL_LENGTH = 2000;
/**
 * Contract v1.1 §3, bounded work: a document whose items expand to more than this many
 * occurrences in a day (once a minute on average) is invalid.
 */
export const MAX_OCCURRENCES_PER_DAY = 1440;

const id = z.string('must be a string').regex(ID_RE, `must match ${ID_RE.source}`);

/**
 * Is this RFC 3339 string a real instant? `Date.parse` rolls 2026-02-30 over to 2 March
 * and accepts 24:00; contract v1.1 §2.1 wants dates that exist in the calendar.
 */
export function isRealInstant(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|([+-])(\d{2}):(\d{2}))$/.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return false;
  if (m[8] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) return false;
  const days = new Date(Date.UTC(2000, mo, 0)).getUTCDate(); // days in month `mo` of a leap year
  if (d > days) return false;
  if (mo === 2 && d === 29 && !(y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0))) return false;
  return !Number.isNaN(Date.parse(s));
}

export const instant = z
  .string('must be an RFC 3339 timestamp')
  .max(40, 'must be an RFC 3339 timestamp')
  .regex(RFC3339_RE, 'must be an RFC 3339 timestamp with an offset, e.g. 2026-11-26T06:30:00+07:00')
  .refine(isRealInstant, 'is not a date and time that exists in the calendar');
export const httpUrl = z
  .string('must be a URL')
  .max(MAX_URL_LENGTH, `must be at most ${MAX_URL_LENGTH} characters`)
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'must be an http: or https: URL');
const priority = z
  .number('must be a number')
  .int('must be a whole number')
  .min(0, 'must be 0 to 100')
  .max(100, 'must be 0 to 100');
const durationS = z
  .number('must be a number')
  .int('must be whole seconds')
  .min(1, 'must be at least 1 s')
  .max(7 * 86_400, 'must be at most 7 days');

export function isValidTimezone(tz: string): boolean {
  // A zone file of the system's tz database first: asking Intl costs 5.8 MB of ICU data (contract/tzif.ts).
  if (systemZone(tz) !== null) return true;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export function cronError(expr: string): string | undefined {
  const fields = expr.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) return `must have 5 fields (or 6 with seconds first), not ${fields}`;
  try {
    cronFor(expr);
    return undefined;
  } catch (err) {
    return `is not a valid cron expression (${(err as Error).message})`;
  }
}

export const targetSchema = z
  .object({ devices: z.array(id).optional(), groups: z.array(id).optional() }, 'must be an object {devices, groups}')
  .refine((t) => (t.devices?.length ?? 0) + (t.groups?.length ?? 0) > 0, 'must name at least one device or group');

const fileSource = z.object({
  kind: z.literal('file'),
  media: z.array(id, 'must be a list of media ids').min(1, 'must name at least one media id'),
});
const fmSource = z.object({
  kind: z.literal('fm'),
  freqMHz: z.number('must be a number').min(64, 'must be 64 to 108 MHz').max(108, 'must be 64 to 108 MHz'),
});
const lineSource = z.object({ kind: z.literal('line') });
const fallbackSource = z.discriminatedUnion(
  'kind',
  [fileSource, fmSource, lineSource],
  'must be a file, fm or line source',
);
const streamSource = z
  .object({
    kind: z.literal('stream'),
    url: httpUrl.optional(),
    urls: z.array(httpUrl).min(1).max(8, 'must list at most 8 URLs').optional(),
    fallback: fallbackSource.optional(),
  })
  .refine((s) => (s.url === undefined) !== (s.urls === undefined), 'must have exactly one of url or urls');
const fmWithFallback = fmSource.extend({ fallback: fallbackSource.optional() });

export const sourceSchema = z.discriminatedUnion(
  'kind',
  [fileSource, streamSource, fmWithFallback, lineSource],
  'must have kind file, stream, fm or line',
);

export const mediaSchema = z.object({
  id,
  url: httpUrl,
  sha256: z.string('must be a string').regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters'),
  bytes: z
    .number('must be a number')
    .int()
    .min(1, 'must be at least 1')
    .max(2 ** 40),
  durationMs: z.number().int().min(0).optional(),
});

// Repeat until cancelled (issue 16; domain/repeat.ts has the cadence and the cancels).
const MAX_REPEAT_S = 86_400;
/** Contract floor of `repeat.everyS`; on a box, config `schedule.minRepeatS` (default 60). */
export const MIN_REPEAT_S = 60;
/** Is `repeat.everyS` at least the box's floor (config `schedule.minRepeatS`)? An error message if not. */
export function repeatError(r: { everyS: number } | undefined, minRepeatS = MIN_REPEAT_S): string | undefined {
  if (r === undefined || r.everyS >= minRepeatS) return undefined;
  return `must be at least ${minRepeatS} s (contract §3; config schedule.minRepeatS)`;
}
const MAX_REPEAT_COUNT = 1000;
// The schema takes everyS from 1 s: the contract's 60 s floor is checked by repeatError()
// with the box's configured minimum, so a test box can run a real short cadence.
export const repeatSchema = z
  .object({
    everyS: z
      .number('must be a number')
      .int('must be whole seconds')
      .min(1, 'must be at least 1 s')
      .max(MAX_REPEAT_S, `must be at most ${MAX_REPEAT_S} s`),
    until: instant.optional(),
    count: z
      .number('must be a number')
      .int('must be a whole number')
      .min(1, 'must be 1 to 1000')
      .max(MAX_REPEAT_COUNT, 'must be 1 to 1000')
      .optional(),
  })
  .refine((r) => (r.until === undefined) !== (r.count === undefined), 'must have exactly one of until or count');

export type Repeat = z.output<typeof repeatSchema>;

/** A CAP identifier (CAP 1.2 §3.2.1: no spaces, commas or restricted characters). */
export const capIdentifier = z
  .string('must be a string')
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .regex(/^[^\s,<&]+$/, 'must be a CAP identifier (no spaces, commas, "<" or "&")');

export const capRefSchema = z.object({
  identifier: capIdentifier,
  sender: z.string('must be a string').min(1, 'must not be empty').max(256, 'must be at most 256 characters'),
  sent: z.string('must be a string').min(1, 'must not be empty').max(40, 'must be at most 40 characters'),
  msgType: z.enum(['Alert', 'Update', 'Cancel'], 'must be Alert, Update or Cancel'),
});
export type CapRef = z.output<typeof capRefSchema>;

export const itemSchema = z.object({
  id,
  source: sourceSchema,
  at: instant.optional(),
  cron: z.string('must be a string').max(128, 'must be at most 128 characters').optional(),
  durationS: durationS.optional(),
  priority: priority.default(50),
  volume: z.number('must be a number').min(0, 'must be 0 to 100').max(100, 'must be 0 to 100').optional(),
  from: instant.optional(),
  until: instant.optional(),
  repeat: repeatSchema.optional(),
  capRef: capRefSchema.optional(),
});

export const scheduleSchema = z
  .object({
    type: z.literal('schedule', 'must be "schedule"'),
    id,
    version: z.number('must be a number').int('must be a whole number').min(0, 'must be 0 or more'),
    issuedAt: instant,
    /**
     * Required since contract v1.1 §2.1 (a captured document must not stay replayable
     * forever): validateSchedule() refuses a document without it; only documents accepted
     * before v1.1 and read back from the box's own store may lack it.
     */
    expiresAt: instant.optional(),
    target: targetSchema,
    timezone: z
      .string('must be a string')
      .max(64, 'is not an IANA time zone')
      .refine(isValidTimezone, 'is not an IANA time zone'),
    media: z.array(mediaSchema, 'must be a list').max(1000, 'must list at most 1000 media').default([]),
    items: z.array(itemSchema, 'must be a list').max(1000, 'must list at most 1000 items'),
  })
  .superRefine((doc, ctx) => {
    const mediaIds = new Set<string>();
    doc.media.forEach((m, i) => {
      if (mediaIds.has(m.id))
        ctx.addIssue({ code: 'custom', path: ['media', i, 'id'], message: `duplicates media id "${m.id}"` });
      mediaIds.add(m.id);
    });
    const itemIds = new Set<string>();
    doc.items.forEach((it, i) => {
      const at = (p: (string | number)[], message: string) =>
        ctx.addIssue({ code: 'custom', path: ['items', i, ...p], message });
      if (itemIds.has(it.id)) at(['id'], `duplicates item id "${it.id}"`);
      itemIds.add(it.id);
      if ((it.at === undefined) === (it.cron === undefined)) at([], 'must have exactly one of "at" or "cron"');
      if (it.cron !== undefined) {
        const e = cronError(it.cron);
        if (e) at(['cron'], e);
      }
      if (it.at !== undefined && (it.from !== undefined || it.until !== undefined))
        at(['from'], '"from"/"until" bound a recurrence; an "at" item has none');
      if (it.cron !== undefined && it.repeat?.until !== undefined)
        at(['repeat', 'until'], 'is for an "at" item; a cron item repeats each occurrence "count" times');
      if (it.from && it.until && Date.parse(it.from) >= Date.parse(it.until)) at(['until'], 'must be after "from"');
      if (it.source.kind !== 'file' && it.durationS === undefined)
        at(['durationS'], `is required for a ${it.source.kind} source`);
      const files = [it.source, 'fallback' in it.source ? it.source.fallback : undefined].filter(
        (s) => s?.kind === 'file',
      ) as { media: string[] }[];
      for (const f of files)
        for (const m of f.media)
          if (!mediaIds.has(m)) at(['source', 'media'], `names media "${m}" that the document does not list`);
    });
    if (doc.expiresAt !== undefined && Date.parse(doc.expiresAt) <= Date.parse(doc.issuedAt)) {
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'must be after issuedAt' });
    }
    if (ctx.issues.length === 0) {
      const perDay = occurrencesPerDay(doc.items);
      if (perDay > MAX_OCCURRENCES_PER_DAY) {
        ctx.addIssue({
          code: 'custom',
          path: ['items'],
          message: `expand to up to ${perDay} occurrences in a day; the limit is ${MAX_OCCURRENCES_PER_DAY} (contract §3, bounded work)`,
        });
      }
    }
  });

/**
 * The most occurrences the items can have in one day: per cron item, the matching
 * seconds x minutes x hours (the day fields only pick which days match, at most one
 * per 24 h of wall time), plus one per `at` item. Cheap and exact for the day that
 * matches; it stops counting once past the cap, so a bomb costs no more than a
 * legal document to refuse.
 */
export function occurrencesPerDay(
  items: readonly {
    cron?: string | undefined;
    at?: string | undefined;
    repeat?: { everyS: number; count?: number | undefined } | undefined;
  }[],
): number {
  let total = 0;
  for (const it of items) {
    // A repeat series plays at most once per everyS, and `count` times per occurrence.
    const perSeries = it.repeat ? Math.min(it.repeat.count ?? Infinity, Math.ceil(86_400 / it.repeat.everyS)) : 1;
    if (it.at !== undefined) total += perSeries;
    else if (it.cron !== undefined) total += cronMatchesPerDay(it.cron) * (it.repeat?.count ?? 1);
    if (total > MAX_OCCURRENCES_PER_DAY) break;
  }
  return total;
}

interface CronTimeOfDay {
  second: number[];
  minute: number[];
  hour: number[];
}

/** Time-of-day matches of a (valid) cron expression, read from croner's parsed pattern. */
export function cronMatchesPerDay(expr: string): number {
  const p = (cronFor(expr) as unknown as { _states?: { pattern?: Partial<CronTimeOfDay> } })._states?.pattern;
  // Pinned by test/unit/verify-strict.test.ts (occurrences a day): a croner upgrade that moves these fails there.
  if (!p || !Array.isArray(p.second) || !Array.isArray(p.minute) || !Array.isArray(p.hour))
    throw new Error('croner pattern layout changed');
  const n = (a: number[]) => a.reduce((s, v) => s + (v ? 1 : 0), 0);
  return n(p.second) * n(p.minute) * n(p.hour);
}

export type ScheduleDoc = z.output<typeof scheduleSchema>;
export type ScheduleItem = ScheduleDoc['items'][number];
export type Source = z.output<typeof sourceSchema>;
export type MediaRef = z.output<typeof mediaSchema>;
export type Target = z.output<typeof targetSchema>;

/**
 * Validate a parsed payload; the error message names the first bad field. `stored`: a
 * document this box accepted before contract v1.1, read back from its own store, may
 * lack `expiresAt`; anything received must carry it.
 */
export function validateSchedule(
  raw: unknown,
  opts: { stored?: boolean; minRepeatS?: number } = {},
):
  | { ok: true; doc: ScheduleDoc & { expiresAt: string } }
  | { ok: true; doc: ScheduleDoc }
  | { ok: false; message: string } {
  const r = scheduleSchema.safeParse(raw);
  if (!r.success) return { ok: false, message: r.error.issues.slice(0, 5).map(describe).join('; ') };
  if (r.data.expiresAt === undefined && !opts.stored)
    return { ok: false, message: 'expiresAt: is required (contract v1.1 §2.1: every schedule has a bounded lifetime)' };
  // The floor is the receiving box's (config): a document it accepted and stored is not judged again.
  for (const [i, it] of opts.stored ? [] : r.data.items.entries()) {
    const e = repeatError(it.repeat, opts.minRepeatS);
    if (e) return { ok: false, message: `items[${i}].repeat.everyS: ${e}` };
  }
  return { ok: true, doc: r.data };
}

export function describe(issue: z.core.$ZodIssue): string {
  const path =
    issue.path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('') ||
    '(document)';
  if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) return `${path}: is required`;
  return `${path}: ${issue.message}`;
}

/** Does this document's target include the box? (contract §2) */
export function targets(t: Target, deviceId: string, groups: readonly string[]): boolean {
  return (t.devices ?? []).includes(deviceId) || (t.groups ?? []).some((g) => groups.includes(g));
}
