// `noc events export`: the proof of play of a date range as CSV, one row per
// occurrence per device (see proof-of-play.ts for how events become rows).
import { renameSync, writeFileSync } from 'node:fs';
import { isValidTimezone } from '../contract/schedule-doc.js';
import { errorMessage, Failure, parseArgs, positionals, required, UsageError } from '../cli-kit/index.js';
import { checkId } from './topics.js';
import { csv, type Cell } from './csv.js';
import { EventStore } from './events-store.js';
import type { Io } from './io.js';
import { proofOfPlay, type PlayRow, type StoredEvent } from './proof-of-play.js';
import { addDays, formatInTz, isDate, startOfDay } from './tz.js';

const SPEC = {
  db: { kind: 'list' },
  from: { kind: 'string' },
  to: { kind: 'string' },
  group: { kind: 'string' },
  tz: { kind: 'string' },
  out: { kind: 'string' },
} as const;

export const COLUMNS = [
  'device',
  'groups',
  'itemId',
  'docId',
  'docVersion',
  'occurrence',
  'outcome',
  'started',
  'ended',
  'playedMs',
  'lateMs',
  'source',
  'priority',
  'reason',
  'cmdId',
  'repeat',
  'capId',
  'segments',
  'message',
  // Contract v1.2 §9, at the end so that readers of the older columns are not moved.
  'outputLevelDb',
  'silentMs',
] as const;

export const EXPORT_HELP = `noc events export --db events.sqlite --from YYYY-MM-DD --to YYYY-MM-DD [--group G] [--tz Z] [--out F]

Proof of play as CSV (RFC 4180): one row per scheduled occurrence per device whose
scheduled start falls between --from and --to inclusive, as calendar days in --tz.

  --db FILE   the archive of noc events; repeat it to merge the files of several
              instances (an event in two files counts once)
  --group G   only devices whose newest birth lists group G (membership is today's,
              as births report it, not the membership at the time of the play);
              a warning on stderr when no device's birth lists G
  --tz Z      IANA time zone of the dates and of the times in the file
              (default Asia/Ho_Chi_Minh)
  --out F     write to F (atomically) instead of standard output

Columns: ${COLUMNS.join(', ')}.
Times are RFC 3339 in --tz, to the second; playedMs and lateMs are exact.
outputLevelDb (the median output level, dB of the amplifier's rated output) and silentMs
(how long the output was silent while it should have sounded) are what the box's IO
board measured (contract v1.2 §9); empty where it did not measure or did not report.`;

export function toCells(r: PlayRow, groups: readonly string[], tz: string): Cell[] {
  const t = (ms: number | null) => (ms === null ? null : formatInTz(ms, tz));
  return [
    r.deviceId,
    groups.join(' '),
    r.itemId,
    r.docId,
    r.docVersion,
    t(r.occurrence),
    r.outcome,
    t(r.started),
    t(r.ended),
    r.playedMs,
    r.lateMs,
    r.source,
    r.priority,
    r.reason,
    r.cmdId,
    r.repeat,
    r.capId,
    r.segments,
    r.message,
    r.outputLevelDb,
    r.silentMs,
  ];
}

/**
 * The CSV text for one or more stores (several `noc events --share` instances may each
 * keep their own file), a date range (inclusive days in `tz`) and an optional group.
 * An event present in two stores counts once; a box's groups come from its newest birth.
 */
export function exportCsv(
  stores: EventStore | readonly EventStore[],
  o: { from: string; to: string; tz: string; group?: string },
): { text: string; rows: number; groupDevices: number } {
  const list = Array.isArray(stores) ? stores : [stores as EventStore];
  const fromMs = startOfDay(o.from, o.tz);
  const toMs = startOfDay(addDays(o.to, 1), o.tz);
  const newest = new Map<string, { groups: string[]; tsMs: number }>();
  const events = new Map<string, StoredEvent>();
  for (const s of list) {
    for (const [id, b] of s.births()) if ((newest.get(id)?.tsMs ?? -Infinity) <= b.tsMs) newest.set(id, b);
    for (const e of s.playEvents(fromMs, toMs)) events.set(`${e.deviceId}\u0000${e.epoch}\u0000${e.seq}`, e);
  }
  const groupsOf = (id: string) => newest.get(id)?.groups ?? [];
  const rows = proofOfPlay([...events.values()]).filter(
    (r) => o.group === undefined || groupsOf(r.deviceId).includes(o.group),
  );
  let groupDevices = 0;
  if (o.group !== undefined) for (const b of newest.values()) if (b.groups.includes(o.group)) groupDevices++;
  return {
    text: csv(
      COLUMNS,
      rows.map((r) => toCells(r, groupsOf(r.deviceId), o.tz)),
    ),
    rows: rows.length,
    groupDevices,
  };
}

export async function exportCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc events export');
  if (help) return (io.out(EXPORT_HELP), 0);
  positionals(positional, [], 'noc events export');
  const dbs = required(opts.db, '--db', 'events.sqlite');
  const from = required(opts.from, '--from', '2026-11-01');
  const to = required(opts.to, '--to', '2026-11-30');
  for (const [flag, v] of [
    ['--from', from],
    ['--to', to],
  ] as const)
    if (!isDate(v))
      throw new UsageError(`${flag} "${v}" is not a calendar date (expected YYYY-MM-DD, e.g. 2026-11-01)`);
  if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`);
  const tz = opts.tz ?? 'Asia/Ho_Chi_Minh';
  if (!isValidTimezone(tz)) throw new UsageError(`--tz "${tz}" is not an IANA time zone (e.g. Asia/Ho_Chi_Minh)`);
  const group = opts.group === undefined ? undefined : checkId(opts.group, '--group');
  const stores: EventStore[] = [];
  let result: { text: string; rows: number; groupDevices: number };
  try {
    for (const db of dbs) stores.push(new EventStore(db, { readonly: true }));
    result = exportCsv(stores, { from, to, tz, ...(group !== undefined ? { group } : {}) });
  } finally {
    for (const s of stores) s.close();
  }
  // A header-only file without a word is how a misspelt group (26734 for c26734) went unnoticed.
  if (group !== undefined && result.groupDevices === 0)
    io.err(
      `noc events export: warning: no device's newest birth lists group "${group}" (groups are named as the boxes' births list them, e.g. c26734); the file has no rows`,
    );
  if (opts.out) {
    // Temp file + rename: a reader never sees half a report.
    const tmp = `${opts.out}.tmp-${process.pid}`;
    try {
      writeFileSync(tmp, result.text);
      renameSync(tmp, opts.out);
    } catch (err) {
      throw new Failure(`cannot write ${opts.out}: ${errorMessage(err)}`);
    }
    io.err(
      `${result.rows} occurrences from ${from} to ${to} (${tz})${group ? ` in group ${group}` : ''} -> ${opts.out}`,
    );
  } else io.write(result.text);
  return 0;
}
