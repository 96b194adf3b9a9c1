// What noc and loa-provision both need to know of MQTT itself: which CONNACK refusals
// mean "not this protocol version", so both fall back from MQTT 5 to 3.1.1 by one rule.
// (The rest of each tool's connection differs: noc/mqtt.ts, provisioning/broker.ts.)

/** CONNACK return codes that mean "not this protocol version": 1 (MQTT 3.1.1), 132 (MQTT 5). */
export function refusedVersion(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 1 || code === 132;
}
