// One module names every topic of the wire contract (docs/protocol.md §1 and the
// provisioning additions of §8) and the payload type it carries, so no other file
// builds a topic string by hand: the box (topicsFor, bindingsFor), the centre's tools
// (deviceTopic, groupTopic, fleetFilter, parseTopic) and the technician's tool
// (register, check) all build them here. contract/index.ts re-exports this
// module with the signing side for the tools outside the agent.
import type { Birth, Death, Heartbeat, SiteInfo } from './telemetry.js';
import type { EventEnvelope } from './events.js';
import { ID_RE } from './schedule-doc.js';
import type { Binding } from './verify.js';

export const DEFAULT_ROOT = 'loa/v1';

/** The leaves under `{root}/d/{id}/`: the box's own topics and provisioning's (§8). */
export const DEVICE_LEAVES = [
  'schedule',
  'cmd',
  'status',
  'heartbeat',
  'events',
  'cmd/result',
  'register',
  'check',
] as const;
export type DeviceLeaf = (typeof DEVICE_LEAVES)[number];
/** The leaves under `{root}/g/{group}/`: what the centre publishes to a group. */
export const GROUP_LEAVES = ['schedule', 'cmd'] as const;
export type GroupLeaf = (typeof GROUP_LEAVES)[number];

export interface TopicMap {
  deviceSchedule: string;
  groupSchedules: readonly string[];
  deviceCmd: string;
  groupCmds: readonly string[];
  status: string;
  heartbeat: string;
  events: string;
  cmdResult: string;
  /** Provisioning additions (§8), published by loa-provision, never by the agent. */
  register: string;
  check: string;
}

/**
 * The result of a command (§4), box → centre on `{root}/d/{id}/cmd/result`: exactly
 * one per command received, `result` when it ran, `error` (a code of §4) when not.
 */
export type CommandResult = { cmdId: string; ts: string } & (
  { ok: true; result: Record<string, unknown> } | { ok: false; error: { code: string; message: string } }
);

/** `{root}/d/{id}/register` (§8): the box's identity for the centre's inventory. */
export interface RegisterPayload {
  deviceId: string;
  groups: readonly string[];
  site: SiteInfo;
  agentVersion: string;
  /** sha256 hex of the device public key's DER SubjectPublicKeyInfo; null without a key. */
  keyFingerprint: string | null;
  /** "EC P-256" etc. */
  keyType: string | null;
  /** The client certificate in use, if any. */
  certificate: { subject: string; issuer: string; validTo: string } | null;
  /** The CSR, PEM, while it awaits signing (so the centre can sign it from here). */
  csr: string | null;
  ts: string;
}

export type CheckStatus = 'ok' | 'fail' | 'warn' | 'skip';

/** `{root}/d/{id}/check` (§8): the technician's checklist report. */
export interface CheckReport {
  deviceId: string | null;
  ts: string;
  passed: boolean;
  agentVersion: string;
  totalMs: number;
  checks: { name: string; ok: boolean; status: CheckStatus; detail: string; hint: string | null; ms: number }[];
}

/**
 * Payload types by topic, for publishers, with the QoS and retain flag the contract
 * fixes (§1, §8). `schedule` and `cmd` carry a compact JWS (contract.ts signDoc).
 */
export interface Outbound {
  schedule: { payload: string; qos: 1; retain: true };
  cmd: { payload: string; qos: 1; retain: false };
  status: { payload: Birth | Death; qos: 1; retain: true };
  heartbeat: { payload: Heartbeat; qos: 0; retain: true };
  events: { payload: EventEnvelope; qos: 1; retain: false };
  cmdResult: { payload: CommandResult; qos: 1; retain: false };
  register: { payload: RegisterPayload; qos: 1; retain: true };
  check: { payload: CheckReport; qos: 1; retain: true };
}

export const PUBLISH_OPTS = {
  schedule: { qos: 1, retain: true },
  cmd: { qos: 1, retain: false },
  status: { qos: 1, retain: true },
  heartbeat: { qos: 0, retain: true },
  events: { qos: 1, retain: false },
  cmdResult: { qos: 1, retain: false },
  register: { qos: 1, retain: true },
  check: { qos: 1, retain: true },
} as const satisfies { [K in keyof Outbound]: { qos: Outbound[K]['qos']; retain: Outbound[K]['retain'] } };

/** What publishTo needs of an MQTT client (mqtt.js MqttClient fits). */
export interface Publisher {
  publishAsync(topic: string, payload: string, opts: { qos: 0 | 1; retain: boolean }): Promise<unknown>;
}

/**
 * Publishes `payload` as the contract says for `kind`: JSON (a JWS as is), with the
 * kind's QoS and retain flag, so a publisher cannot put a heartbeat on QoS 1 or forget
 * to retain a registration.
 */
export function publishTo<K extends keyof Outbound>(
  client: Publisher,
  kind: K,
  topic: string,
  payload: Outbound[K]['payload'],
): Promise<unknown> {
  return client.publishAsync(
    topic,
    typeof payload === 'string' ? payload : JSON.stringify(payload),
    PUBLISH_OPTS[kind],
  );
}

export function deviceTopic(root: string, deviceId: string, leaf: DeviceLeaf): string {
  return `${root}/d/${deviceId}/${leaf}`;
}

export function groupTopic(root: string, group: string, leaf: GroupLeaf): string {
  return `${root}/g/${group}/${leaf}`;
}

/** `{root}/d/+/{leaf}`: one filter for the whole fleet. */
export function fleetFilter(root: string, leaf: DeviceLeaf): string {
  return `${root}/d/+/${leaf}`;
}

/** `{root}/d/{id}/#`: every topic of one box. */
export function deviceFilter(root: string, deviceId: string): string {
  return `${root}/d/${deviceId}/#`;
}

/** `{root}/d/#`: every topic of every box (the demo's centre prints them all). */
export function allDevicesFilter(root: string): string {
  return `${root}/d/#`;
}

/**
 * `$share/{group}/{filter}` (MQTT 5 shared subscription; Mosquitto 2, EMQX, HiveMQ and
 * VerneMQ also accept it from 3.1.1 clients): the broker hands each message to one of
 * the subscribers that share the group, so several instances split the load.
 */
export function sharedFilter(filter: string, share: string | undefined): string {
  return share ? `$share/${share}/${filter}` : filter;
}

export type ParsedTopic =
  { kind: 'device'; deviceId: string; leaf: DeviceLeaf } | { kind: 'group'; group: string; leaf: GroupLeaf };

/**
 * The device or group and the leaf of a contract topic under `root`, or undefined for
 * any other topic (another root, an id that is not an id, a leaf the contract lacks).
 */
export function parseTopic(root: string, topic: string): ParsedTopic | undefined {
  const prefix = `${root}/`;
  if (!topic.startsWith(prefix)) return undefined;
  const rest = topic.slice(prefix.length);
  const kind = rest.startsWith('d/') ? 'device' : rest.startsWith('g/') ? 'group' : undefined;
  if (!kind) return undefined;
  const tail = rest.slice(2);
  const slash = tail.indexOf('/');
  if (slash <= 0) return undefined;
  const name = tail.slice(0, slash);
  const leaf = tail.slice(slash + 1);
  if (!ID_RE.test(name)) return undefined;
  if (kind === 'device')
    return (DEVICE_LEAVES as readonly string[]).includes(leaf)
      ? { kind, deviceId: name, leaf: leaf as DeviceLeaf }
      : undefined;
  return (GROUP_LEAVES as readonly string[]).includes(leaf)
    ? { kind, group: name, leaf: leaf as GroupLeaf }
    : undefined;
}

/** The device id and leaf of `{root}/d/{id}/{leaf}`, or undefined for any other topic. */
export function parseDeviceTopic(root: string, topic: string): { deviceId: string; leaf: DeviceLeaf } | undefined {
  const t = parseTopic(root, topic);
  return t?.kind === 'device' ? { deviceId: t.deviceId, leaf: t.leaf } : undefined;
}

export function topicsFor(root: string, deviceId: string, groups: readonly string[]): TopicMap {
  const d = (leaf: DeviceLeaf) => deviceTopic(root, deviceId, leaf);
  return {
    deviceSchedule: d('schedule'),
    groupSchedules: groups.map((g) => groupTopic(root, g, 'schedule')),
    deviceCmd: d('cmd'),
    groupCmds: groups.map((g) => groupTopic(root, g, 'cmd')),
    status: d('status'),
    heartbeat: d('heartbeat'),
    events: d('events'),
    cmdResult: d('cmd/result'),
    register: d('register'),
    check: d('check'),
  };
}

/**
 * Which device or group each subscribed schedule or command topic stands for (contract
 * v1.1 §2.1: a document must list the topic's device or group in its `target`).
 */
export function bindingsFor(
  root: string,
  deviceId: string,
  groups: readonly string[],
  kind: GroupLeaf,
): Map<string, Binding> {
  const m = new Map<string, Binding>([[deviceTopic(root, deviceId, kind), { kind: 'device', name: deviceId }]]);
  for (const g of groups) m.set(groupTopic(root, g, kind), { kind: 'group', name: g });
  return m;
}
