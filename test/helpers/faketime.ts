// The agent process on a wrong wall clock: libfaketime (Debian package `faketime`)
// preloaded, its offset read from a file at every call (FAKETIME_NO_CACHE), so a test
// can "boot" a box in the past or the future and let NTP arrive mid-run by rewriting the
// file. The monotonic clock stays real, as on a Pi whose NTP steps the wall clock.
// Where libfaketime is missing the tests skip with the reason; under CI=true they fail.
import { existsSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function findLib(): string | undefined {
  const bases = ['/usr/lib', '/usr/lib64', '/usr/local/lib'];
  for (const base of bases) {
    const dirs = [base, ...(existsSync(base) ? readdirSync(base).map((d) => join(base, d)) : [])];
    for (const d of dirs) {
      const p = join(d, 'faketime', 'libfaketime.so.1');
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

export const libfaketime = findLib();
export const noFaketime = libfaketime ? undefined : 'libfaketime not found (apt-get install faketime)';
if (noFaketime && process.env.CI === 'true') throw new Error(`${noFaketime}; CI must install it (.ci/run does)`);

export interface FakeTime {
  /** Environment for spawnAgent. */
  env: NodeJS.ProcessEnv;
  /** Set the process's wall clock to real time + `ms` (takes effect at its next clock read). */
  offset(ms: number): void;
}

const UNIT_MS: Record<string, number> = {
  '': 1000,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  y: 365 * 86_400_000,
};

/**
 * The offset of this test process's own clock when the whole run is under libfaketime
 * (CI runs the suites once more a year ahead with `FAKETIME=+365d`): `"+365d"` -> ms. A
 * child's offset file is relative to the real clock, so the child adds this to stay
 * where the test means it to be relative to the test's own clock. 0 when not faked.
 */
export function outerOffsetMs(env: NodeJS.ProcessEnv = process.env): number {
  if (!env.LD_PRELOAD?.includes('libfaketime') || !env.FAKETIME) return 0;
  const m = /^([+-])(\d+(?:\.\d+)?)([smhdy]?)$/.exec(env.FAKETIME.trim());
  if (!m)
    throw new Error(`FAKETIME=${env.FAKETIME}: only a relative offset (+365d, -2h) can be composed with a test's own`);
  return (m[1] === '-' ? -1 : 1) * Number(m[2]) * UNIT_MS[m[3]!]!;
}

export function fakeTime(dir: string, initialMs: number): FakeTime {
  const file = join(dir, 'faketime.rc');
  const outer = outerOffsetMs();
  // Renamed into place: the process reads the file at every clock call and must never see it half written.
  const offset = (rel: number) => {
    const ms = rel + outer;
    writeFileSync(`${file}.tmp`, `${ms >= 0 ? '+' : '-'}${Math.abs(ms) / 1000}\n`);
    renameSync(`${file}.tmp`, file);
  };
  offset(initialMs);
  return {
    // FAKETIME (an outer run's offset) would outrank the file: unset, the file rules.
    env: {
      LD_PRELOAD: libfaketime ?? '',
      FAKETIME: undefined,
      FAKETIME_TIMESTAMP_FILE: file,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    },
    offset,
  };
}
