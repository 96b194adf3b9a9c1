// What the tests of a box as its own process share: a config on a real broker with the
// simulated board and the stand-in player, a signed command, and a one-shot publish.
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { mqtt } from '../../cli-kit/mqtt-lib.js';
import type { TestBroker } from './broker.js';
import type { TestKey } from './signer.js';

/** A box config for `writeConfig`: quiet logs, short warm-up, 5 s heartbeat. */
export function boxConfig(
  broker: TestBroker,
  key: Pick<TestKey, 'kid' | 'publicKey'>,
  deviceId: string,
  dir: string,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    deviceId,
    groups: ['c26734'],
    mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1', reconnect: { minS: 1, maxS: 2 } },
    trustedKeys: [{ kid: key.kid, publicKey: key.publicKey }],
    stateDir: join(dir, 'state'),
    cacheDir: join(dir, 'cache'),
    heartbeatS: 5,
    hardware: { ampWarmUpMs: 300, ampHoldMs: 100 },
    audio: { player: 'stand-in' },
    log: { level: 'warn' },
    ...over,
  };
}

/** A command document for one device, valid for `ttlMs` (issued a second ago). */
export function commandDoc(
  deviceId: string,
  action: string,
  args: Record<string, unknown> = {},
  ttlMs = 600_000,
): Record<string, unknown> & { id: string } {
  return {
    type: 'command',
    id: randomUUID(),
    issuedAt: new Date(Date.now() - 1000).toISOString(),
    expiresAt: new Date(Date.now() + ttlMs).toISOString(),
    target: { devices: [deviceId] },
    action,
    args,
  };
}

/** Publish one message at QoS 1 from a client of its own. */
export async function publishOnce(url: string, topic: string, payload: string | Buffer, retain = false): Promise<void> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 4 });
  await c.publishAsync(topic, payload, { qos: 1, retain });
  await c.endAsync();
}
