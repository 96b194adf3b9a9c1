// The tour of the centre the demo prints: three `noc` commands to run from another
// terminal, each runnable as printed (README "A tour of the centre"). The agent's log
// scrolls them away within seconds, so they come back: once the demo's first minute is
// over, whenever Enter is pressed, and, for the export, after Ctrl-C (the centre's
// archive outlives the demo).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addDays, formatInTz } from '../noc/tz.js';

/** A word the shell reads back as it is (paths under the temp dir rarely need quotes). */
export function sh(word: string): string {
  return /^[A-Za-z0-9_.,:/=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * How the tour runs `noc`, from any directory: `npx --prefix <repo> noc` (the package's
 * own bin, dist/noc/cli.js, which npm install builds). A bare `npx noc` outside the
 * repository would offer to install an unrelated registry package named "noc". Without
 * dist/ (installed with --ignore-scripts), the sources through npm's script.
 */
export function nocLauncher(root = packageRoot()): string {
  return existsSync(join(root, 'dist/noc/cli.js'))
    ? `npx --prefix ${sh(root)} noc`
    : `npm --prefix ${sh(root)} run -s noc --`;
}

/** The repository (or installed package) root: demo/ under tsx, dist/demo/ when built. */
function packageRoot(): string {
  for (const rel of ['../', '../../']) {
    const p = fileURLToPath(new URL(rel, import.meta.url)).replace(/\/$/, '');
    if (existsSync(join(p, 'package.json')) && existsSync(join(p, 'noc'))) return p;
  }
  return process.cwd();
}

export interface TourFacts {
  noc: string;
  brokerUrl: string;
  deviceId: string;
  keyFile: string;
  warningFile: string;
  eventsDb: string;
  heartbeatS: number;
  now?: number;
  /** When the demo started: the export's first day (a demo may run past midnight). */
  since?: number;
  /** One line: what you will hear (sound.ts). */
  sound?: string;
  /** Enter prints the tour again (standard input is read). */
  enter?: boolean;
  /** The heading; the first time, the box is up. */
  heading?: string;
}

/** The export of the centre's archive, for the days of the demo so far (dates in Vietnam). */
function exportLine(o: Pick<TourFacts, 'noc' | 'eventsDb' | 'now' | 'since'>): string {
  const now = o.now ?? Date.now();
  const day = (ms: number) => formatInTz(ms, 'Asia/Ho_Chi_Minh').slice(0, 10);
  const from = day(Math.min(o.since ?? now, now));
  return `${o.noc} events export --db ${sh(o.eventsDb)} --from ${from} --to ${addDays(day(now), 1)} --out proof-of-play.csv`;
}

/** The tour of the centre: three commands, each runnable as printed from another terminal. */
export function tour(o: TourFacts): string {
  const heading =
    o.heading ?? `The box is up. The centre's side, from another terminal (README: "A tour of the centre")`;
  return [
    '',
    `── ${heading} ──`,
    '',
    `  ${o.noc} watch --broker ${o.brokerUrl}`,
    `      the fleet: ${o.deviceId} ONLINE, its state, what it plays, heartbeat age against the ${o.heartbeatS} s period its birth announces`,
    '',
    `  ${o.noc} send ${sh(o.warningFile)} --broker ${o.brokerUrl} --device ${o.deviceId} --key ${sh(o.keyFile)}`,
    `      an emergency play (priority 100, signed with the demo centre's key): it preempts what plays; the box's answer is printed`,
    '',
    `  ${exportLine(o)}`,
    `      the proof of play so far, one row per occurrence (this demo's centre archives every event, as noc events does)`,
    '',
    ...(o.sound !== undefined ? [`  ${o.sound}`] : []),
    `  ${o.enter ? 'Enter prints these commands again; ' : ''}Ctrl-C stops the demo and keeps the archive for the export`,
    '',
    '',
  ].join('\n');
}

/** After Ctrl-C: where the centre's archive is, the export that still works, how to remove it. */
export function afterDemo(o: { noc: string; eventsDb: string; dir: string; now?: number; since?: number }): string {
  return [
    '',
    `── The demo stopped. The centre's archive is kept: ${o.eventsDb} ──`,
    '',
    `  ${exportLine(o)}`,
    `      the proof of play of this run, one row per occurrence`,
    '',
    `  rm -r ${sh(o.dir)}`,
    `      when you no longer need it (every npm start makes a new directory)`,
    '',
    '',
  ].join('\n');
}

/**
 * Whether this process is in its terminal's foreground process group (/proc/self/stat:
 * pgrp = tpgid). A background process that reads its terminal is stopped by SIGTTIN, so
 * `npm start &` must not read standard input.
 */
export function isForeground(stat = (): string => readFileSync('/proc/self/stat', 'utf8')): boolean {
  try {
    // pid (comm) state ppid pgrp session tty_nr tpgid ...; comm may hold spaces and ')'.
    const s = stat();
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return f[2] !== undefined && f[2] === f[5];
  } catch {
    return false;
  }
}

/**
 * Calls `again` for each line read from `input` (Enter on a terminal) until the returned
 * stop() is called or the input ends. A terminal in the background is not read (see
 * isForeground); a demo put in the background later gets SIGTTIN, which stops the reading
 * instead of the demo. Returns undefined when nothing is read.
 */
export function onEnter(
  input: NodeJS.ReadableStream & { isTTY?: boolean },
  again: () => void,
  foreground = isForeground,
): (() => void) | undefined {
  if (input.isTTY && !foreground()) return undefined;
  const onData = (chunk: Buffer | string) => {
    for (const c of String(chunk)) if (c === '\n') again();
  };
  const stop = () => {
    input.off('data', onData);
    input.off('end', stop);
    input.off('error', stop);
    process.off('SIGTTIN', stop);
    input.pause();
  };
  input.on('data', onData);
  input.once('end', stop);
  input.once('error', stop);
  process.on('SIGTTIN', stop);
  return stop;
}
