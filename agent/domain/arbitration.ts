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
// - A repeat (issue 16) never cuts off an equal priority, an emergency included, nor
//   skips as busy: it waits, and plays when the speaker frees up, before a relay of at
//   most its priority resumes.

export const EMERGENCY = 100;
/** A relay with less than this left of its slot is not worth switching the relays back for. */
export const MIN_RESUME_MS = 2000;

export interface Contender {
  priority: number;
  /** In a repeat series: 1 = the first play, 2 = the first repeat ... */
  repeat?: number;
}

export type Decision =
  { action: 'start' } | { action: 'preempt' } | { action: 'skip'; reason: 'busy' } | { action: 'wait' };

export function arbitrate(current: Contender | null, incoming: Contender): Decision {
  if (!current) return { action: 'start' };
  if ((incoming.repeat ?? 1) > 1 && incoming.priority <= current.priority) return { action: 'wait' };
  if (incoming.priority >= EMERGENCY || incoming.priority > current.priority) return { action: 'preempt' };
  return { action: 'skip', reason: 'busy' };
}

export interface Resumable {
  kind: 'file' | 'stream' | 'fm' | 'line' | 'live';
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

/**
 * After the speaker frees up, what plays next: the waiting repeat of highest priority
 * (the first on a tie) if it is at least the priority of the relay to resume, else that
 * relay. `expired`: suspended relays whose slot ran out meanwhile.
 */
export function pickNext<T extends Resumable, W extends Contender>(
  suspended: readonly T[],
  waiting: readonly W[],
  now: number,
): { next: { waiter: W } | { resume: T } | null; expired: T[] } {
  const { resume, expired } = pickResume(suspended, now);
  const waiter = waiting.reduce<W | undefined>(
    (best, w) => (!best || w.priority > best.priority ? w : best),
    undefined,
  );
  if (waiter && (!resume || waiter.priority >= resume.priority)) return { next: { waiter }, expired };
  return { next: resume ? { resume } : null, expired };
}
