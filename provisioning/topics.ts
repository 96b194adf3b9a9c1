// The two topics provisioning ADDS to the wire contract (shared contract §1), next to
// the ones the agent uses (agent/domain/topics.ts), with their payload types. Both are
// box → centre, QoS 1, retained, published by the technician's tool (client id
// `<deviceId>.provision`), never by the agent:
//
// | `{root}/d/{id}/register` | the box's identity and site when it was installed |
// | `{root}/d/{id}/check`    | the latest on-site self-test report              |
import { topicsFor } from '../agent/domain/topics.js';
import type { SiteInfo } from '../agent/domain/telemetry.js';
import type { CheckReport } from './report.js';

export interface RegisterPayload {
  deviceId: string;
  groups: readonly string[];
  site: SiteInfo;
  agentVersion: string;
  /** sha256 hex of the device public key's DER SubjectPublicKeyInfo (keys.ts); null without a key. */
  keyFingerprint: string | null;
  /** "EC P-256" etc. */
  keyType: string | null;
  /** The client certificate in use, if any. */
  certificate: { subject: string; issuer: string; validTo: string } | null;
  /** The CSR, PEM, while it awaits signing (so the centre can sign it from here). */
  csr: string | null;
  ts: string;
}

export type CheckPayload = CheckReport;

export function provisioningTopics(root: string, deviceId: string) {
  const t = topicsFor(root, deviceId, []);
  return {
    status: t.status,
    heartbeat: t.heartbeat,
    register: `${root}/d/${deviceId}/register`,
    check: `${root}/d/${deviceId}/check`,
  };
}

export const RETAINED_QOS1 = { qos: 1, retain: true } as const;
