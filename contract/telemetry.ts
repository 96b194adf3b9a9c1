// Birth, death and heartbeat payloads of docs/protocol.md §5 and §6, built as plain
// data from plain inputs. Fields that a later capability fills (playing, amp, fm,
// cache, net, next) are null until the agent really knows them: never invented.
import type { VolumeDecision } from './volume-profile.js';

/** Below this many MB free on the state disk, a box's disk is low (its selftest warns; the centre's exporter counts it). */
export const DISK_WARN_MB = 500;

/** The time services a box asks whether its clock is synchronised (docs/protocol.md §2.2). */
export const CLOCK_SOURCE_NAMES = ['timesyncd', 'chrony', 'kernel'] as const;
export type ClockSourceName = (typeof CLOCK_SOURCE_NAMES)[number];

/** The heartbeat's `clock` (contract v1.2 §2.2). */
export interface ClockReport {
  synced: boolean | null;
  source: ClockSourceName | 'none';
  lowerBound: string | null;
  behind: boolean;
  /**
   * How far the lower bound is ahead of the box's clock, s; absent when it is not ahead
   * (the heartbeat stays under 1 KiB: 13 bytes spent only when they say something).
   */
  aheadS?: number;
}

export interface SiteInfo {
  readonly communeName?: string;
  readonly communeCode?: string;
  readonly province?: string;
  readonly address?: string;
  readonly lat?: number;
  readonly lon?: number;
  readonly installer?: string;
  readonly installedAt?: string;
}

export interface DocRef {
  id: string;
  version: number;
}

export interface Birth {
  online: true;
  ts: string;
  bootId: string;
  epoch: string;
  agentVersion: string;
  deviceId: string;
  groups: readonly string[];
  site: SiteInfo;
  schedule: readonly DocRef[];
  /**
   * The periodic heartbeat interval in seconds (contract v1.1 §5): the centre calls the
   * box stale after three such periods without a heartbeat, whatever extra heartbeats
   * state changes add in between.
   */
  heartbeatS: number;
  /** Addition (docs/ota.md): the Debian architecture of the running release, for `noc rollout`. */
  arch?: string;
  /** Addition (docs/ota.md): a release on trial, or an update in progress; null otherwise. */
  update?: UpdateState;
}

/** A release on trial (not yet committed), or an update job in progress (docs/ota.md). */
export type UpdateState =
  | { trial: { version: string; previous: string; since: string } }
  | { pending: { version: string; state: string } }
  | null;

export interface Death {
  online: false;
  ts?: string;
  bootId: string;
  reason: 'lost' | 'shutdown';
}

export interface SysStats {
  cpuTempC: number | null;
  load1: number | null;
  memFreeMB: number | null;
  diskFreeMB: number | null;
}

export interface Playing {
  itemId: string;
  docId: string | null;
  source: string;
  startedAt: string;
  priority: number;
  /** Contract v1.2 §8: the live session playing. */
  sessionId?: string;
}

export type DeviceState = 'idle' | 'playing' | 'fault';

export interface Heartbeat {
  ts: string;
  bootId: string;
  uptimeS: number;
  state: DeviceState;
  playing: Playing | null;
  /** The master level in force (after the safe start of docs/protocol.md §3 "Volume"). */
  volume: number | null;
  /** Addition: the level in force for what plays (idle: for normal content) and why. */
  volumeWhy?: VolumeDecision;
  amp: { on: boolean; fault: boolean } | null;
  fm: { freqMHz: number; rssi: number | null } | null;
  cache: { bytes: number; ready: number; pending: number; failed: number } | null;
  /** Shed last when a heartbeat would be over 1 KiB (HEARTBEAT_MAX_BYTES). */
  sys?: SysStats;
  /** `synced` is contract v1.1's; `source`, `lowerBound` and `behind` are additions (docs/protocol.md §6, time without an RTC). */
  clock: { synced: boolean | null } & Partial<Omit<ClockReport, 'synced'>>;
  net?: { bearer: string | null; signal: number | null; operator: string | null } | null;
  schedule: readonly DocRef[];
  outbox: number;
  next: { itemId: string; at: string } | null;
  /** Addition: the IO board's serial link (mcu board only; absent otherwise). */
  mcu?: McuLink;
  /** Additions (docs/ota.md): the running version, and a trial or update in progress (null: none). */
  version?: string;
  update?: UpdateState;
}

/** Counters since the agent started: a degrading serial line shows as growing badFrames and timeouts. */
export interface McuLink {
  up: boolean;
  resets: number;
  badFrames: number;
  timeouts: number;
}

/** What the runtime knows right now; everything optional is reported as null. */
export interface HeartbeatInputs {
  now: Date;
  bootId: string;
  uptimeS: number;
  sys: SysStats;
  clockSynced: boolean | null;
  /** The clock watch's full report (runtime/clock-watch.ts); without it only `synced` is sent. */
  clock?: ClockReport;
  outbox: number;
  schedule?: readonly DocRef[];
  playing?: Playing | null;
  faults?: number;
  volume?: number | null;
  volumeWhy?: VolumeDecision;
  amp?: Heartbeat['amp'];
  fm?: Heartbeat['fm'];
  cache?: Heartbeat['cache'];
  net?: Heartbeat['net'];
  next?: Heartbeat['next'];
  mcu?: McuLink;
  version?: string;
  update?: UpdateState;
}

export function isoMs(d: Date): string {
  return d.toISOString();
}

/** What a birth says about the box, apart from the moment it is sent. */
export type BirthFacts = Omit<Birth, 'online' | 'ts'>;

export function buildBirth(i: BirthFacts & { now: Date }): Birth {
  return {
    online: true,
    ts: isoMs(i.now),
    bootId: i.bootId,
    epoch: i.epoch,
    agentVersion: i.agentVersion,
    deviceId: i.deviceId,
    groups: i.groups,
    site: i.site,
    schedule: i.schedule,
    heartbeatS: i.heartbeatS,
    ...(i.arch !== undefined ? { arch: i.arch } : {}),
    ...(i.update !== undefined ? { update: i.update } : {}),
  };
}

/** The last will carries no timestamp: the broker sends it at an unknown later time. */
export function buildWill(bootId: string): Death {
  return { online: false, bootId, reason: 'lost' };
}

export function buildShutdown(now: Date, bootId: string): Death {
  return { online: false, ts: isoMs(now), bootId, reason: 'shutdown' };
}

export function deviceState(i: Pick<HeartbeatInputs, 'playing' | 'faults'>): DeviceState {
  if ((i.faults ?? 0) > 0) return 'fault';
  return i.playing ? 'playing' : 'idle';
}

/** Contract §6: a heartbeat stays under 1 KiB (it is paid for by the byte on 4G). */
export const HEARTBEAT_MAX_BYTES = 1023;
/**
 * What goes first when a heartbeat would be over the budget (long ids, a bound years
 * ahead, every counter at its maximum): the explanations and additions before the
 * contract's own fields, the health figures the next heartbeat repeats last.
 */
const SHED: (keyof Heartbeat)[] = ['volumeWhy', 'mcu', 'net', 'sys'];

export function buildHeartbeat(i: HeartbeatInputs): Heartbeat {
  const hb = fullHeartbeat(i);
  for (const k of SHED) {
    if (Buffer.byteLength(JSON.stringify(hb)) <= HEARTBEAT_MAX_BYTES) break;
    delete hb[k];
  }
  return hb;
}

function fullHeartbeat(i: HeartbeatInputs): Heartbeat {
  return {
    ts: isoMs(i.now),
    bootId: i.bootId,
    uptimeS: Math.floor(i.uptimeS),
    state: deviceState(i),
    playing: i.playing ?? null,
    volume: i.volume ?? null,
    ...(i.volumeWhy ? { volumeWhy: i.volumeWhy } : {}),
    amp: i.amp ?? null,
    fm: i.fm ?? null,
    cache: i.cache ?? null,
    sys: i.sys,
    clock: i.clock ?? { synced: i.clockSynced },
    net: i.net ?? null,
    schedule: i.schedule ?? [],
    outbox: i.outbox,
    next: i.next ?? null,
    ...(i.mcu ? { mcu: i.mcu } : {}),
    ...(i.version !== undefined ? { version: i.version } : {}),
    ...(i.update !== undefined ? { update: i.update } : {}),
  };
}
