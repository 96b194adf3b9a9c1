// Text rendering of the fleet table for `noc watch`: a summary line, then one row per
// box. Kept apart from the model so the model stays data and this stays presentation.
import { t, type Lang, type MessageKey } from '../contract/messages.js';
import { playingText, type BoxRow, type PlayingInfo } from './watch-row.js';

/** The widest a column gets; longer cells are cut with "…". */
const MAX_WIDTH = 40;

const COLUMNS: readonly MessageKey[] = [
  'watch.col.device',
  'watch.col.status',
  'watch.col.age',
  'watch.col.state',
  'watch.col.playing',
  'watch.col.faults',
  'watch.col.outbox',
  'watch.col.schedule',
  'watch.col.groups',
];

function cells(r: BoxRow, lang: Lang): string[] {
  const status = t(lang, `watch.status.${r.status}` as MessageKey, { reason: r.reason ?? '?' });
  return [
    r.deviceId,
    status,
    r.heartbeatAgeS === null ? '-' : `${r.heartbeatAgeS}s/${r.periodS}s`,
    r.state ?? '-',
    r.play ? playingCell(r.play) : (r.playing ?? '-'),
    r.faults.join(' ') || '-',
    r.outbox === null ? '-' : String(r.outbox),
    r.schedule.join(' ') || '-',
    r.groups.join(' ') || '-',
  ];
}

/**
 * What plays, at most `width` characters, cut in its name and never in "(source, pN)":
 * "a-very-long-schedule-item-i… (file, p50)".
 */
export function playingCell(p: PlayingInfo, width = MAX_WIDTH): string {
  const full = playingText(p);
  if (full.length <= width) return full;
  const suffix = full.slice(p.label.length);
  return p.label.slice(0, Math.max(1, width - suffix.length - 1)) + '…' + suffix;
}

/** The time of day of an instant, UTC, as the table's clock line gives it: "06:00:05 UTC". */
function clock(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}

/**
 * The line that says the watcher is blind (it lost the broker at `since` and is
 * reconnecting), or null while connected.
 */
export function blindBanner(since: number | null, now: number, lang: Lang = 'en'): string | null {
  if (since === null) return null;
  return t(lang, 'watch.blind', { time: clock(since), s: Math.max(0, Math.round((now - since) / 1000)) });
}

/** The counts line; while blind (`blindSince` set) it says they are the last ones seen, not now's. */
export function summary(rows: readonly BoxRow[], blindSince: number | null = null, lang: Lang = 'en'): string {
  const n = (p: (r: BoxRow) => boolean) => rows.filter(p).length;
  return (
    (blindSince === null ? '' : t(lang, 'watch.lastSeen', { time: clock(blindSince) })) +
    t(lang, 'watch.summary', {
      boxes: rows.length,
      online: n((r) => r.status === 'online'),
      offline: n((r) => r.status === 'offline'),
      stale: n((r) => r.status === 'stale'),
      unknown: n((r) => r.status === 'unknown'),
      playing: n((r) => r.playing !== null),
      faulty: n((r) => r.faults.length > 0 || r.state === 'fault'),
      outbox: rows.reduce((s, r) => s + (r.outbox ?? 0), 0),
    })
  );
}

/** Boxes that need a look first: stale, offline, faulty, backlogged; then by id. */
export function problemsFirst(rows: readonly BoxRow[]): BoxRow[] {
  const rank = (r: BoxRow) =>
    r.status === 'stale'
      ? 0
      : r.status === 'offline'
        ? 1
        : r.faults.length || r.state === 'fault'
          ? 2
          : (r.outbox ?? 0) > 0
            ? 3
            : 4;
  return [...rows].sort((a, b) => rank(a) - rank(b) || (a.deviceId < b.deviceId ? -1 : 1));
}

/** The table as lines; `maxRows` cuts it (a terminal's height) and says how many are left. */
export function table(rows: readonly BoxRow[], maxRows = Infinity, lang: Lang = 'en'): string[] {
  const shown = rows.slice(0, Math.max(0, maxRows));
  const grid = [COLUMNS.map((k) => t(lang, k)), ...shown.map((r) => cells(r, lang))];
  const widths = COLUMNS.map((_, i) => Math.min(MAX_WIDTH, Math.max(...grid.map((c) => c[i]!.length))));
  const fit = (s: string, w: number) => (s.length > w ? s.slice(0, w - 1) + '…' : s.padEnd(w));
  const out = grid.map((c) =>
    c
      .map((s, i) => fit(s, widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  if (rows.length > shown.length) out.push(t(lang, 'watch.more', { n: rows.length - shown.length }));
  return out;
}

/** One terminal frame: the clock and counts (with the blind banner first while blind), then the table. */
export function frame(
  rows: readonly BoxRow[],
  now: number,
  blindSince: number | null,
  maxRows = Infinity,
  lang: Lang = 'en',
): string[] {
  const banner = blindBanner(blindSince, now, lang);
  return [
    ...(banner ? [`${new Date(now).toISOString()}  ${banner}`] : []),
    `${banner ? '' : new Date(now).toISOString() + '  '}${summary(rows, blindSince, lang)}`,
    ...table(problemsFirst(rows), maxRows - (banner ? 1 : 0), lang),
  ];
}

/** One line per change, for logs and pipes. */
export function changeLine(now: number, deviceId: string, changes: readonly string[]): string {
  return `${new Date(now).toISOString()} ${deviceId} ${changes.join(', ')}`;
}
