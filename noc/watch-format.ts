// Text rendering of the fleet table for `noc watch`: a summary line, then one row per
// box. Kept apart from the model so the model stays data and this stays presentation.
import type { BoxRow } from './watch-model.js';

const COLUMNS = ['DEVICE', 'STATUS', 'HB AGE', 'STATE', 'PLAYING', 'FAULTS', 'OUTBOX', 'SCHEDULE', 'GROUPS'] as const;

function cells(r: BoxRow): string[] {
  const status = r.status === 'offline' ? `OFFLINE (${r.reason ?? '?'})` : r.status.toUpperCase();
  return [
    r.deviceId,
    status,
    r.heartbeatAgeS === null ? '-' : `${r.heartbeatAgeS}s/${r.periodS}s`,
    r.state ?? '-',
    r.playing ?? '-',
    r.faults.join(' ') || '-',
    r.outbox === null ? '-' : String(r.outbox),
    r.schedule.join(' ') || '-',
    r.groups.join(' ') || '-',
  ];
}

export function summary(rows: readonly BoxRow[]): string {
  const n = (p: (r: BoxRow) => boolean) => rows.filter(p).length;
  return (
    `${rows.length} boxes: ${n((r) => r.status === 'online')} online, ${n((r) => r.status === 'offline')} offline, ` +
    `${n((r) => r.status === 'stale')} stale, ${n((r) => r.status === 'unknown')} unknown | ` +
    `${n((r) => r.playing !== null)} playing | ${n((r) => r.faults.length > 0 || r.state === 'fault')} with faults | ` +
    `outbox backlog ${rows.reduce((s, r) => s + (r.outbox ?? 0), 0)}`
  );
}

/** Boxes that need a look first: stale, offline, faulty, backlogged; then by id. */
export function problemsFirst(rows: readonly BoxRow[]): BoxRow[] {
  const rank = (r: BoxRow) => (r.status === 'stale' ? 0 : r.status === 'offline' ? 1 : r.faults.length || r.state === 'fault' ? 2 : (r.outbox ?? 0) > 0 ? 3 : 4);
  return [...rows].sort((a, b) => rank(a) - rank(b) || (a.deviceId < b.deviceId ? -1 : 1));
}

/** The table as lines; `maxRows` cuts it (a terminal's height) and says how many are left. */
export function table(rows: readonly BoxRow[], maxRows = Infinity): string[] {
  const shown = rows.slice(0, Math.max(0, maxRows));
  const grid = [COLUMNS as readonly string[], ...shown.map(cells)];
  const widths = COLUMNS.map((_, i) => Math.min(40, Math.max(...grid.map((c) => c[i]!.length))));
  const fit = (s: string, w: number) => (s.length > w ? s.slice(0, w - 1) + '…' : s.padEnd(w));
  const out = grid.map((c) => c.map((s, i) => fit(s, widths[i]!)).join('  ').trimEnd());
  if (rows.length > shown.length) out.push(`… ${rows.length - shown.length} more (noc watch --once for all)`);
  return out;
}

/** One line per change, for logs and pipes. */
export function changeLine(now: number, deviceId: string, changes: readonly string[]): string {
  return `${new Date(now).toISOString()} ${deviceId} ${changes.join(', ')}`;
}
