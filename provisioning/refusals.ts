// What the agent refused lately: schedules and commands that failed verification (an
// unknown key, a bad signature, a wrong target, expired…), with the reason and the
// agent's message. A box that refuses everything looks idle from outside; this says why.
//
// Two local sources, because neither has it all:
// - the journal: the agent logs every refusal it reports (SCHEDULE_REJECTED,
//   COMMAND_REJECTED, under the same rejection budget as the events), including refused
//   commands that carry an id (answered on cmd/result, never an event). Kept in RAM only
//   on a box with journald-volatile: lost at each reboot; readable by root.
// - the outbox (<stateDir>/loa.db, SQLite in WAL, opened read-only): the
//   `schedule.rejected` / `cmd.rejected` events not yet delivered. The agent deletes an
//   event once the broker acknowledged it, so on a connected box it is usually empty;
//   it survives reboots.
// The journal is read for the period it covers; outbox events older than its first line
// are added. The merge is pure (lastRefusals); the readers are at the bottom.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../cli-kit/index.js';
import { readJournal, type Journal } from './journal.js';
import { parseLogLine, shortTime } from './log-format.js';
import { msg, type Lang, type Text } from './text.js';

export interface Refusal {
  /** ms since the epoch. */
  at: number;
  what: 'schedule' | 'command';
  reason: string;
  message: string;
  /** "docId v3", "cmd 8f…", or the topic. */
  ref: string | null;
  source: 'journal' | 'outbox';
}

const LOG_CODES: Readonly<Record<string, Refusal['what']>> = {
  SCHEDULE_REJECTED: 'schedule',
  COMMAND_REJECTED: 'command',
};
const EVENT_TYPES: Readonly<Record<string, Refusal['what']>> = {
  'schedule.rejected': 'schedule',
  'cmd.rejected': 'command',
};

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

function refOf(f: Record<string, unknown>): string | null {
  const doc = str(f.docId);
  if (doc) return typeof f.version === 'number' ? `${doc} v${f.version}` : doc;
  const cmd = str(f.cmdId);
  return cmd ? `command ${cmd}` : str(f.topic);
}

/** A journal line of the agent's that reports a refusal; null for any other line. */
export function refusalFromLog(line: string): Refusal | null {
  const e = parseLogLine(line);
  const what = e ? LOG_CODES[String(e.fields.code)] : undefined;
  if (!e || !what || e.at === null) return null;
  return {
    at: e.at,
    what,
    reason: str(e.fields.reason) ?? '?',
    message: str(e.fields.message) ?? e.msg,
    ref: refOf(e.fields),
    source: 'journal',
  };
}

/** An outbox row (its type and the event's JSON body) as a refusal; null for any other event. */
export function refusalFromEvent(type: string, body: string): Refusal | null {
  const what = EVENT_TYPES[type];
  if (!what) return null;
  let f: Record<string, unknown>;
  try {
    f = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return null;
  }
  const at = Date.parse(String(f.ts));
  if (!Number.isFinite(at)) return null;
  return { at, what, reason: str(f.reason) ?? '?', message: str(f.message) ?? '', ref: refOf(f), source: 'outbox' };
}

/**
 * The last `n` refusals, oldest first: the journal's, plus the outbox's from before the
 * journal's first line (`journalFrom`; null: no journal, every outbox event counts).
 */
export function lastRefusals(
  journal: readonly Refusal[],
  outbox: readonly Refusal[],
  journalFrom: number | null,
  n = 5,
): Refusal[] {
  const older = journalFrom === null ? outbox : outbox.filter((r) => r.at < journalFrom);
  return [...journal, ...older].sort((a, b) => a.at - b.at).slice(-n);
}

/**
 * "12-08 09:14:03  schedule unknown-key: kid "x" is not a trusted key (all-2026 v3)": what
 * was refused in `lang`; the reason (a code) and the agent's message as they are.
 */
export function refusalRow(r: Refusal, timeZone?: string, lang: Lang = 'en'): string {
  const what = msg(r.what === 'schedule' ? 'refused.schedule' : 'refused.command')(lang);
  return `${shortTime(r.at, timeZone)}  ${what} ${r.reason}: ${r.message}${r.ref ? ` (${r.ref})` : ''}`;
}

export interface RecentRefusals {
  items: Refusal[];
  /** Why a source could not be read; absent when it was. */
  journalProblem?: Text;
  outboxProblem?: Text;
}

/** Both sources read (the journal's last `scan` lines), merged. */
export async function recentRefusals(o: {
  journal: Journal;
  stateDir: string;
  n?: number;
  scan?: number;
}): Promise<RecentRefusals> {
  const n = o.n ?? 5;
  const j = await readJournal(o.journal, o.scan ?? 5000);
  const fromJournal = j.lines.map(refusalFromLog).filter((r): r is Refusal => r !== null);
  const first = j.lines.map((l) => parseLogLine(l)?.at ?? null).find((t) => t !== null) ?? null;
  const ob = await readOutbox(join(o.stateDir, 'loa.db'), n);
  return {
    items: lastRefusals(fromJournal, ob.items, j.problem ? null : first, n),
    ...(j.problem ? { journalProblem: j.problem } : {}),
    ...(ob.problem ? { outboxProblem: ob.problem } : {}),
  };
}

/**
 * The newest `n` refusal events still in the outbox. Read-only: the agent may be
 * writing (WAL lets a reader in); as root, SQLite gives the -shm file it may create
 * the database's owner, so the agent can still open it.
 */
export async function readOutbox(path: string, n: number): Promise<{ items: Refusal[]; problem?: Text }> {
  const sudo = process.getuid?.() === 0 ? '' : msg('refused.sudo');
  try {
    statSync(path);
  } catch (err) {
    // Not "absent" when it only cannot be seen: the state directory is the agent's, 0700.
    return (err as NodeJS.ErrnoException).code === 'ENOENT'
      ? { items: [], problem: msg('refused.noDb', { path }) }
      : { items: [], problem: msg('refused.unreadable', { path, sudo }) };
  }
  try {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path, { readonly: true, fileMustExist: true, timeout: 2000 });
    try {
      const rows = db
        .prepare(
          `SELECT type, body FROM outbox WHERE type IN ('schedule.rejected', 'cmd.rejected') ORDER BY seq DESC LIMIT ?`,
        )
        .all(n) as { type: string; body: string }[];
      return { items: rows.map((r) => refusalFromEvent(r.type, r.body)).filter((r): r is Refusal => r !== null) };
    } finally {
      db.close();
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      /unable to open|SQLITE_CANTOPEN/i.test(e.message) || e.code === 'SQLITE_CANTOPEN'
        ? msg('refused.cannotOpen')
        : errorMessage(err);
    return { items: [], problem: msg('refused.dbProblem', { path, why, sudo }) };
  }
}
