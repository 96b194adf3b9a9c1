// The volume profile a `volume-profile` command and the config carry (docs/protocol.md §3
// "Volume"), and the heartbeat's `volumeWhy`: the wire shapes only. What level content
// plays at is decided by the agent (agent/domain/volume-policy.ts).
import { z } from 'zod';
import { ID_RE, isValidTimezone } from './schedule-doc.js';

/** The priority classes of the national rules (contract §3): normal 50, priority 75, emergency 100. */
export const PRIORITY_CLASS_MIN = 75;
export const EMERGENCY_PRIORITY = 100;
export const DEFAULT_PROFILE_TIMEZONE = 'Asia/Ho_Chi_Minh';

const level = z.number('must be a number').min(0, 'must be 0 to 100').max(100, 'must be 0 to 100');
const hhmm = z
  .string('must be a string')
  .regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'must be a local time HH:MM (00:00 to 23:59)');

export const volumeWindowSchema = z
  .object({
    name: z.string('must be a string').regex(ID_RE, `must match ${ID_RE.source}`),
    /** Local time the window starts (inclusive), HH:MM. */
    from: hhmm,
    /** Local time it ends (exclusive); earlier than `from`: the window crosses midnight. */
    to: hhmm,
    /** Highest level of normal content (priority < 75) inside the window. */
    normal: level,
    /** Highest level of priority content (75–99) inside the window. */
    priority: level,
  })
  .refine((w) => w.from !== w.to, {
    message: 'from and to must differ (a window of no length, or of the whole day: use audio.maxVolume)',
    path: ['to'],
  });

export const volumeProfileSchema = z.object({
  timezone: z
    .string('must be a string')
    .max(64, 'is not an IANA time zone')
    .refine(isValidTimezone, 'is not an IANA time zone')
    .default(DEFAULT_PROFILE_TIMEZONE),
  windows: z.array(volumeWindowSchema, 'must be a list').max(24, 'must list at most 24 windows'),
});

export type VolumeWindow = z.output<typeof volumeWindowSchema>;
export type VolumeProfile = z.output<typeof volumeProfileSchema>;
export type VolumeReason = 'master' | 'quiet-hours' | 'safe-start' | 'emergency';

/** The level in force and why (the heartbeat's `volumeWhy`). */
export interface VolumeDecision {
  /** Percent of audio.maxVolume that content of this class plays at now (before the item's own volume). */
  level: number;
  reason: VolumeReason;
  /**
   * With `window`, only while a window is in force (never for an emergency): that window's
   * cap for this class. Absent rather than null, to keep the heartbeat under 1 KiB.
   */
  cap?: number;
  /** The window in force (the one with the lowest cap for this class). */
  window?: string;
}
