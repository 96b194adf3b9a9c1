// Proof of sound at the centre (contract v1.2 §9): what `noc exporter` reads of a box's
// output out of its events. Pure: an event in, a fact out (or null); exporter-model.ts
// keeps the facts per box in SoundStats, exporter-render.ts prints them.
//
// A box shows that its board measures its output with its first `output` of `measured:
// true`, or with an event only such a board causes (hw.fault / hw.recovered `output`,
// play.degraded, play.failed `no-output`). Until then it has no SoundStats and none of
// these series is printed: a box that cannot measure (an agent before v1.2, a GPIO or sim
// board, an IO board before protocol 1.2) has no level rather than a level of 0. From then
// on every counter is printed, zeros included, so that the first silent play is an
// increase Prometheus can see.
import { obj } from './exporter-readings.js';
import { num, str, type Json } from './watch-row.js';

/** The reasons of play.degraded (contract §9): a fixed set, counted outside the per-box label bound. */
export const DEGRADED_REASONS: readonly string[] = ['dead-air', 'no-output'];

export interface SoundStats {
  /** The median output level of the last play measured (dB of the amplifier's rated output), null before one. */
  levelDb: number | null;
  /** play.finished / play.interrupted whose output was measured. */
  measuredPlays: number;
  /** Of those, the ones whose output was silent for a while (silentMs > 0). */
  silentPlays: number;
  silentMs: number;
  /** play.degraded by reason: DEGRADED_REASONS from 0, any other through the per-box bound. */
  degraded: Map<string, number>;
  /** play.failed `no-output` of an emergency: it sounded on no path. */
  emergencyNoOutput: number;
}

export function newSoundStats(): SoundStats {
  return {
    levelDb: null,
    measuredPlays: 0,
    silentPlays: 0,
    silentMs: 0,
    degraded: new Map(DEGRADED_REASONS.map((r) => [r, 0])),
    emergencyNoOutput: 0,
  };
}

/** What one event says of the box's output. */
export type SoundFact =
  /** A play's measured output; levelDb null when the box sent none. */
  | { kind: 'measured'; levelDb: number | null; silentMs: number }
  | { kind: 'degraded'; reason: string }
  /** play.failed no-output; priority null when the box sent none. */
  | { kind: 'no-output'; priority: number | null }
  /** hw.fault / hw.recovered output: the board measures (the fault itself is FleetModel's). */
  | { kind: 'supervised' };

/** Null for an event that says nothing of the output, or a play its board did not measure. */
export function soundFact(e: Json): SoundFact | null {
  switch (e.type) {
    case 'play.finished':
    case 'play.interrupted': {
      const o = obj(e.output);
      if (o?.measured !== true) return null;
      return { kind: 'measured', levelDb: num(o.levelDb), silentMs: Math.max(0, num(o.silentMs) ?? 0) };
    }
    case 'play.degraded':
      return { kind: 'degraded', reason: str(e.reason) ?? 'unknown' };
    case 'play.failed':
      return e.reason === 'no-output' ? { kind: 'no-output', priority: num(e.priority) } : null;
    case 'hw.fault':
    case 'hw.recovered':
      return e.component === 'output' ? { kind: 'supervised' } : null;
    default:
      return null;
  }
}
