// `loa-provision logs`: the agent's journal, readable on a phone. Under systemd the
// agent logs JSON lines (one event per line, for journald and support bundles); this
// runs `journalctl -u loa-agent.service -o cat` and shows each line as time, level,
// message and the fields that matter (log-format.ts). --raw passes them as they are.
import { CliError, EXIT, parseArgs, positionals, UsageError } from '../cli-kit/index.js';
import type { Ui } from './io.js';
import { journalArgs, journalctl, journalProblem, type Journal } from './journal.js';
import { formatLogLine, LEVELS } from './log-format.js';

export const LOGS_HELP = `loa-provision logs [-n 50] [-f] [--since TIME] [--level warn] [--verbose] [--raw]

The agent's log from the systemd journal (journalctl -u loa-agent.service -o cat),
one line per event: time, level, message, then code, reason, itemId, docId, cmdId
and the error. Lines that are not the agent's JSON (the launcher, a crash) as they are.

  -n, --lines N   the last N lines (default 50)
  -f, --follow    keep printing new lines (Ctrl-C stops)
  --since TIME    from then on, as journalctl takes it: "1 hour ago", "2026-12-08 09:00", today
  --level L       only L and above: trace, debug, info, warn, error, fatal
  --verbose       every field of each line, not only the important ones
  --raw           the JSON lines as the agent wrote them (for a support request)
  --lang vi|en    the language of this tool's own lines (default: from LANG / LC_ALL, else
                  English); the agent's messages are shown as it wrote them
Reading the system journal needs root (sudo) or the adm / systemd-journal group.
Exit 0; 1 when the journal cannot be read or holds no line of the agent.`;

const OPTIONS = {
  lines: { kind: 'string' },
  follow: { kind: 'boolean', short: 'f' },
  since: { kind: 'string' },
  level: { kind: 'string' },
  verbose: { kind: 'boolean', short: 'v' },
  raw: { kind: 'boolean' },
  ascii: { kind: 'boolean' },
} as const;

export interface LogsDeps {
  /** Runs journalctl (journal.ts); a test gives the lines. */
  journal?: Journal;
  /** The zone of the times shown (default: the machine's). */
  timeZone?: string;
}

/** journalctl's `-n 50` and `-n50`, as the argv parser's --lines. */
function withShortLines(argv: readonly string[]): string[] {
  return argv.flatMap((a) => (a === '-n' ? ['--lines'] : /^-n\d+$/.test(a) ? [`--lines=${a.slice(2)}`] : [a]));
}

export async function logsCommand(argv: string[], ui: Ui, deps: LogsDeps = {}): Promise<number> {
  const {
    opts: f,
    positional,
    help,
  } = parseArgs(withShortLines(argv), OPTIONS, 'loa-provision logs', {
    repeated: 'last',
  });
  positionals(positional, [], 'loa-provision logs');
  if (help) {
    ui.out(LOGS_HELP);
    return EXIT.OK;
  }
  const lines = f.lines === undefined ? 50 : Number(f.lines);
  if (!Number.isInteger(lines) || lines < 1 || lines > 1_000_000)
    throw new UsageError(ui.t('logs.lines', { n: String(f.lines) }));
  const minLevel = f.level === undefined ? undefined : LEVELS[f.level.toLowerCase()];
  if (f.level !== undefined && minLevel === undefined)
    throw new UsageError(ui.t('logs.level', { level: f.level, levels: Object.keys(LEVELS).join(', ') }));

  const run = (deps.journal ?? journalctl)(
    journalArgs({ lines, follow: f.follow === true, ...(f.since !== undefined ? { since: f.since } : {}) }),
  );
  const format = {
    ...(deps.timeZone ? { timeZone: deps.timeZone } : {}),
    verbose: f.verbose === true,
    ...(minLevel !== undefined ? { minLevel } : {}),
  };
  let n = 0;
  for await (const line of run.lines) {
    if (/^-- .* --$/.test(line)) {
      ui.out(line); // journalctl's own: "-- No entries --", "-- Boot 3f2… --"
      continue;
    }
    n++;
    const text = f.raw ? line : formatLogLine(line, format);
    if (text !== null) ui.out(text, f.raw ? { wrap: false } : { indent: 6 });
  }
  const end = await run.done;
  const problem = journalProblem(end, n);
  const said = end.stderr.trim() ? end.stderr.trim().split('\n') : [];
  // The problem quotes journalctl's first line; the rest (its hints) follows it.
  if (problem) throw new CliError(ui.say(problem), EXIT.FAIL, said.slice(1));
  for (const l of said) ui.err(l);
  return EXIT.OK;
}
