// An attacker with publish rights on the broker and no signing key: a steady flood of
// unsigned messages on one topic, mixing what costs the box least (not a JWS) with what
// costs it most (a well-formed JWS naming a trusted kid, with a random signature).
// Shared by the flood tests and `npm run bench -- flood`.
import { randomBytes } from 'node:crypto';
import { mqtt } from '../../cli-kit/mqtt-lib.js';

export interface Flood {
  /** Messages handed to the socket so far. */
  readonly sent: number;
  /** Resolves when the flood has run its course (or was stopped). */
  readonly done: Promise<{ sent: number; ms: number }>;
  stop(): void;
}

const b64 = (x: string | Buffer) => Buffer.from(x).toString('base64url');

/** Payloads, in rotation: garbage, a forged JWS with a trusted kid, an unknown kid, an alg `none`. */
export function floodPayloads(kid: string): Buffer[] {
  const body = b64(JSON.stringify({ type: 'command', id: 'forged', action: 'stop', args: {} }));
  const forged = (header: object) => Buffer.from(`${b64(JSON.stringify(header))}.${body}.${b64(randomBytes(64))}`);
  return [
    Buffer.from('not a JWS at all ' + 'x'.repeat(100)),
    forged({ alg: 'EdDSA', kid, typ: 'loa-command+json' }),
    forged({ alg: 'EdDSA', kid: 'stranger', typ: 'loa-command+json' }),
    forged({ alg: 'none', kid, typ: 'loa-command+json' }),
  ];
}

export async function startFlood(
  url: string,
  topic: string,
  o: { ratePerS: number; durationMs: number; kid: string; qos?: 0 | 1 },
): Promise<Flood> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: `flood-${process.pid}-${Date.now()}` });
  const payloads = floodPayloads(o.kid);
  let sent = 0;
  let stopped = false;
  const t0 = performance.now();
  const tickMs = 10;
  const done = new Promise<{ sent: number; ms: number }>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - t0;
      if (stopped || elapsed >= o.durationMs) {
        void client.endAsync().then(() => resolve({ sent, ms: performance.now() - t0 }));
        return;
      }
      // Catch up to the rate: as many as the elapsed time allows.
      const due = Math.floor((elapsed / 1000) * o.ratePerS) - sent;
      for (let i = 0; i < due; i++) client.publish(topic, payloads[(sent + i) % payloads.length]!, { qos: o.qos ?? 0 });
      sent += Math.max(0, due);
      setTimeout(tick, tickMs);
    };
    tick();
  });
  return {
    get sent() {
      return sent;
    },
    done,
    stop() {
      stopped = true;
    },
  };
}
