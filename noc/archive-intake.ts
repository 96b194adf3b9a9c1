// What `noc events` makes of one MQTT message, before any database sees it. Pure, and the
// same for every archive adapter, so SQLite and PostgreSQL hold the same events and
// quarantine the same messages.
//
// An event is stored when it has what de-duplication and the reports need (contract §7):
// a non-empty string `epoch`, an integer `seq` >= 1, a string `type` and a `ts` that is a
// time between 1970 and 9999. Anything else from a box's events topic is quarantined whole,
// with its topic and the reason, never dropped: a box with a bug loses no evidence, and
// the archiver never stops on it. So is text no database column can hold (a NUL character,
// a lone UTF-16 surrogate: PostgreSQL refuses both in text and jsonb).
import { parseDeviceTopic } from '../contract/index.js';
import type { BirthRow, EventRow, QuarantineRow } from './archive-port.js';
import { occurrenceOf } from './proof-of-play.js';

export type Intake =
  | { kind: 'event'; row: EventRow }
  | { kind: 'birth'; row: BirthRow }
  | { kind: 'quarantine'; row: QuarantineRow }
  | { kind: 'ignore' };

const MIN_MS = Date.parse('1970-01-01T00:00:00Z');
const MAX_MS = Date.parse('9999-12-31T23:59:59Z');
// eslint-disable-next-line no-control-regex -- NUL is exactly what is looked for
const BAD_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A string anywhere in `v` (keys included) that a database cannot store as text. */
function hasBadText(v: unknown): boolean {
  if (typeof v === 'string') return BAD_TEXT.test(v);
  if (Array.isArray(v)) return v.some(hasBadText);
  if (v && typeof v === 'object')
    return Object.entries(v as Record<string, unknown>).some(([k, x]) => BAD_TEXT.test(k) || hasBadText(x));
  return false;
}

function parseObject(raw: string): Record<string, unknown> | 'not-json' | 'not-object' {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return 'not-json';
  }
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : 'not-object';
}

/** Why an event body cannot be stored, or the row to store. */
export function eventRow(
  deviceId: string,
  body: Record<string, unknown>,
  raw: string,
  receivedAt: number,
): EventRow | string {
  const { epoch, seq, type, ts } = body;
  if (typeof epoch !== 'string' || epoch === '') return 'epoch';
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return 'seq';
  if (typeof type !== 'string' || type === '') return 'type';
  const tsMs = typeof ts === 'string' ? Date.parse(ts) : NaN;
  if (!(tsMs >= MIN_MS && tsMs <= MAX_MS)) return 'ts';
  if (hasBadText(body)) return 'text';
  const occ = occurrenceOf(body);
  const occurrenceMs = occ !== undefined && occ >= MIN_MS && occ <= MAX_MS ? occ : null;
  const priority = typeof body.priority === 'number' && Number.isInteger(body.priority) ? body.priority : null;
  return {
    deviceId,
    epoch,
    seq: seq as number,
    ts: ts as string,
    tsMs,
    type,
    occurrenceMs,
    atMs: occurrenceMs ?? tsMs,
    itemId: typeof body.itemId === 'string' ? body.itemId : null,
    priority: priority !== null && Math.abs(priority) < 2 ** 31 ? priority : null,
    receivedAt,
    raw,
  };
}

/** A birth worth keeping (deaths and malformed status messages are not stored). */
export function birthRow(deviceId: string, body: Record<string, unknown>, receivedAt: number): BirthRow | undefined {
  if (body.online !== true || hasBadText(body)) return undefined;
  const ts = typeof body.ts === 'string' ? Date.parse(body.ts) : NaN;
  return {
    deviceId,
    bootId: typeof body.bootId === 'string' ? body.bootId : null,
    tsMs: ts >= MIN_MS && ts <= MAX_MS ? ts : receivedAt,
    groups: Array.isArray(body.groups) ? body.groups.filter((g): g is string => typeof g === 'string') : [],
    site: JSON.stringify(body.site ?? null),
    receivedAt,
  };
}

/** One message of the subscriptions of `noc events`, classified. */
export function intake(root: string, topic: string, payload: Buffer, receivedAt: number): Intake {
  const where = parseDeviceTopic(root, topic);
  if (!where || (where.leaf !== 'events' && where.leaf !== 'status')) return { kind: 'ignore' };
  const raw = payload.toString('utf8');
  const body = parseObject(raw);
  if (where.leaf === 'status') {
    const row = typeof body === 'string' ? undefined : birthRow(where.deviceId, body, receivedAt);
    return row ? { kind: 'birth', row } : { kind: 'ignore' };
  }
  const r = typeof body === 'string' ? body : eventRow(where.deviceId, body, raw, receivedAt);
  if (typeof r !== 'string') return { kind: 'event', row: r };
  return { kind: 'quarantine', row: { topic, deviceId: where.deviceId, reason: r, payload, receivedAt } };
}

/** The births of a batch, one per device: the newest (the last of equals), as applied one by one. */
export function newestBirths(births: readonly BirthRow[]): BirthRow[] {
  const m = new Map<string, BirthRow>();
  for (const b of births) if ((m.get(b.deviceId)?.tsMs ?? -Infinity) <= b.tsMs) m.set(b.deviceId, b);
  return [...m.values()];
}
