// What `noc exporter` reads out of a box's birth and heartbeat (contract §5, §6): the
// site of the birth and the heartbeat's numbers, each null where the box did not report
// it (an older agent, a board without an MCU). Pure: parsed JSON in, plain data out;
// exporter-model.ts keeps them per box.
import { num, str, type Json } from './watch-row.js';

export interface Site {
  commune: string;
  communeCode: string;
  province: string;
  lat: number | null;
  lon: number | null;
}

/** The heartbeat's numbers (contract §6), null where the box did not report them. */
export interface HbNumbers {
  ampOn: number | null;
  ampFault: number | null;
  fmRssi: number | null;
  fmFreqMHz: number | null;
  cacheReady: number | null;
  cacheFailed: number | null;
  cachePending: number | null;
  cacheBytes: number | null;
  outbox: number | null;
  diskFreeMB: number | null;
  memFreeMB: number | null;
  cpuTempC: number | null;
  load1: number | null;
  clockSynced: number | null;
  clockSource: string | null;
  /** Contract v1.2 §2.2: how far the box's lower bound is ahead of its clock, s (0 when the heartbeat has no aheadS); null from a box before v1.2. */
  clockAheadS: number | null;
  volume: number | null;
  /** The heartbeat's `volumeWhy` (docs/protocol.md §3 "Volume"): the level in force and why; null from a box without it. */
  volumeWhy: { level: number; reason: string } | null;
  netSignal: number | null;
  uptimeS: number | null;
  mcu: { up: number; resets: number; badFrames: number; timeouts: number } | null;
  playing: { itemId: string; docId: string; source: string; priority: number } | null;
}

export const flag = (v: unknown): number | null => (typeof v === 'boolean' ? (v ? 1 : 0) : null);
export const obj = (v: unknown): Json | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null);

export function siteOf(v: unknown): Site | null {
  const s = obj(v);
  if (!s) return null;
  return {
    commune: str(s.communeName) ?? '',
    communeCode: str(s.communeCode) ?? '',
    province: str(s.province) ?? '',
    lat: num(s.lat),
    lon: num(s.lon),
  };
}

export function hbNumbers(m: Json): HbNumbers {
  const amp = obj(m.amp);
  const fm = obj(m.fm);
  const cache = obj(m.cache);
  const sys = obj(m.sys);
  const clock = obj(m.clock);
  const net = obj(m.net);
  const mcu = obj(m.mcu);
  const p = obj(m.playing);
  const vw = obj(m.volumeWhy);
  const level = num(vw?.level);
  return {
    ampOn: flag(amp?.on),
    ampFault: flag(amp?.fault),
    fmRssi: num(fm?.rssi),
    fmFreqMHz: num(fm?.freqMHz),
    cacheReady: num(cache?.ready),
    cacheFailed: num(cache?.failed),
    cachePending: num(cache?.pending),
    cacheBytes: num(cache?.bytes),
    outbox: num(m.outbox),
    diskFreeMB: num(sys?.diskFreeMB),
    memFreeMB: num(sys?.memFreeMB),
    cpuTempC: num(sys?.cpuTempC),
    load1: num(sys?.load1),
    clockSynced: flag(clock?.synced),
    clockSource: str(clock?.source),
    clockAheadS: clock && 'behind' in clock ? (num(clock.aheadS) ?? 0) : null,
    volume: num(m.volume),
    volumeWhy: level !== null && str(vw?.reason) ? { level, reason: str(vw?.reason)! } : null,
    netSignal: num(net?.signal),
    uptimeS: num(m.uptimeS),
    mcu: mcu
      ? {
          up: flag(mcu.up) ?? 0,
          resets: num(mcu.resets) ?? 0,
          badFrames: num(mcu.badFrames) ?? 0,
          timeouts: num(mcu.timeouts) ?? 0,
        }
      : null,
    playing: p
      ? {
          itemId: String(p.itemId),
          docId: str(p.docId) ?? '',
          source: String(p.source),
          priority: num(p.priority) ?? 0,
        }
      : null,
  };
}
