// The centre's view of the topics of shared contract §1. The box's own topic list is
// agent/domain/topics.ts; here are the centre's additions: group topics to publish
// to, wildcard filters for the whole fleet, and reading the device id back from a topic.
import { ID_RE } from '../agent/domain/schedule-doc.js';
import { UsageError } from './errors.js';

export type DeviceLeaf = 'schedule' | 'cmd' | 'status' | 'heartbeat' | 'events' | 'cmd/result';

export const DEFAULT_ROOT = 'loa/v1';

export function deviceTopic(root: string, deviceId: string, leaf: DeviceLeaf): string {
  return `${root}/d/${deviceId}/${leaf}`;
}

export function groupTopic(root: string, group: string, leaf: 'schedule' | 'cmd'): string {
  return `${root}/g/${group}/${leaf}`;
}

/** `{root}/d/+/{leaf}`: one filter for the whole fleet. */
export function fleetFilter(root: string, leaf: DeviceLeaf): string {
  return `${root}/d/+/${leaf}`;
}

/**
 * `$share/{group}/{filter}` (MQTT 5 shared subscription; Mosquitto 2, EMQX, HiveMQ and
 * VerneMQ also accept it from 3.1.1 clients): the broker hands each message to one of
 * the subscribers that share the group, so several instances split the load.
 */
export function shared(filter: string, share: string | undefined): string {
  return share ? `$share/${share}/${filter}` : filter;
}

/** The device id and leaf of `{root}/d/{id}/{leaf}`, or undefined for any other topic. */
export function parseDeviceTopic(root: string, topic: string): { deviceId: string; leaf: string } | undefined {
  const prefix = `${root}/d/`;
  if (!topic.startsWith(prefix)) return undefined;
  const rest = topic.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const deviceId = rest.slice(0, slash);
  return ID_RE.test(deviceId) ? { deviceId, leaf: rest.slice(slash + 1) } : undefined;
}

export function checkRoot(root: string): string {
  if (root === '' || /[#+]/.test(root) || root.startsWith('/') || root.endsWith('/') || root.startsWith('$')) {
    throw new UsageError(`--root "${root}" is not a topic prefix (no wildcards, no leading or trailing "/"), e.g. --root loa/v1`);
  }
  return root;
}

export function checkId(value: string, flag: string): string {
  if (!ID_RE.test(value)) throw new UsageError(`${flag} "${value}" is not a valid id (expected ${ID_RE.source}, e.g. vn-79-26734-01)`);
  return value;
}

export function checkShare(value: string | undefined): string | undefined {
  if (value !== undefined && !/^[^/#+]+$/.test(value)) throw new UsageError(`--share "${value}" must be a plain name without "/", "+" or "#", e.g. --share noc`);
  return value;
}
