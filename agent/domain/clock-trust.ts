// Whether the box may act on its wall clock (docs/protocol.md §6 "Time without an RTC").
// A Pi has no real-time clock: it boots with the time it saved at shutdown (or 1970) and
// learns the real time only when its time service reaches a server. Two kinds of proof:
//
// - A time service that says "synchronised" or "not synchronised" (adapters/clock-sources.ts).
// - Lower bounds: the real time is at least the newest `issuedAt` of any verified
//   document (signed evidence), and at least the last checkpoint the box persisted while
//   a source said it was synchronised. A clock below a lower bound by more than the
//   tolerance is provably behind.
//
// The clock is HELD (scheduled items wait) while a source positively says "not
// synchronised", or while it is provably behind. Where no source can tell (synced null)
// and nothing proves it behind, the clock is trusted: holding for ever a box whose time
// service cannot be read would silence it. A clock AHEAD cannot be caught by a lower
// bound; only a source can say so, which is why "not synchronised" holds.
import type { ClockSync } from '../adapters/clock-sources.js';
import { MAX_ISSUED_AHEAD_MS } from './verify.js';

/**
 * How far below a lower bound the clock may be before it is "provably behind": the same
 * margin the contract gives the centre's clock for `issuedAt` (v1.1 §2.1), so a centre
 * whose clock is a few minutes fast never makes correct boxes hold their schedules.
 */
export const CLOCK_TOLERANCE_MS = MAX_ISSUED_AHEAD_MS;

export interface ClockVerdict {
  /** Scheduled (absolute-time) items must wait. */
  held: boolean;
  /** The clock is below the lower bound by more than the tolerance. */
  behind: boolean;
  /** ms since the epoch, or null while nothing bounds the time. */
  lowerBound: number | null;
}

/** The heartbeat's `clock` (an addition to contract v1.1's `{synced}`). */
export interface ClockReport {
  synced: boolean | null;
  source: ClockSync['source'];
  lowerBound: string | null;
  behind: boolean;
}

export const TRUSTED: ClockVerdict = { held: false, behind: false, lowerBound: null };

export function judgeClock(now: number, sync: ClockSync, lowerBound: number | null, toleranceMs = CLOCK_TOLERANCE_MS): ClockVerdict {
  const behind = lowerBound !== null && now < lowerBound - toleranceMs;
  return { held: behind || sync.synced === false, behind, lowerBound };
}

/** The best the box can say of the real time: its clock, or the lower bound if that is later. */
export function provableNow(now: number, v: ClockVerdict): number {
  return v.lowerBound !== null && v.lowerBound > now ? v.lowerBound : now;
}

export function clockReport(sync: ClockSync, v: ClockVerdict): ClockReport {
  return {
    synced: sync.synced,
    source: sync.source,
    lowerBound: v.lowerBound === null ? null : new Date(v.lowerBound).toISOString(),
    behind: v.behind,
  };
}

/** The higher of two lower bounds (null: unknown). */
export function higherBound(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}
