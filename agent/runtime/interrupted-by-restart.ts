// Closing, at start, the occurrences a crash left `started` in the ledger (the scheduler's
// companion: runtime/scheduler.ts re-exports it; the agent calls it before the scheduler
// starts, with the scheduler's last checkpoint as the last moment the box was alive).
import type { LedgerStore } from '../adapters/ledger-store.js';
import type { EventSink } from '../../contract/events.js';
import type { Logger } from '../log.js';
import { restartRecord } from '../domain/play-records.js';
import { record } from './record.js';

/**
 * After a crash or kill -9 mid-play, the ledger still says `started`: close each such
 * occurrence with `play.interrupted` / `agent-restart`. The agent cannot know when the
 * sound stopped; `lastAliveMs` (the scheduler's last checkpoint, at most maxSleepMs
 * old) bounds it, so playedMs is an estimate from below.
 */
export function closeInterruptedByRestart(
  d: { ledger: LedgerStore; events: EventSink; log: Logger },
  lastAliveMs: number | undefined,
  now: number,
): number {
  const rows = d.ledger.unfinished();
  for (const r of rows) {
    const rec = restartRecord(r, lastAliveMs);
    record(d, rec, now);
    d.log.warn(
      { itemId: r.itemId, occurrence: r.occurrence, playedMs: rec.event.fields.playedMs },
      'occurrence was interrupted by an agent restart',
    );
  }
  return rows.length;
}
