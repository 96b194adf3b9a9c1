// Who gets the speaker (contract §3). Pure: the playback coordinator asks, then acts.
//
// - A higher priority preempts what plays; the lower one gets `play.interrupted`
//   (`preempted`).
// - An equal or lower priority finds the speaker busy: `play.skipped` (`busy`).
// - An emergency (100) starts at once whatever plays, even another emergency: the
//   newest warning is the one the centre wants heard now.
// - When the preempting item ends, an interrupted stream, FM or line relay whose slot
//   is still running resumes for the rest of it (the highest priority first); an
//   interrupted file item does not restart (a bulletin heard from the middle is worse
//   than none, and its occurrence already has its terminal event).

export const EMERGENCY = 100;
/** A relay with less than this left of its slot is not worth switching the relays back for. */
export const MIN_RESUME_MS = 2000;

export interface Contender {
  priority: number;
}

export type Decision = { action: 'start' } | { action: 'preempt' } | { action: 'skip'; reason: 'busy' };

export function arbitrate(current: Contender | null, incoming: Contender): Decision {
  if (!current) return { action: 'start' };
  if (incoming.priority >= EMERGENCY || incoming.priority > current.priority) return { action: 'preempt' };
  return { action: 'skip', reason: 'busy' };
}

export interface Resumable {
  kind: 'file' | 'stream' | 'fm' | 'line';
  priority: number;
  /** When its slot ends (ms); null when unknown. */
  slotEnd: number | null;
}

/** Is a preempted item worth keeping to resume later? */
export function canResume(r: Resumable, now: number): boolean {
  return r.kind !== 'file' && r.slotEnd !== null && r.slotEnd - now >= MIN_RESUME_MS;
}

/**
 * After the speaker frees up: the suspended item to resume (highest priority, then the
 * most recently suspended), and those whose slot has run out meanwhile (to drop).
 */
export function pickResume<T extends Resumable>(
  suspended: readonly T[],
  now: number,
): { resume: T | null; expired: T[] } {
  const live = suspended.filter((s) => canResume(s, now));
  const expired = suspended.filter((s) => !canResume(s, now));
  let resume: T | null = null;
  for (const s of live) if (!resume || s.priority >= resume.priority) resume = s;
  return { resume, expired };
}
