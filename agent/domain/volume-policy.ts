// Volume safety (docs/protocol.md §3 "Volume"): which level content plays at, and why.
// Pure: the time, the master level, the profile and the priority come in; a decision
// comes out. The runtime (runtime/volume.ts) keeps the state and applies it.
//
// The rules, as public-address and multi-room products have them:
// - a profile of daily time windows (local time in the profile's zone) caps the level of
//   normal (priority < 75) and priority (75–99) content, e.g. quiet hours 21:30–06:00:
//   normal ≤ 30, priority ≤ 60. Overlapping windows: the lowest cap wins;
// - emergency content (priority 100) plays at its own fixed level, whatever the master,
//   the profile or the safe start say (a voice-alarm system's evacuation message is not
//   turned down by the zone's volume knob either);
// - after a restart the master in force is min(persisted master, safeLevel) until a new
//   `volume` command: a reset box never comes back louder than it was, nor at full
//   volume at 3 a.m. because a power cut reset it.
// Levels are percent of `audio.maxVolume`, like the master volume and an item's volume.
import {
  EMERGENCY_PRIORITY,
  PRIORITY_CLASS_MIN,
  type VolumeDecision,
  type VolumeProfile,
  type VolumeWindow,
} from '../../contract/volume-profile.js';
import { offsetAt } from './occurrences.js';

export {
  PRIORITY_CLASS_MIN,
  EMERGENCY_PRIORITY,
  DEFAULT_PROFILE_TIMEZONE,
  volumeWindowSchema,
  volumeProfileSchema,
  type VolumeWindow,
  type VolumeProfile,
  type VolumeReason,
  type VolumeDecision,
} from '../../contract/volume-profile.js';

export interface VolumeInputs {
  now: number;
  priority: number;
  /** The master level in force (after the safe start). */
  master: number;
  /** True while the master in force is the safe level a restart lowered it to. */
  safeStart: boolean;
  profile: VolumeProfile;
  emergencyLevel: number;
}

const minuteOf = (hm: string) => Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3, 5));

/** Minute of the local day (0–1439) at instant `t` in zone `tz`. */
export function localMinute(tz: string, t: number): number {
  const local = t + offsetAt(tz, t);
  return Math.floor((((local % 86_400_000) + 86_400_000) % 86_400_000) / 60_000);
}

/** Whether local minute `m` is inside the window: [from, to), across midnight when to < from. */
export function inWindow(w: Pick<VolumeWindow, 'from' | 'to'>, m: number): boolean {
  const from = minuteOf(w.from);
  const to = minuteOf(w.to);
  return from < to ? m >= from && m < to : m >= from || m < to;
}

/** The windows in force at `now`, the lowest cap for the class first. */
export function activeWindows(profile: VolumeProfile, now: number): VolumeWindow[] {
  if (profile.windows.length === 0) return [];
  const m = localMinute(profile.timezone, now);
  return profile.windows.filter((w) => inWindow(w, m));
}

export function decideVolume(i: VolumeInputs): VolumeDecision {
  if (i.priority >= EMERGENCY_PRIORITY) return { level: i.emergencyLevel, reason: 'emergency' };
  const capOf = (w: VolumeWindow) => (i.priority >= PRIORITY_CLASS_MIN ? w.priority : w.normal);
  let win: VolumeWindow | undefined;
  for (const w of activeWindows(i.profile, i.now)) if (!win || capOf(w) < capOf(win)) win = w;
  const masterReason = i.safeStart ? 'safe-start' : 'master';
  if (!win) return { level: i.master, reason: masterReason };
  const cap = capOf(win);
  if (cap < i.master) return { level: cap, reason: 'quiet-hours', cap, window: win.name };
  return { level: i.master, reason: masterReason, cap, window: win.name };
}

/** The master in force after a start: never louder than before, never above the safe level. */
export function safeStartMaster(persisted: number, safeLevel: number): { master: number; safeStart: boolean } {
  return persisted > safeLevel ? { master: safeLevel, safeStart: true } : { master: persisted, safeStart: false };
}

/**
 * What the player is given, percent of full scale: the decision's level × the item's own
 * volume × audio.maxVolume; an emergency ignores the item's volume too (its level is fixed).
 */
export function playerVolume(d: VolumeDecision, itemVolume: number | undefined, maxVolume: number): number {
  const item = d.reason === 'emergency' ? 100 : (itemVolume ?? 100);
  return (d.level / 100) * (item / 100) * maxVolume;
}
