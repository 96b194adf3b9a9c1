// The playout of a live session (contract v1.2 §8), as the sound card asks for it. Pure:
// the card's adapter calls pull() with the instant (system clock) at which the first
// frame it asks for will leave the output, and time comes in only that way.
//
// Packet p of the session (p = (t − t₀) / 20 ms + k for packet k of a chunk stamped t)
// plays at `origin + 20·p ms`, where origin = t₀ + latency on a synchronised box and
// arrival of the first chunk + latency on one that is not (it then plays in step with
// nothing but itself, and says so).
//
// Drift: a card's crystal runs some ppm off the system clock, so the frames it takes do
// not stay where the system clock says they should. Each pull compares the timeline
// position it is about to play with the position its instant asks for; more than 3/4 of
// a frame apart, one sample is repeated or skipped (at most one per pull: ≤ 2,000 ppm at
// a 10 ms pull, inaudible in speech), so the error stays under a frame (21 µs at 48 kHz).
// More than 1 ms apart (an underrun, a stalled process, a card that restarted): the
// position jumps, and the jump is counted.
//
// Decoding is just in time and strictly in order, as an Opus decoder needs: a packet
// that is not there when its turn comes (lost with its chunk, or late) is concealed by
// the decoder (Opus PLC) for up to MAX_PLC_PACKETS in a row, then silence; it is counted
// either way, and when it arrives after all it is dropped as late.
export const RATE = 48_000;
export const FRAMES_PER_PACKET = 960;
const FRAMES_PER_MS = RATE / 1000;
/**
 * libopus's encoder lookahead (2.5 + 4 ms, at any rate; the Ogg pre-skip): decoded sample j
 * was captured as sample j − 312. Played that much later than its packet's slot, so a
 * sound leaves the horn at its capture instant + latency, not 6.5 ms after.
 */
export const CODEC_DELAY_FRAMES = 312;
/**
 * A position this far off (1 ms) is not drift (a few samples a second at most) but a
 * discontinuity: the card underran or restarted, the process stalled. The position jumps
 * at once; one sample per pull would take seconds to catch up 10 ms.
 */
const RESYNC_FRAMES = 48;
/** PLC beyond this many packets in a row (100 ms) only smears noise: silence instead. */
export const MAX_PLC_PACKETS = 5;

export interface PacketDecoder {
  /** One 20 ms packet → 960 frames of s16 at 48 kHz mono. Throws on a packet it cannot read. */
  decode(packet: Buffer): Int16Array;
  /** 960 frames of concealment for a packet that did not come. */
  conceal(): Int16Array;
}

export interface TimelineStats {
  /** Packets that arrived after their turn to play. */
  latePackets: number;
  /** Ms of audio concealed (PLC or silence) after the first audio, before the end. */
  concealedMs: number;
  /** Packets that failed to decode (concealed instead). */
  undecodable: number;
  /** Samples repeated or skipped to follow the card's clock. */
  driftAdjusts: number;
  /** Position jumps (a stall or a card restart longer than a packet). */
  jumps: number;
  /** Largest |position error| in ms since the last reset of this figure. */
  maxClockErrMs: number;
}

export class LiveTimeline {
  private origin: number | null = null;
  private tFirst = 0;
  private readonly packets = new Map<number, Buffer>();
  private nextDecode = 0;
  private lastReceived = -1;
  private endIndex: number | null = null;
  private readonly recent = new Map<number, Int16Array>();
  private plcRun = 0;
  private firstReal: number | null = null;
  private pos: number | null = null;
  private gain = 1;
  firstAudioAt: number | null = null;
  readonly stats: TimelineStats = {
    latePackets: 0,
    concealedMs: 0,
    undecodable: 0,
    driftAdjusts: 0,
    jumps: 0,
    maxClockErrMs: 0,
  };

  constructor(
    private readonly latencyMs: number,
    private readonly decoder: PacketDecoder,
  ) {}

  /** Where packet 0 plays (system clock ms), once the first chunk came. */
  get originMs(): number | null {
    return this.origin;
  }

  setVolume(percent: number): void {
    this.gain = Math.max(0, Math.min(100, percent)) / 100;
  }

  /** A verified chunk. `arrivalMs` sets the origin of a box whose clock is not synchronised. */
  add(chunk: { t: number; packets: readonly Buffer[]; end: boolean }, arrivalMs: number, synced: boolean): number {
    if (this.origin === null) {
      this.tFirst = chunk.t;
      this.origin = (synced ? chunk.t : arrivalMs) + this.latencyMs;
    }
    const first = Math.round((chunk.t - this.tFirst) / 20);
    let late = 0;
    chunk.packets.forEach((pk, k) => {
      const p = first + k;
      if (p < this.nextDecode) late++;
      else this.packets.set(p, pk);
    });
    this.lastReceived = Math.max(this.lastReceived, first + chunk.packets.length - 1);
    if (chunk.end) this.endIndex = first + chunk.packets.length;
    this.stats.latePackets += late;
    return late;
  }

  /** The session's audio has all played (after its `end` chunk). */
  done(): boolean {
    return this.endIndex !== null && this.pos !== null && this.pos >= this.endIndex * FRAMES_PER_PACKET;
  }

  /** How far the audio received reaches beyond `atMs`, in ms (the jitter buffer's depth). */
  bufferMs(atMs: number): number {
    if (this.origin === null) return 0;
    return Math.max(0, this.origin + (this.lastReceived + 1) * 20 - atMs);
  }

  /** `frames` frames whose first leaves the output at `atMs` (system clock). */
  pull(frames: number, atMs: number): Int16Array {
    const out = new Int16Array(frames);
    if (this.origin === null) return out;
    const expected = (atMs - this.origin) * FRAMES_PER_MS + CODEC_DELAY_FRAMES;
    if (this.pos === null) this.pos = Math.round(expected);
    else {
      const err = this.pos - expected;
      // The error as found, before it is corrected: what the card would have played off.
      this.stats.maxClockErrMs = Math.max(this.stats.maxClockErrMs, Math.abs(err) / FRAMES_PER_MS);
      if (Math.abs(err) > RESYNC_FRAMES) {
        this.pos = Math.round(expected);
        this.stats.jumps++;
      } else if (err > 0.75) {
        this.pos -= 1;
        this.stats.driftAdjusts++;
      } else if (err < -0.75) {
        this.pos += 1;
        this.stats.driftAdjusts++;
      }
    }
    const g = this.gain;
    for (let i = 0; i < frames; i++) {
      const f = this.pos + i;
      if (f < 0) continue;
      const p = Math.floor(f / FRAMES_PER_PACKET);
      if (this.endIndex !== null && p >= this.endIndex) break;
      const pcm = this.pcmFor(p);
      if (!pcm) continue;
      if (this.firstAudioAt === null && this.firstReal !== null && p >= this.firstReal)
        this.firstAudioAt = atMs + i / FRAMES_PER_MS;
      const s = pcm[f - p * FRAMES_PER_PACKET]! * g;
      out[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : s;
    }
    this.pos += frames;
    return out;
  }

  resetClockErr(): number {
    const v = this.stats.maxClockErrMs;
    this.stats.maxClockErrMs = 0;
    return v;
  }

  /** The PCM of packet p, decoding (or concealing) every packet up to it in order; null before the first. */
  private pcmFor(p: number): Int16Array | null {
    const kept = this.recent.get(p);
    if (kept) return kept;
    if (p < this.nextDecode) return null; // behind what was decoded (a backwards jump): silence
    if (p - this.nextDecode > MAX_PLC_PACKETS) {
      // Far behind (the first chunk came late, or a jump forward): what lies between was
      // never played; decoding it all now would stall the card. Its packets are late.
      for (let q = this.nextDecode; q < p - 1; q++) if (this.packets.delete(q)) this.stats.latePackets++;
      this.nextDecode = p - 1;
    }
    let pcm: Int16Array | null = null;
    while (this.nextDecode <= p) pcm = this.decodeNext();
    return pcm;
  }

  private decodeNext(): Int16Array {
    const q = this.nextDecode++;
    const pk = this.packets.get(q);
    this.packets.delete(q);
    let pcm: Int16Array | null = null;
    if (pk) {
      try {
        pcm = this.decoder.decode(pk);
        this.plcRun = 0;
        this.firstReal ??= q;
      } catch {
        this.stats.undecodable++;
      }
    }
    if (!pcm) {
      // A hole in the stream (a chunk lost, or not here yet): conceal, and count it.
      if (this.firstReal !== null && (this.endIndex === null || q < this.endIndex)) this.stats.concealedMs += 20;
      pcm = this.plcRun++ < MAX_PLC_PACKETS ? this.decoder.conceal() : null;
    }
    const out = pcm ?? new Int16Array(FRAMES_PER_PACKET);
    this.recent.set(q, out);
    this.recent.delete(q - 2);
    return out;
  }
}
