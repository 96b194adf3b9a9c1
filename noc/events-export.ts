// `noc events export`: the proof of play of a date range as CSV, one row per
// occurrence per device (see proof-of-play.ts for how events become rows).
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { isValidTimezone } from '../contract/schedule-doc.js';
import { errorMessage, Failure, parseArgs, positionals, required, UsageError } from '../cli-kit/index.js';
import { checkId } from './topics.js';
import { csvLine, type Cell } from './csv.js';
import { openArchive } from './archive-open.js';
import type { BirthInfo, DeviceEvents, EventArchive } from './archive-port.js';
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

export const EXPORT_HELP = `noc events export --db events.sqlite|postgres://... --from YYYY-MM-DD --to YYYY-MM-DD [--group G] [--tz Z] [--out F]

Proof of play as CSV (RFC 4180): one row per scheduled occurrence per device whose
scheduled start falls between --from and --to inclusive, as calendar days in --tz.

  --db FILE|URL  the archive of noc events, a SQLite file or a PostgreSQL URL; repeat
              it to merge the files of several instances (an event in two counts once)
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

export interface ExportOptions {
  from: string;
  to: string;
  tz: string;
  group?: string;
}

export interface ExportResult {
  rows: number;
  /** With a group: how many boxes' newest births list it. */
  groupDevices: number;
}

/**
 * One device at a time from every archive, in device order (each archive yields its devices
 * in order: archive-port.ts); an event present in two archives counts once.
 */
async function* mergeByDevice(
  sources: AsyncIterable<DeviceEvents>[],
): AsyncGenerator<{ deviceId: string; events: StoredEvent[] }> {
  const its = sources.map((s) => s[Symbol.asyncIterator]());
  const heads = await Promise.all(its.map((it) => it.next()));
  for (;;) {
    let min: string | undefined;
    for (const h of heads) if (!h.done && (min === undefined || h.value.deviceId < min)) min = h.value.deviceId;
    if (min === undefined) return;
    const events = new Map<string, StoredEvent>();
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i]!;
      if (h.done || h.value.deviceId !== min) continue;
      for (const e of h.value.events) events.set(`${e.epoch}\u0000${e.seq}`, e);
      heads[i] = await its[i]!.next();
    }
    yield { deviceId: min, events: [...events.values()] };
  }
}

/**
 * The proof of play of one or more archives (several `noc events --share` instances may each
 * keep their own file), a date range (inclusive days in `tz`) and an optional group, as CSV
 * handed to `write` in chunks. Streams: memory holds one device's events of the range,
 * whatever the range or the fleet. A box's groups come from its newest birth in any archive.
 */
export async function exportTo(
  archives: readonly EventArchive[],
  o: ExportOptions,
  write: (chunk: string) => Promise<void> | void,
): Promise<ExportResult> {
  const fromMs = startOfDay(o.from, o.tz);
  const toMs = startOfDay(addDays(o.to, 1), o.tz);
  const newest = new Map<string, BirthInfo>();
  for (const a of archives)
    for (const [id, b] of await a.births()) if ((newest.get(id)?.tsMs ?? -Infinity) <= b.tsMs) newest.set(id, b);
  const groupsOf = (id: string) => newest.get(id)?.groups ?? [];
  const devices =
    o.group === undefined ? undefined : [...newest].filter(([, b]) => b.groups.includes(o.group!)).map(([id]) => id);
  let chunk = csvLine(COLUMNS);
  let rows = 0;
  for await (const d of mergeByDevice(archives.map((a) => a.playEvents(fromMs, toMs, devices)))) {
    for (const r of proofOfPlay(d.events)) {
      chunk += csvLine(toCells(r, groupsOf(r.deviceId), o.tz));
      rows++;
    }
    if (chunk.length >= 65_536) {
      await write(chunk);
      chunk = '';
    }
  }
  if (chunk) await write(chunk);
  return { rows, groupDevices: devices?.length ?? 0 };
}

/** The whole CSV as one string (tests, small ranges). */
export async function exportCsv(
  archives: EventArchive | readonly EventArchive[],
  o: ExportOptions,
): Promise<ExportResult & { text: string }> {
  const list = Array.isArray(archives) ? (archives as readonly EventArchive[]) : [archives as EventArchive];
  const parts: string[] = [];
  const r = await exportTo(list, o, (c) => void parts.push(c));
  return { ...r, text: parts.join('') };
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
  const archives: EventArchive[] = [];
  const opts2 = { from, to, tz, ...(group !== undefined ? { group } : {}) };
  let result: ExportResult;
  const tmp = opts.out ? `${opts.out}.tmp-${process.pid}` : undefined;
  try {
    for (const db of dbs) archives.push(await openArchive(db, { readonly: true }));
    if (tmp) {
      // Temp file + rename: a reader never sees half a report.
      const file = createWriteStream(tmp);
      const failed = new Promise<never>((_, reject) => file.once('error', reject));
      failed.catch(() => {});
      const write = (c: string) =>
        Promise.race([
          failed,
          file.write(c) ? Promise.resolve() : new Promise<void>((r) => file.once('drain', () => r())),
        ]);
      result = await exportTo(archives, opts2, write);
      await Promise.race([failed, new Promise<void>((r) => file.end(() => r()))]);
      renameSync(tmp, opts.out!);
    } else result = await exportTo(archives, opts2, (c) => (io.writeAsync ? io.writeAsync(c) : io.write(c)));
  } catch (err) {
    if (tmp) rmSync(tmp, { force: true });
    if (tmp && !(err instanceof Failure) && (err as { code?: string }).code?.startsWith('E'))
      throw new Failure(`cannot write ${opts.out}: ${errorMessage(err)}`);
    throw err;
  } finally {
    for (const a of archives) await a.close();
  }
  // A header-only file without a word is how a misspelt group (26734 for c26734) went unnoticed.
  if (group !== undefined && result.groupDevices === 0)
    io.err(
      `noc events export: warning: no device's newest birth lists group "${group}" (groups are named as the boxes' births list them, e.g. c26734); the file has no rows`,
    );
  if (opts.out)
    io.err(
      `${result.rows} occurrences from ${from} to ${to} (${tz})${group ? ` in group ${group}` : ''} -> ${opts.out}`,
    );
  return 0;
}
