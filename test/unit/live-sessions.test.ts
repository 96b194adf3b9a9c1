// LiveSessions (agent/runtime/live-session.ts) without a broker: a session closed once is
// never opened again in this run, whatever asks (a segment resumed after a stop, a replay).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { LiveSessions } from '../../agent/runtime/live-session.js';
import { createPacedPcmOutput } from '../../agent/adapters/pcm-output.js';
import { createLogger } from '../../agent/log.js';
import type { Link } from '../../agent/adapters/mqtt-link.js';
import { KeyRing } from '../../contract/verify.js';
import { ManualClock } from '../fakes/manual-clock.js';

function rig() {
  const clock = new ManualClock();
  const { publicKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x!;
  const listening = new Set<string>();
  const link = {
    listen(topic: string) {
      listening.add(topic);
      return () => listening.delete(topic);
    },
  } as unknown as Link;
  const events: { type: string; fields: Record<string, unknown> }[] = [];
  const sessions = new LiveSessions({
    clock,
    link,
    keys: new KeyRing([{ kid: 'studio', publicKey: x, roles: ['live'] }]),
    topicRoot: 'loa/v1',
    output: createPacedPcmOutput({ clock }),
    synced: () => true,
    events: { emit: (type: string, fields: Record<string, unknown>) => void events.push({ type, fields }) } as never,
    log: createLogger({ level: 'silent', pretty: false }),
    decoder: () => ({ decode: () => new Int16Array(960), conceal: () => new Int16Array(960) }) as never,
  });
  const source = {
    kind: 'live' as const,
    sessionId: 's-1',
    kid: 'studio',
    latencyMs: 2500,
    cmdId: 'c-1',
    until: clock.now() + 60_000,
  };
  return { clock, sessions, listening, events, source };
}

test('a session stopped while it waited is not opened again: play() refuses, nothing is listened to, the reason is kept', () => {
  const { sessions, listening, events, source } = rig();
  sessions.register(source);
  assert.deepEqual([...listening], ['loa/v1/live/s-1']);
  sessions.closeFor('c-1');
  assert.equal(listening.size, 0);
  assert.equal(sessions.endedAs('s-1'), 'stopped');
  assert.equal(events.filter((e) => e.type === 'live.stats' && e.fields.reason === 'stopped').length, 1);
  assert.throws(() => sessions.play(source, 100), /live session s-1 is over \(stopped\)/);
  assert.equal(listening.size, 0, 'the closed session is not subscribed again');
  assert.equal(sessions.has('s-1'), true, 'and a new live command with its id is refused as a duplicate');
});

test('a session past its maxDurationS while it waited is over too', () => {
  const { clock, sessions, source } = rig();
  sessions.register(source);
  clock.advance(60_001);
  assert.equal(sessions.endedAs('s-1'), 'max-duration');
  assert.throws(() => sessions.play(source, 100), /is over/);
  assert.equal(sessions.endedAs('another'), undefined);
});
