// One module names every topic of the wire contract (shared contract §1) and the
// payload type it carries, so no other file builds a topic string by hand.
import type { Birth, Death, Heartbeat } from './telemetry.js';
import type { EventEnvelope } from './events.js';
import type { Binding } from './verify.js';

export interface TopicMap {
  deviceSchedule: string;
  groupSchedules: readonly string[];
  deviceCmd: string;
  groupCmds: readonly string[];
  status: string;
  heartbeat: string;
  events: string;
  cmdResult: string;
}

/** Payload types by topic, for publishers. QoS and retain are fixed by the contract. */
export interface Outbound {
  status: { payload: Birth | Death; qos: 1; retain: true };
  heartbeat: { payload: Heartbeat; qos: 0; retain: true };
  events: { payload: EventEnvelope; qos: 1; retain: false };
}

export const PUBLISH_OPTS = {
  status: { qos: 1, retain: true },
  heartbeat: { qos: 0, retain: true },
  events: { qos: 1, retain: false },
  cmdResult: { qos: 1, retain: false },
} as const;

export function topicsFor(root: string, deviceId: string, groups: readonly string[]): TopicMap {
  const d = `${root}/d/${deviceId}`;
  return {
    deviceSchedule: `${d}/schedule`,
    groupSchedules: groups.map((g) => `${root}/g/${g}/schedule`),
    deviceCmd: `${d}/cmd`,
    groupCmds: groups.map((g) => `${root}/g/${g}/cmd`),
    status: `${d}/status`,
    heartbeat: `${d}/heartbeat`,
    events: `${d}/events`,
    cmdResult: `${d}/cmd/result`,
  };
}

/**
 * Which device or group each subscribed schedule or command topic stands for (contract
 * v1.1 §2.1: a document must list the topic's device or group in its `target`).
 */
export function bindingsFor(root: string, deviceId: string, groups: readonly string[], kind: 'schedule' | 'cmd'): Map<string, Binding> {
  const m = new Map<string, Binding>([[`${root}/d/${deviceId}/${kind}`, { kind: 'device', name: deviceId }]]);
  for (const g of groups) m.set(`${root}/g/${g}/${kind}`, { kind: 'group', name: g });
  return m;
}
