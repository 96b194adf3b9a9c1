// What one simulated box of `noc simulate` says about itself: its options and the fleet's
// shared counters, and its birth (contract §5) and heartbeat (§6) built from its state,
// with the OTA fields of docs/ota.md. Pure apart from the clock and the random source
// it is given; SimBox (fleet-box.ts) holds the state, the connection and the commands.
import type { IClientOptions } from 'mqtt';
import type { KeyRing } from '../contract/verify.js';
import { buildBirth, buildHeartbeat, type Birth, type Heartbeat, type Playing } from '../contract/telemetry.js';

/** The OTA fields of a birth and heartbeat (docs/ota.md), until telemetry.ts carries them. */
export type UpdateState =
  | { trial: { version: string; previous: string; since: string } }
  | { pending: { version: string; state: string } }
  | null;

export interface SimCounters {
  connected: number;
  births: number;
  heartbeats: number;
  events: number;
  results: number;
  commands: number;
}

export function newCounters(): SimCounters {
  return { connected: 0, births: 0, heartbeats: 0, events: 0, results: 0, commands: 0 };
}

export interface SimBoxOptions {
  url: string;
  mqtt: IClientOptions;
  root: string;
  deviceId: string;
  groups: readonly string[];
  heartbeatMs: number;
  /** Mean time between simulated plays (exponential), 0 = never. */
  playEveryMs: number;
  sessionExpiryS: number;
  keys: KeyRing;
  counters: SimCounters;
  agentVersion: string;
  random?: () => number;
  /** Debian arch in the birth (OTA); default arm64. */
  arch?: string;
  /** What the new version does on trial: commit (default) or roll back (as if it exited at start). */
  updateOutcome?: (deviceId: string) => 'commit' | 'rollback';
  /** Simulated time of each update step (download+unpack, then the trial); default 1000 ms. */
  updateStepMs?: number;
}

/** What plays on a simulated box: the fields of its play.* events, since when, its end timer. */
export interface Play {
  fields: {
    itemId: string;
    docId: string | null;
    docVersion: number | null;
    occurrence: string;
    lateMs: number;
    source: 'file' | 'stream' | 'fm' | 'line';
    priority: number;
    cmdId?: string;
  };
  startedAt: number;
  timer: NodeJS.Timeout;
}

/** The state of a simulated box that its birth and heartbeat report. */
export interface ReportedState {
  bootId: string;
  bootedAt: number;
  epoch: string;
  version: string;
  updateState: UpdateState;
  play: Play | undefined;
  volume: number;
  outbox: number;
}

export function simBirth(
  o: SimBoxOptions,
  s: ReportedState,
  rnd: () => number,
): Birth & {
  arch: string;
  update: UpdateState;
} {
  const b = buildBirth({
    now: new Date(),
    bootId: s.bootId,
    epoch: s.epoch,
    agentVersion: s.version,
    deviceId: o.deviceId,
    groups: o.groups,
    site: {
      communeName: `Simulated ${o.deviceId}`,
      communeCode: '00000',
      lat: 10.77 + rnd() / 10,
      lon: 106.7 + rnd() / 10,
      installer: 'noc simulate',
    },
    schedule: [{ id: 'sim-daily', version: 1 }],
    heartbeatS: o.heartbeatMs / 1000,
  });
  return { ...b, arch: o.arch ?? 'arm64', update: s.updateState };
}

export function simHeartbeat(s: ReportedState, r: () => number): Heartbeat & { update: UpdateState } {
  const p = s.play;
  const playing: Playing | null = p
    ? {
        itemId: p.fields.itemId,
        docId: p.fields.docId,
        source: p.fields.source,
        startedAt: new Date(p.startedAt).toISOString(),
        priority: p.fields.priority,
      }
    : null;
  const hb = buildHeartbeat({
    now: new Date(),
    bootId: s.bootId,
    uptimeS: (Date.now() - s.bootedAt) / 1000,
    sys: {
      cpuTempC: Math.round((45 + r() * 15) * 10) / 10,
      load1: Math.round(r() * 50) / 100,
      memFreeMB: 1500 + Math.floor(r() * 300),
      diskFreeMB: 10_000,
    },
    clockSynced: true,
    outbox: s.outbox,
    schedule: [{ id: 'sim-daily', version: 1 }],
    playing,
    volume: s.volume,
    amp: { on: p !== undefined, fault: false },
    fm: { freqMHz: 100, rssi: -60 - Math.floor(r() * 20) },
    cache: { bytes: 1_843_200, ready: 1, pending: 0, failed: 0 },
    net: { bearer: '4g', signal: -70 - Math.floor(r() * 20), operator: 'Viettel' },
    next: { itemId: 'sim-news', at: new Date(Date.now() + 3_600_000).toISOString() },
  });
  return { ...hb, update: s.updateState };
}
