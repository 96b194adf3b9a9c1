// Closing, at start, the occurrences a crash left `started` in the ledger (the scheduler's
// companion: runtime/scheduler.ts re-exports it; the agent calls it before the scheduler
// starts, with the scheduler's last checkpoint as the last moment the box was alive).
import type { LedgerStore } from '../adapters/ledger-store.js';
import type { EventSink } from '../../contract/events.js';
import type { Logger } from '../log.js';
import { seriesFields } from '../domain/repeat.js';

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
    let detail: {
      startedAt?: number;
      lateMs?: number;
      docVersion?: number;
      source?: string;
      priority?: number;
      repeat?: number;
      capId?: string;
    } = {};
    try {
      detail = JSON.parse(r.detail ?? '{}') as typeof detail;
    } catch {
      // keep the defaults: an unreadable detail must not stop the report
    }
    const startedAt = detail.startedAt ?? Date.parse(r.occurrence);
    const playedMs = Math.max(0, (lastAliveMs ?? startedAt) - startedAt);
    d.ledger.set({ ...r, state: 'interrupted', detail: 'agent-restart' }, now);
    d.events.emit('play.interrupted', {
      itemId: r.itemId,
      docId: r.docId,
      docVersion: detail.docVersion ?? null,
      occurrence: r.occurrence,
      lateMs: detail.lateMs ?? 0,
      source: (detail.source ?? 'file') as 'file',
      priority: detail.priority ?? 50,
      playedMs,
      reason: 'agent-restart',
      ...seriesFields(detail),
    });
    d.log.warn(
      { itemId: r.itemId, occurrence: r.occurrence, playedMs },
      'occurrence was interrupted by an agent restart',
    );
  }
  return rows.length;
}
