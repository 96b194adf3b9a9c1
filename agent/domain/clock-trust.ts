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
// Contract v1.2 §2.2 weighs the evidence (docs/protocol.md §6 "Weighing the evidence"):
// - a synchronised source outranks documents: a bound more than the tolerance above its
//   clock is discarded (and reported);
// - one document alone raises the bound at most 24 h beyond the corroborated time (the
//   clock, a source's checkpoint, or a time two distinct documents both vouch for);
// - a signed emergency is judged on corroborated time only, never on one document's word.
//
// The clock is HELD (scheduled items wait) while a source positively says "not
// synchronised", or while it is provably behind. Where no source can tell (synced null)
// and nothing proves it behind, the clock is trusted: holding for ever a box whose time
// service cannot be read would silence it. A clock AHEAD cannot be caught by a lower
// bound; only a source can say so, which is why "not synchronised" holds.
import type { ClockReport, ClockSourceName } from '../../contract/telemetry.js';
export type { ClockReport, ClockSourceName } from '../../contract/telemetry.js';

/** What the clock sources say (the port is agent/adapters/clock-sources.ts). */
export interface ClockSync {
  /** true/false where a source says so; null where none can tell. */
  synced: boolean | null;
  /** The source that answered, or `none`. */
  source: ClockSourceName | 'none';
}
import { MAX_ISSUED_AHEAD_MS } from '../../contract/verify.js';

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
  /**
   * The part of the bound corroborated evidence vouches for (a source's checkpoint, two
   * documents); null: none. Items are skipped `clock` only on this: one document's word
   * holds them (released when a source synchronises), it never throws them away.
   */
  corroborated?: number | null;
}

export const TRUSTED: ClockVerdict = { held: false, behind: false, lowerBound: null };

export function judgeClock(
  now: number,
  sync: ClockSync,
  lowerBound: number | null,
  toleranceMs = CLOCK_TOLERANCE_MS,
  corroborated: number | null = lowerBound,
): ClockVerdict {
  // A synchronised source outranks document evidence (v1.2): its clock is never "behind".
  const behind = sync.synced !== true && lowerBound !== null && now < lowerBound - toleranceMs;
  return {
    held: behind || sync.synced === false,
    behind,
    lowerBound,
    corroborated:
      sync.synced === true || corroborated === null || lowerBound === null ? null : Math.min(corroborated, lowerBound),
  };
}

/** Contract v1.2 §2.2: one document raises the bound at most this far beyond the corroborated time. */
export const MAX_UNCORROBORATED_MS = 24 * 3_600_000;

/** A verified document's `issuedAt`, named by the document (`schedule:<id>:<version>`, `command:<id>`). */
export interface Claim {
  id: string;
  at: number;
}

/**
 * What the box knows of the real time beyond its clock. `checkpoint`: the last time a
 * synchronised source vouched for (persisted). `claims`: the two highest `issuedAt` of
 * distinct verified documents. `bound`: the lower bound in force (ms, or null).
 */
export interface Evidence {
  checkpoint: number | null;
  claims: Claim[];
  bound: number | null;
}

export const NO_EVIDENCE: Evidence = { checkpoint: null, claims: [], bound: null };

/** The time corroborated evidence vouches for: a source's checkpoint, or the lower of two distinct documents. */
export function vouched(e: Evidence): number | null {
  return higherBound(e.checkpoint, e.claims[1]?.at ?? null);
}

/**
 * A verified document claims the real time is at least `c.at`. The bound rises to the
 * corroborated time, and beyond it (the box's clock, if later, being the base) by at most
 * MAX_UNCORROBORATED_MS on this document's word alone. A bound never falls here.
 */
export function noteClaim(e: Evidence, c: Claim, now: number): Evidence {
  if (!Number.isFinite(c.at)) return e;
  const kept = e.claims.find((x) => x.id === c.id);
  const claims = [...e.claims.filter((x) => x.id !== c.id), { id: c.id, at: Math.max(c.at, kept?.at ?? -Infinity) }]
    .sort((a, b) => b.at - a.at)
    .slice(0, 2);
  const next = { ...e, claims };
  const base = Math.max(now, vouched(next) ?? -Infinity);
  const single = Math.min(claims[0]!.at, base + MAX_UNCORROBORATED_MS);
  return { ...next, bound: higherBound(higherBound(e.bound, vouched(next)), single) };
}

/**
 * A source says the clock is synchronised: its time is the truth. A bound more than the
 * tolerance above it is contradicted: discarded (returned in `discarded` to be reported),
 * with the claims that made it. Otherwise the bound and checkpoint rise to the clock.
 */
export function syncedAt(
  e: Evidence,
  now: number,
  toleranceMs = CLOCK_TOLERANCE_MS,
): { evidence: Evidence; discarded: number | null } {
  const discarded = e.bound !== null && e.bound > now + toleranceMs ? e.bound : null;
  const claims = e.claims.filter((c) => c.at <= now + toleranceMs);
  const bound = discarded !== null ? now : Math.max(now, e.bound ?? -Infinity);
  return {
    evidence: { checkpoint: Math.max(now, Math.min(e.checkpoint ?? -Infinity, now + toleranceMs)), claims, bound },
    discarded,
  };
}

/** The centre's signed `clock` {resetBound}: forget what no source vouched for (documents' claims). */
export function resetBound(e: Evidence): Evidence {
  return { checkpoint: e.checkpoint, claims: [], bound: e.checkpoint };
}

/** The best the box can say of the real time: its clock, or the lower bound if that is later. */
export function provableNow(now: number, v: ClockVerdict): number {
  return v.lowerBound !== null && v.lowerBound > now ? v.lowerBound : now;
}

/** The time past which an item may be given up (`clock`): its clock, or the corroborated bound if later. */
export function corroboratedNow(now: number, v: ClockVerdict): number {
  const c = v.corroborated === undefined ? v.lowerBound : v.corroborated;
  return c !== null && c > now ? c : now;
}

export function clockReport(sync: ClockSync, v: ClockVerdict, now: number): ClockReport {
  return {
    synced: sync.synced,
    source: sync.source,
    lowerBound: v.lowerBound === null ? null : new Date(v.lowerBound).toISOString(),
    behind: v.behind,
    ...(v.lowerBound !== null && v.lowerBound - now >= 1000 ? { aheadS: Math.round((v.lowerBound - now) / 1000) } : {}),
  };
}

/** The higher of two lower bounds (null: unknown). */
export function higherBound(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}
