// Parsed cron expressions, by text. Parsing one costs about 75 µs (croner 11, warm), and
// a document is validated, counted against the daily cap and expanded again at every
// re-plan: one parse per distinct expression keeps that off the accept path. Parsed
// patterns are immutable (nextRun() takes its start as an argument), so this is a cache,
// not state; it is bounded, and what it forgets is parsed again.
import { Cron } from 'croner';

const MAX = 1000;
const cache = new Map<string, Cron | Error>();

/** The paused, zone-less (UTC) Cron of `expr`; throws croner's error for an invalid one. */
export function cronFor(expr: string): Cron {
  let c = cache.get(expr);
  if (c === undefined) {
    try {
      c = new Cron(expr, { paused: true, utcOffset: 0 });
    } catch (err) {
      c = err instanceof Error ? err : new Error(String(err));
    }
    if (cache.size >= MAX) cache.delete(cache.keys().next().value as string);
    cache.set(expr, c);
  }
  if (c instanceof Error) throw c;
  return c;
}
