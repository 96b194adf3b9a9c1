// Within one play segment, the decisions runtime/playback.ts asks of its sources and of
// the hardware. Pure.
//
// - Failover (contract §3): a stream that fails or goes silent inside its slot moves to
//   its next URL, then to the item's fallback; FM likewise to its fallback. Less than a
//   second of slot left is not worth a switch: the item fails instead.
// - The amplifier: proof of play for a relay (FM, line) is "input relay and amplifier
//   on", so an amplifier that is off plays nothing. Audio from the player into an
//   amplifier the board refused (HW_FAULT) sounds nowhere either; a board that merely
//   does not answer may well have it on, and the player's audio plays on.
import type { Source } from '../../contract/schedule-doc.js';
import type { PlaySource } from './occurrence.js';

/** A switch worth making is this far from the slot's end at least. */
export const MIN_FAILOVER_MS = 1000;

export function streamUrls(source: PlaySource): string[] {
  return source.kind === 'stream' ? (source.urls ?? (source.url ? [source.url] : [])) : [];
}

export type FailoverPlan =
  | { kind: 'failover'; source: Source; urlIndex: number; from: string; to: string }
  | { kind: 'fail'; reason: 'stream' | 'fm' | 'player' | 'live' };

/** `source` (at `urlIndex` for a stream) failed with `remainingMs` of its slot left: what now. */
export function planFailover(source: PlaySource, urlIndex: number, remainingMs: number): FailoverPlan {
  // A live session has nowhere else to go: the voice is in its chunks only.
  if (source.kind === 'live') return { kind: 'fail', reason: 'live' };
  const urls = streamUrls(source);
  const from = source.kind === 'stream' ? (urls[urlIndex] ?? 'stream') : source.kind;
  let next: { source: Source; urlIndex: number } | null = null;
  if (remainingMs > MIN_FAILOVER_MS) {
    if (source.kind === 'stream' && urlIndex + 1 < urls.length) next = { source, urlIndex: urlIndex + 1 };
    else if ((source.kind === 'stream' || source.kind === 'fm') && source.fallback)
      next = { source: source.fallback, urlIndex: -1 };
  }
  if (!next)
    return { kind: 'fail', reason: source.kind === 'stream' ? 'stream' : source.kind === 'fm' ? 'fm' : 'player' };
  const to = next.source.kind === 'stream' ? (urls[next.urlIndex] ?? 'stream') : `fallback:${next.source.kind}`;
  return { kind: 'failover', ...next, from, to };
}

export interface Refusal {
  reason: 'hardware';
  message: string;
}

/** A relay source, its input selected and the amplifier asked on: does it play? */
export function relayRefusal(hw: { amp: boolean }): Refusal | null {
  return hw.amp
    ? null
    : {
        reason: 'hardware',
        message: 'the amplifier is off: the board refused to switch it on or does not answer (see hw.fault)',
      };
}

/** The player's audio, the amplifier asked on: does it sound anywhere? */
export function audioRefusal(hw: { amp: boolean; ampFault: boolean }): Refusal | null {
  return !hw.amp && hw.ampFault
    ? { reason: 'hardware', message: 'the amplifier is off: the board refused to switch it on (see hw.fault amp)' }
    : null;
}
