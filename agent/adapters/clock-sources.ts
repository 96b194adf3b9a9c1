// Whether the wall clock is synchronised, asked of whatever time service the box has, in
// order (docs/protocol.md §6 "Time without an RTC"):
//
// 1. systemd-timesyncd (Raspberry Pi OS, Debian): it touches
//    {runRoot}/systemd/timesync/synchronized once synchronised (systemd >= 239); the
//    directory without the file means "running, not yet". A file test, no process.
// 2. chrony: `chronyc -n tracking` says `Leap status : Normal` (or a leap second
//    pending) once synchronised, `Not synchronised` before. No chronyc, or no chronyd
//    answering it, means chrony cannot tell: ask the next source.
// 3. The kernel (any daemon that disciplines the clock: ntpd, openntpd, chrony without
//    chronyc): adjtimex(2) returns TIME_ERROR while STA_UNSYNC is set. Node cannot call
//    it, and the agent's unit forbids it the call anyway (ProtectClock=yes filters
//    adjtimex even read-only), so it asks systemd-timedated, outside the sandbox:
//    `timedatectl show -p NTPSynchronized --value` is that flag (yes/no). Where timedatectl
//    cannot answer (no systemd as PID 1, no D-Bus), a one-line python3 (ctypes; on every
//    Raspberry Pi OS image) calls adjtimex itself, which works outside such a sandbox.
//    These run only where the two sources above are absent. A clean state is proof of
//    synchronisation; TIME_ERROR is NOT taken as proof of the opposite: the kernel starts
//    unsynchronised and only a disciplining daemon clears it, so a box set by a one-shot
//    `ntpdate` or by hand would otherwise be held for ever. It counts as "cannot tell".
// 4. Otherwise `none` (synced null).
//
// Every path and command is injectable, so tests drive each source with files and scripts.
import { access } from 'node:fs/promises';
import { execFile } from 'node:child_process';

import { CLOCK_SOURCE_NAMES, type ClockSourceName } from '../../contract/telemetry.js';
import type { ClockSync } from '../domain/clock-trust.js';
export { CLOCK_SOURCE_NAMES, type ClockSourceName, type ClockSync };

/** The port the agent's clock watch polls. */
export interface ClockSources {
  read(): Promise<ClockSync>;
}

export interface ClockSourceOptions {
  /** Sources to ask, in order (default all three). */
  sources?: readonly ClockSourceName[];
  runRoot?: string;
  /** argv of the chrony query (default `chronyc -n tracking`). */
  chronyc?: readonly string[];
  /** Kernel probes, tried in order until one answers: print `yes`/`no` or adjtimex(2)'s return value (default: timedatectl, then python3 ctypes). */
  kernelProbe?: readonly (readonly string[])[];
  /** Longest wait for a command, ms (default 3000). */
  timeoutMs?: number;
}

const KERNEL_PROBES = [
  ['timedatectl', 'show', '-p', 'NTPSynchronized', '--value'],
  [
    '/usr/bin/python3',
    '-S',
    '-c',
    'import ctypes;b=ctypes.create_string_buffer(512);print(ctypes.CDLL(None).adjtimex(b))',
  ],
];
/** adjtimex(2) clock states: TIME_OK, TIME_INS, TIME_DEL, TIME_OOP, TIME_WAIT are synchronised; TIME_ERROR (5) is not. */
const TIME_ERROR = 5;

export function createClockSources(o: ClockSourceOptions = {}): ClockSources {
  const runRoot = o.runRoot ?? '/run';
  const timeoutMs = o.timeoutMs ?? 3000;
  // A command that is not installed stays absent for the life of the process: no spawn a minute for nothing.
  const missing = new Set<string>();

  async function run(argv: readonly string[]): Promise<string | null> {
    const [bin, ...args] = argv;
    if (!bin || missing.has(bin)) return null;
    return new Promise((resolve) => {
      execFile(
        bin,
        args,
        { timeout: timeoutMs, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
        (err, stdout) => {
          if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') missing.add(bin);
          resolve(err ? null : stdout);
        },
      );
    });
  }

  const probes: Record<ClockSourceName, () => Promise<boolean | null>> = {
    async timesyncd() {
      if (await exists(`${runRoot}/systemd/timesync/synchronized`)) return true;
      if (await exists(`${runRoot}/systemd/timesync`)) return false;
      return null;
    },
    async chrony() {
      const out = await run(o.chronyc ?? ['chronyc', '-n', 'tracking']);
      return out === null ? null : chronyVerdict(out);
    },
    async kernel() {
      for (const argv of o.kernelProbe ?? KERNEL_PROBES) {
        const out = await run(argv);
        if (out !== null && out.trim() !== '' && out.trim() !== '-1') return kernelVerdict(out);
      }
      return null;
    },
  };

  return {
    async read() {
      for (const name of o.sources ?? CLOCK_SOURCE_NAMES) {
        const synced = await probes[name]().catch(() => null);
        if (synced !== null) return { synced, source: name };
      }
      return { synced: null, source: 'none' };
    },
  };
}

/** `chronyc tracking`'s Leap status: Normal or a pending leap second = synchronised. */
export function chronyVerdict(out: string): boolean | null {
  const m = /^Leap status\s*:\s*(.+?)\s*$/m.exec(out);
  if (!m) return null;
  if (/not synchronised/i.test(m[1]!)) return false;
  return /^(normal|insert second|delete second)$/i.test(m[1]!) ? true : null;
}

/** timedatectl's yes/no or adjtimex's return value: proof of synchronisation, or nothing (see the header). */
export function kernelVerdict(out: string): boolean | null {
  const t = out.trim();
  if (t === 'yes') return true;
  if (t === 'no') return null;
  const n = Number(t);
  if (!Number.isInteger(n) || n < 0) return null;
  return n === TIME_ERROR ? null : true;
}

/** Whether a path can be reached (a file the time service leaves, a sysfs node). */
export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
