// The agent's log lines made readable: under systemd the agent writes one JSON object
// per line (pino: level, time, msg, then fields), which journald keeps as it is. Each is
// shown as time, level, message and the fields a technician acts on (code, reason, the
// item, the document, the command, the error); --verbose adds every other field. A line
// that is not JSON (the launcher, a crash's stack) is shown as it is. Pure: the time
// zone is given.

/** pino's numeric levels. */
export const LEVELS: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
};

/** The fields worth a technician's attention, in this order. */
const IMPORTANT = [
  'code',
  'reason',
  'itemId',
  'docId',
  'version',
  'cmdId',
  'action',
  'occurrence',
  'source',
  'component',
  'topic',
  'kid',
  'message',
] as const;
/** What every line carries and the layout already shows. */
const HIDDEN = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname', 'v']);

export interface LogFormat {
  /** IANA zone for the times (default: the machine's). */
  timeZone?: string;
  /** Every field, not only the important ones. */
  verbose?: boolean;
  /** Leave out JSON lines under this level (non-JSON lines are always shown). */
  minLevel?: number;
}

export interface LogEntry {
  /** ms since the epoch; null when the line has none. */
  at: number | null;
  level: number | null;
  msg: string;
  fields: Record<string, unknown>;
}

/** One line of `journalctl -o cat` as a pino entry; null when it is not one. */
export function parseLogLine(line: string): LogEntry | null {
  const s = line.trim();
  if (!s.startsWith('{')) return null;
  let o: unknown;
  try {
    o = JSON.parse(s);
  } catch {
    return null;
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return null;
  const r = o as Record<string, unknown>;
  if (!('msg' in r) && !('level' in r)) return null;
  const at = typeof r.time === 'number' ? r.time : typeof r.time === 'string' ? Date.parse(r.time) : NaN;
  const level = typeof r.level === 'number' ? r.level : typeof r.level === 'string' ? (LEVELS[r.level] ?? null) : null;
  return { at: Number.isFinite(at) ? at : null, level, msg: typeof r.msg === 'string' ? r.msg : '', fields: r };
}

/** "12-08 09:14:03" in the zone: the month and day, as a log read on site spans days, not years. */
export function shortTime(ms: number, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    ...(timeZone ? { timeZone } : {}),
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(ms));
  const p = (t: string) => parts.find((x) => x.type === t)?.value ?? '??';
  return `${p('month')}-${p('day')} ${p('hour')}:${p('minute')}:${p('second')}`;
}

export function levelName(level: number | null): string {
  if (level === null) return '?';
  const name = Object.entries(LEVELS)
    .filter(([, n]) => n <= level)
    .pop()?.[0];
  return (name ?? 'trace').toUpperCase();
}

function valueText(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
}

/** An error field (pino's {type, message, code, stack}) as its message, with its code. */
function errText(e: unknown): string {
  if (e === null || typeof e !== 'object') return valueText(e);
  const o = e as { message?: unknown; code?: unknown; type?: unknown };
  const msg = typeof o.message === 'string' ? o.message : JSON.stringify(e);
  return JSON.stringify(`${typeof o.code === 'string' ? `${o.code}: ` : ''}${msg}`);
}

/** The readable line, or null when --level leaves it out. */
export function formatLogLine(line: string, o: LogFormat = {}): string | null {
  const e = parseLogLine(line);
  if (!e) return line;
  if (o.minLevel !== undefined && e.level !== null && e.level < o.minLevel) return null;
  const keys = [
    ...IMPORTANT.filter((k) => k in e.fields),
    ...(o.verbose
      ? Object.keys(e.fields).filter(
          (k) => !HIDDEN.has(k) && !(IMPORTANT as readonly string[]).includes(k) && k !== 'err',
        )
      : []),
  ];
  const fields = keys.map((k) => `${k}=${valueText(e.fields[k])}`);
  if ('err' in e.fields) fields.push(`err=${errText(e.fields.err)}`);
  const time = e.at !== null ? shortTime(e.at, o.timeZone) : '--:--:--';
  return [`${time} ${levelName(e.level).padEnd(5)} ${e.msg}`, ...fields].join('  ');
}
