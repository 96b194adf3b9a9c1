// BENCH_SMOKE=1 (`npm run bench:smoke`): every section with a few iterations and short
// windows, so CI proves in about a minute that each one still runs end to end (a section
// built on a document the contract no longer accepts fails here, not in the next full
// run). Its numbers mean nothing: the table prints, its marks are not judged.
// The one knob: sections ask size() for their counts and windows, nothing else reads it.
export const SMOKE = process.env.BENCH_SMOKE === '1';

/**
 * `full` in the real bench, `smoke` under BENCH_SMOKE=1. An explicit override in the
 * environment variable `env` (the existing BENCH_* knobs) wins over both, so a smoke run
 * can still be lengthened where one section needs a closer look.
 */
export function size(full: number, smoke: number, env?: string): number {
  const set = env === undefined ? undefined : process.env[env];
  if (set === undefined || set === '') return SMOKE ? smoke : full;
  const n = Number(set);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${env}=${set}: not a positive number`);
  return n;
}
