// The volume in force on the box (docs/protocol.md §3 "Volume"): the master level (the
// `volume` command's, lowered to the safe level at every start), the profile (configured,
// or replaced by a signed `volume-profile` command and kept in the database), and the
// emergency level. domain/volume-policy.ts decides; this keeps the state, persists it,
// and says when the level in force changed (a window starts or ends, a command), so what
// plays follows at once and the heartbeat tells.
import type { Clock, TimerHandle } from '../adapters/clock.js';
import type { Logger } from '../log.js';
import {
  decideVolume,
  playerVolume,
  safeStartMaster,
  volumeProfileSchema,
  type VolumeDecision,
  type VolumeProfile,
} from '../domain/volume-policy.js';

/** Where the master and the commanded profile are persisted (adapters/meta-store.ts). */
export interface VolumeStore {
  volume(): number;
  setVolume(level: number): void;
  /** The profile a command set, as stored (JSON), or undefined: the configured one is in force. */
  volumeProfile(): string | undefined;
  setVolumeProfile(json: string | null): void;
}

export interface VolumeDeps {
  clock: Clock;
  log: Logger;
  store: VolumeStore;
  /** audio.maxVolume: percent of full scale that level 100 × item volume 100 gives. */
  maxVolume: number;
  safeLevel: number;
  emergencyLevel: number;
  /** The configured profile (the default); no windows when none is configured. */
  configured: VolumeProfile;
  /** The level in force for some class changed (a window boundary, a command). */
  onChange?: () => void;
}

export type ProfileSource = 'config' | 'command';

export class VolumeControl {
  private master: number;
  private safeStart: boolean;
  private profile: VolumeProfile;
  private source: ProfileSource = 'config';
  /** `issuedAt` (epoch ms) of the volume-profile command in force; a command older than it is refused `replay`. */
  private issuedAt: number | undefined;
  private timer: TimerHandle | undefined;
  private last = '';

  constructor(private readonly d: VolumeDeps) {
    const persisted = d.store.volume();
    ({ master: this.master, safeStart: this.safeStart } = safeStartMaster(persisted, d.safeLevel));
    if (this.safeStart)
      d.log.info(
        { persisted, safeLevel: d.safeLevel },
        `volume: safe start at ${this.master} (was ${persisted}); a volume command raises it again`,
      );
    this.profile = d.configured;
    const stored = d.store.volumeProfile();
    if (stored !== undefined) {
      const parsed = parseStored(stored);
      if (parsed) {
        this.issuedAt = parsed.issuedAt;
        if (parsed.profile) [this.profile, this.source] = [parsed.profile, 'command'];
      } else
        d.log.warn(
          { code: 'VOLUME_PROFILE', stored: stored.slice(0, 200) },
          'the stored volume profile is not valid any more: the configured one is in force',
        );
    }
  }

  /** Watch the window boundaries: re-checked at every local minute while the profile has windows. */
  start(): void {
    this.last = this.fingerprint();
    this.arm();
  }

  stop(): void {
    this.d.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The master level in force (the heartbeat's `volume`). */
  masterLevel(): number {
    return this.master;
  }

  /** The `volume` command: persisted, in force at once, and the safe start is over. */
  setMaster(level: number): void {
    this.d.store.setVolume(level);
    this.master = level;
    this.safeStart = false;
    this.changed();
  }

  /**
   * The `volume-profile` command: a profile, or null to go back to the configured one.
   * Commands can arrive out of order (QoS 1 redelivery, a broker's queue): one issued
   * before the one in force is refused (returns the `issuedAt` in force), so an older,
   * muting profile never replaces a newer one.
   */
  setProfile(
    profile: VolumeProfile | null,
    issuedAt?: number,
  ): { source: ProfileSource; profile: VolumeProfile } | { olderThan: string } {
    if (issuedAt !== undefined && this.issuedAt !== undefined && issuedAt < this.issuedAt)
      return { olderThan: new Date(this.issuedAt).toISOString() };
    if (issuedAt !== undefined) this.issuedAt = issuedAt;
    this.d.store.setVolumeProfile(
      this.issuedAt === undefined
        ? profile === null
          ? null
          : JSON.stringify(profile)
        : JSON.stringify({ v: 2, issuedAt: this.issuedAt, profile }),
    );
    [this.profile, this.source] = profile === null ? [this.d.configured, 'config'] : [profile, 'command'];
    this.stop();
    this.arm();
    this.changed();
    return { source: this.source, profile: this.profile };
  }

  profileInForce(): { source: ProfileSource; profile: VolumeProfile } {
    return { source: this.source, profile: this.profile };
  }

  decide(priority: number, now = this.d.clock.now()): VolumeDecision {
    return decideVolume({
      now,
      priority,
      master: this.master,
      safeStart: this.safeStart,
      profile: this.profile,
      emergencyLevel: this.d.emergencyLevel,
    });
  }

  /** What the player is given for an item, percent of full scale. */
  playerVolume(item: { priority: number; volume: number | undefined }): number {
    return playerVolume(this.decide(item.priority), item.volume, this.d.maxVolume);
  }

  private arm(): void {
    if (this.profile.windows.length === 0) return;
    // To the next whole minute (every zone's offset is whole minutes), plus a little.
    const now = this.d.clock.now();
    const wait = 60_000 - (now % 60_000) + 20;
    this.timer = this.d.clock.setTimeout(
      () => {
        this.timer = undefined;
        const f = this.fingerprint();
        if (f !== this.last) this.changed(f);
        this.arm();
      },
      wait,
      { unref: true },
    );
  }

  /** The decision for each class: a change of any of them is a change of the level in force. */
  private fingerprint(): string {
    const now = this.d.clock.now();
    return JSON.stringify([this.decide(50, now), this.decide(75, now)]);
  }

  private changed(f = this.fingerprint()): void {
    this.last = f;
    this.d.onChange?.();
  }
}

/** v2: `{v:2, issuedAt, profile|null}`; before it, the bare profile (no issuedAt known). */
function parseStored(json: string): { profile: VolumeProfile | null; issuedAt?: number } | null {
  try {
    const raw = JSON.parse(json) as { v?: unknown; issuedAt?: unknown; profile?: unknown };
    if (raw?.v === 2) {
      if (typeof raw.issuedAt !== 'number' || !Number.isFinite(raw.issuedAt)) return null;
      if (raw.profile === null) return { profile: null, issuedAt: raw.issuedAt };
      const r = volumeProfileSchema.safeParse(raw.profile);
      return r.success ? { profile: r.data, issuedAt: raw.issuedAt } : null;
    }
    const r = volumeProfileSchema.safeParse(raw);
    return r.success ? { profile: r.data } : null;
  } catch {
    return null;
  }
}
