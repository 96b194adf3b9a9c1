// `noc cap`: CAP 1.2 alerts (a file, a URL, or an Atom/RSS feed polled) → validated →
// mapped to loa decisions (mapping file) → audio fetched and checked, or synthesised →
// signed commands published on each group's cmd topic (or printed with --dry-run).
// Every decision is one line on standard output (and in --log). docs/cap.md.
// Here: the command line, reading a file or URL, and polling a feed; one message is
// handled in handle.ts.
import { X509Certificate } from 'node:crypto';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { errorMessage, Failure, parseArgs, positionals, required, UsageError } from '../../cli-kit/index.js';
import { DEFAULT_ROOT } from '../../contract/index.js';
import { loadSigningKey, readJsonFile } from '../docs.js';
import type { Io } from '../io.js';
import { BROKER_HELP, BROKER_SPEC, brokerConfig, closeClient } from '../mqtt.js';
import { stopSignal } from '../signals.js';
import { checkRoot } from '../topics.js';
import { feedLinks, loadState, saveState } from './feed.js';
import { DEFAULT_FETCH, fetchBounded, type FetchPolicy } from './fetch.js';
import { handleMessage, type Ctx } from './handle.js';
import { readMapping } from './mapping.js';
import { CAP_BUDGETS } from './xml-tree.js';

/** Feed links fetched at once. */
const FETCH_CONCURRENCY = 4;

const SPEC = {
  ...BROKER_SPEC,
  mapping: { kind: 'string' },
  key: { kind: 'string' },
  kid: { kind: 'string' },
  'dry-run': { kind: 'boolean' },
  feed: { kind: 'string' },
  'poll-s': { kind: 'number', min: 5 },
  once: { kind: 'boolean' },
  state: { kind: 'string' },
  'media-dir': { kind: 'string' },
  'media-base-url': { kind: 'string' },
  'tts-command': { kind: 'string' },
  'encode-command': { kind: 'string' },
  voice: { kind: 'string' },
  log: { kind: 'string' },
  'cap-cert': { kind: 'list' },
  'min-repeat-s': { kind: 'number', min: 1, max: 86_400 },
  resend: { kind: 'string' },
  'allow-private': { kind: 'boolean' },
} as const;

export const CAP_HELP = `noc cap FILE|URL --mapping M.json --key K.pem [--kid KID] [--dry-run] [options]
noc cap --feed URL [--poll-s 60] [--once] --state S.json --mapping M.json --key K.pem [options]

Validate CAP 1.2 alerts (the project's own validator, from the OASIS element tables),
map them to loa decisions and send them as signed commands on {root}/g/G/cmd:
  area geocodes (or a group's point inside a polygon/circle) → groups (mapping file);
  severity + urgency → priority (Extreme+Immediate 100, Extreme or Severe 75, else 50;
  per event in the mapping), with a repeat cadence; expires → repeat until and the
  command's expiresAt (at most 24 h); Update → cancel of the referenced alerts, then the
  new play; Cancel → cancel {capId}; Exercise/Test only to groups with "exercise": true;
  Draft, System, Ack and Error are not actioned. An audio resource is fetched and its
  CAP size and SHA-1 digest checked; a text-only alert is synthesised (issue time first).
Every decision is a printed line. docs/cap.md has the mapping file and the commands.

  --mapping FILE      groups, geocodes, exercise groups, per-event rules (docs/cap.md)
  --key FILE          Ed25519 signing key (noc keys); --kid KID overrides its name
  --dry-run           print what would be published ("would publish TOPIC JSON"), send nothing
                      (--key optional then; the state file is not changed)
  --feed URL          poll an Atom or RSS feed of CAP messages every --poll-s seconds
                      (default 60) until Ctrl-C; --once polls once and exits
  --state FILE        alerts handled and where they went (JSON; required with --feed): an
                      alert is actioned once, and an Update/Cancel reaches the groups its
                      original went to
  --media-dir DIR --media-base-url URL
                      store audio (synthesised, embedded, or fetched) as <sha256>.<ext> in
                      DIR, served to boxes at URL; needed for text-only and embedded audio
  --tts-command T     text to speech template (default: espeak-ng -v {voice} -w {wav} {text});
  --encode-command T  WAV → MP3 (default: lame --quiet -b 64 {wav} {mp3}); see noc tts --help
  --voice V           the {voice} (default: from the info language, vi-VN → vi)
  --min-repeat-s N    the fleet's config schedule.minRepeatS (default 60, the contract's): the
                      shortest repeat cadence the boxes accept, and so a mapping rule may give
  --resend ID         send the alert with this CAP identifier again although --state says
                      it was handled (after a mapping fix); boxes that ran it do not run it twice
  --allow-private     fetch from loopback, link-local and private addresses too (an internal
                      CAP server, a test bench); without it they are refused, redirects included
  --log FILE          append every decision line, time-stamped
  --cap-cert PEM      a pinned certificate of the alerting authority (repeatable): every
                      alert must then carry an enveloped XML signature (exclusive c14n,
                      RSA/ECDSA with SHA-256/384/512) verifying with one of them, or it is
                      refused; without it, signatures are not checked (said per alert)

Exit 0 when every alert was valid and everything it asked for was sent; 1 otherwise
(the other alerts are still handled). An alert to be broadcast whose area maps to no
group is a failure: each such area is printed with its geocodes and the mapping's keys,
and the alert is not recorded as handled.

${BROKER_HELP}`;

function loadCert(path: string): X509Certificate {
  try {
    return new X509Certificate(readFileSync(path));
  } catch (err) {
    throw new UsageError(`--cap-cert ${path}: not a readable PEM certificate (${errorMessage(err)})`);
  }
}

async function readSource(src: string, policy: FetchPolicy): Promise<string> {
  if (/^https?:\/\//i.test(src))
    return (await fetchBounded(src, 'CAP message', CAP_BUDGETS.bytes, policy)).toString('utf8');
  let size: number;
  try {
    size = statSync(src).size;
  } catch (err) {
    throw new Failure(`${src}: ${errorMessage(err)}`);
  }
  // A file within the reader's byte budget too, checked before it is read.
  if (size > CAP_BUDGETS.bytes)
    throw new Failure(
      `${src}: ${size} bytes, over the budget of ${CAP_BUDGETS.bytes} bytes for a CAP message; nothing read`,
    );
  try {
    return readFileSync(src, 'utf8');
  } catch (err) {
    throw new Failure(`${src}: ${errorMessage(err)}`);
  }
}

async function pollOnce(feed: string, c: Ctx): Promise<void> {
  let links: string[];
  try {
    const read = feedLinks((await fetchBounded(feed, 'feed', CAP_BUDGETS.bytes, c.fetch)).toString('utf8'), feed);
    links = read.links;
    for (const e of read.bad) {
      c.failed = true;
      c.say(`feed ${feed}: entry ${e.entry} skipped: ${e.error}`);
    }
  } catch (err) {
    c.failed = true;
    return void c.say(`feed ${feed}: ${errorMessage(err)}; trying again next poll`);
  }
  const now = Date.now();
  const handled = new Set(c.state.links);
  const fresh = links.filter((l) => !handled.has(l));
  // A link that failed waits (doubling from one poll to an hour) instead of costing every poll its deadline.
  const due = fresh.filter((l) => {
    const f = c.state.failing[l];
    if (!f || Date.parse(f.next) <= now) return true;
    c.say(`${l}: failed ${f.n} time${f.n === 1 ? '' : 's'} (${f.why}); next try at ${f.next}`);
    return false;
  });
  c.say(
    `feed ${feed}: ${links.length} entries, ${fresh.length} new${due.length < fresh.length ? `, ${fresh.length - due.length} backing off` : ''}`,
  );
  // Fetched FETCH_CONCURRENCY at a time, handled in feed order as each is in: one slow
  // link delays the others by at most its own deadline, not theirs added up.
  const bodies = limited(due, FETCH_CONCURRENCY, (link) => readSource(link, c.fetch));
  for (const b of bodies) b.catch(() => undefined); // each is awaited below, in order; none is left unhandled meanwhile
  for (const [k, link] of due.entries()) {
    try {
      const xml = await bodies[k]!;
      if ((await handleMessage(xml, link, c)) === 'retry') continue;
      c.state.links.push(link);
      delete c.state.failing[link];
      if (!c.dryRun) saveState(c.statePath, c.state);
    } catch (err) {
      c.failed = true;
      const f = c.state.failing[link];
      const n = (f?.n ?? 0) + 1;
      const waitS = Math.min(3600, c.pollS * 2 ** n); // two polls, then four, … up to an hour
      c.state.failing[link] = {
        n,
        next: new Date(Date.now() + waitS * 1000).toISOString(),
        why: errorMessage(err).slice(0, 200),
      };
      c.say(`${link}: ${errorMessage(err)}; next try in ${waitS} s`);
      if (!c.dryRun) saveState(c.statePath, c.state);
    }
  }
}

/** At most `n` of `run` in flight; the results in input order. */
function limited<T>(items: readonly string[], n: number, run: (item: string) => Promise<T>): Promise<T>[] {
  let active = 0;
  const queue: (() => void)[] = [];
  return items.map(async (item) => {
    if (active >= n) await new Promise<void>((r) => queue.push(r));
    active++;
    try {
      return await run(item);
    } finally {
      active--;
      queue.shift()?.();
    }
  });
}

export async function capCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc cap');
  if (help) return (io.out(CAP_HELP), 0);
  const [src] = positionals(positional, ['FILE|URL'], 'noc cap', true);
  if ((src === undefined) === (opts.feed === undefined))
    throw new UsageError('give a CAP file or URL, or --feed URL (one of them)');
  if (opts.feed && !opts.state && !opts['dry-run'])
    throw new UsageError('--feed needs --state FILE (the alerts already handled), or every poll would send them again');
  if (Boolean(opts['media-dir']) !== Boolean(opts['media-base-url']))
    throw new UsageError('--media-dir and --media-base-url go together');
  const dryRun = opts['dry-run'] === true;
  const minRepeatS = opts['min-repeat-s'] ?? 60;
  if (!Number.isInteger(minRepeatS))
    throw new UsageError(`--min-repeat-s ${minRepeatS}: must be a whole number of seconds`);
  const mp = readMapping(readJsonFile(required(opts.mapping, '--mapping', 'areas.json')), minRepeatS);
  if (!mp.ok) throw new Failure(`--mapping ${opts.mapping}: ${mp.problems.length} problem(s)`, mp.problems);
  const key = opts.key
    ? loadSigningKey(opts.key, opts.kid)
    : dryRun
      ? undefined
      : loadSigningKey(required(opts.key, '--key', 'centre-2026.key.pem'), opts.kid);
  const cfg = dryRun && !opts.broker && !process.env.NOC_BROKER ? undefined : brokerConfig(opts, process.env, io.err);
  const logFile = opts.log;
  const say = (line: string) => {
    io.out(line);
    if (logFile) {
      try {
        appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
      } catch (err) {
        io.err(`noc cap: --log ${logFile}: ${errorMessage(err)}`);
      }
    }
  };
  const c: Ctx = {
    io,
    say,
    mapping: mp.mapping,
    minRepeatS,
    ...(key ? { key } : {}),
    dryRun,
    state: loadState(opts.state),
    ...(opts.state ? { statePath: opts.state } : {}),
    store: {
      ...(opts['media-dir'] ? { dir: opts['media-dir'] } : {}),
      ...(opts['media-base-url'] ? { baseUrl: opts['media-base-url'] } : {}),
    },
    certs: (opts['cap-cert'] ?? []).map(loadCert),
    ...(opts.resend ? { resend: opts.resend } : {}),
    fetch: { ...DEFAULT_FETCH, allowPrivate: opts['allow-private'] === true },
    pollS: opts['poll-s'] ?? 60,
    tts: {
      ...(opts['tts-command'] ? { command: opts['tts-command'] } : {}),
      ...(opts['encode-command'] ? { encode: opts['encode-command'] } : {}),
      ...(opts.voice ? { voice: opts.voice } : {}),
    },
    ...(cfg ? { cfg } : {}),
    root: cfg?.root ?? checkRoot(opts.root ?? DEFAULT_ROOT),
    failed: false,
  };
  const stop = opts.feed && !opts.once ? stopSignal() : undefined;
  try {
    if (src !== undefined) await handleMessage(await readSource(src, c.fetch), src, c);
    else
      for (;;) {
        await pollOnce(opts.feed!, c);
        if (!stop) break;
        let timer: NodeJS.Timeout | undefined;
        const why = await Promise.race([
          stop.done,
          new Promise((r) => (timer = setTimeout(r, (opts['poll-s'] ?? 60) * 1000))),
        ]);
        clearTimeout(timer);
        if (why) {
          say(`feed ${opts.feed}: stopped (${String(why)})`);
          break;
        }
      }
  } finally {
    stop?.dispose();
    if (c.client) await closeClient(c.client);
  }
  return c.failed ? 1 : 0;
}
