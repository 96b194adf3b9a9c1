// The chunks of a live session (contract v1.2 §8), and the checks a box makes on each
// before any of its audio may play. Pure: no I/O, no clock (the caller gives `now`).
//
// A chunk is a JWS (header typ `loa-live+json`) signed by the session's key, which must
// hold the `live` role. Its payload: `s` the session id, `n` 0, 1, 2, … in the order the
// source sends, `t` the capture instant of its first sample (ms since the epoch, UTC),
// `f` its Opus packets (base64url, 20 ms each, 1 to 20 of them: 20–400 ms of audio), and
// `end: true` on the last. Order of checks, the first failure naming the drop:
//   form / signature / role (verify.ts), kid (the session's), session id, payload shape,
//   order (n only goes up: a replayed or reordered chunk is dropped), time (t agrees
//   with the audio before it).
//
// Time with chunks lost in between: consecutive chunks must meet within one packet
// (`t = t_prev + 20 ms × packets_prev`, ±20 ms). Across a gap of g missing chunks the
// audio they held is not known, so `t` must lie after the previous chunk's audio (−20 ms)
// and at most g × 400 ms (the longest chunk) + 20 ms beyond it.
import { KeyRing, LIVE_TYP, verifyJws } from './verify.js';

export const PACKET_MS = 20;
export const MAX_PACKETS_PER_CHUNK = 20;
/** The largest chunk a box reads: 20 packets of up to 1,275 bytes (Opus's limit), as base64url in JSON, signed. */
export const MAX_CHUNK_BYTES = 64 * 1024;

export interface LiveChunk {
  n: number;
  t: number;
  packets: Buffer[];
  end: boolean;
}

export type ChunkDrop = 'invalid' | 'signature' | 'key' | 'session' | 'order' | 'time';

export type ChunkVerdict = { ok: true; chunk: LiveChunk } | { ok: false; reason: ChunkDrop; message: string };

const B64URL = /^[A-Za-z0-9_-]+$/;

function drop(reason: ChunkDrop, message: string): ChunkVerdict {
  return { ok: false, reason, message };
}

/** The payload's shape, once its signature verified. */
export function parseChunkPayload(raw: unknown, sessionId: string): ChunkVerdict {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return drop('invalid', 'payload is not an object');
  const p = raw as Record<string, unknown>;
  if (p.s !== sessionId) return drop('session', `names session ${JSON.stringify(p.s)?.slice(0, 70)}, not ${sessionId}`);
  if (typeof p.n !== 'number' || !Number.isSafeInteger(p.n) || p.n < 0)
    return drop('invalid', 'n is not a whole number ≥ 0');
  if (typeof p.t !== 'number' || !Number.isFinite(p.t) || p.t <= 0) return drop('invalid', 't is not an instant (ms)');
  if (!Array.isArray(p.f) || p.f.length < 1 || p.f.length > MAX_PACKETS_PER_CHUNK)
    return drop('invalid', `f must hold 1 to ${MAX_PACKETS_PER_CHUNK} packets`);
  const packets: Buffer[] = [];
  for (const x of p.f) {
    if (typeof x !== 'string' || !B64URL.test(x) || x.length > 1700)
      return drop('invalid', 'a packet is not base64url');
    packets.push(Buffer.from(x, 'base64url'));
  }
  if (p.end !== undefined && typeof p.end !== 'boolean') return drop('invalid', 'end is not true or false');
  return { ok: true, chunk: { n: p.n, t: p.t, packets, end: p.end === true } };
}

/**
 * One session's chunk checks, in order. `accept` is called only on chunks that pass, so
 * the order and time rules compare with the last chunk that was genuine.
 *
 * Time is anchored, not chained: a consecutive chunk must start where the audio before
 * it ends by the session's own grid (t₀ + 20 ms × packets so far), ±20 ms, so chunks a
 * few ms late one after the other cannot creep. After lost chunks the grid continues from
 * the first chunk after them (rounded to a packet). `slot` is where the chunk's first
 * packet belongs on that grid, what the playout places it by.
 *
 * The first chunk of a session on a synchronised box must be stamped within `window` of
 * the box's clock (a replay of an old session's chunks under a reused id is refused).
 */
export class ChunkChecker {
  private last: { n: number; slot: number; packets: number } | null = null;

  constructor(
    private readonly keys: KeyRing,
    readonly sessionId: string,
    readonly kid: string,
  ) {}

  check(
    payload: Buffer | string,
    first?: { now: number; pastMs: number; aheadMs: number },
  ): ChunkVerdict & { slot?: number } {
    const v = verifyJws(payload, this.keys, LIVE_TYP, MAX_CHUNK_BYTES);
    if (!v.ok)
      return drop(v.reason === 'signature' ? 'signature' : v.reason === 'unknown-key' ? 'key' : 'invalid', v.message);
    if (v.kid !== this.kid) return drop('key', `signed by ${v.kid}, not by the session's key ${this.kid}`);
    const c = parseChunkPayload(v.raw, this.sessionId);
    if (!c.ok) return c;
    const { n, t, packets } = c.chunk;
    const last = this.last;
    let slot = t;
    if (last) {
      if (n <= last.n) return drop('order', `chunk ${n} after chunk ${last.n} (replayed or out of order)`);
      const after = last.slot + PACKET_MS * last.packets;
      const gap = n - last.n - 1;
      const ok =
        gap === 0
          ? Math.abs(t - after) <= PACKET_MS
          : t >= after - PACKET_MS && t <= after + gap * MAX_PACKETS_PER_CHUNK * PACKET_MS + PACKET_MS;
      if (!ok)
        return drop('time', `t ${t} does not follow the audio before it (${after} expected, chunk ${last.n} → ${n})`);
      slot = gap === 0 ? after : after + Math.max(0, Math.round((t - after) / PACKET_MS)) * PACKET_MS;
    } else if (first && (t < first.now - first.pastMs || t > first.now + first.aheadMs)) {
      return drop('time', `the first chunk is stamped ${Math.round((first.now - t) / 1000)} s from the box's clock`);
    }
    this.last = { n, slot, packets: packets.length };
    return { ...c, slot };
  }
}
