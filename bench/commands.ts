// The emergency path, end to end: a signed `play` command (priority 100, a stream from a
// local HTTP server) published to Mosquitto -> the agent process (dist build, production
// V8 flags, mpg123 paced output, sim board, amplifier off before each try) -> audio out.
// "Audio out" is the instant the player reports its first decoded frame (the result's
// startedAt); both ends read the same wall clock.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { TestBroker } from '../test/helpers/broker.js';
import { Watcher } from '../test/helpers/watcher.js';
import { tempDir } from '../test/helpers/tmp.js';
import { makeTone } from '../test/helpers/audio.js';
import { makeKey, sign } from '../test/helpers/signer.js';
import { REPO_ROOT, writeConfig } from '../test/helpers/agent-process.js';
import { DEFAULT_ROOT, deviceTopic, deviceFilter } from '../contract/topics.js';
import { size } from './smoke.js';

type Add = (metric: string, value: string, target?: string, ok?: boolean) => void;
const TRIES = size(20, 3);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export async function benchEmergency(add: Add, broker: TestBroker): Promise<void> {
  const tone = readFileSync(makeTone({ seconds: 5 }));
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': tone.length });
    res.end(tone);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/alert.mp3`;
  const key = makeKey('bench-centre');
  const dir = tempDir('bench-cmd');
  const deviceId = 'bench-emergency';
  const cfg = writeConfig(dir, {
    deviceId,
    mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1' },
    trustedKeys: [{ kid: key.kid, publicKey: key.publicKey }],
    stateDir: join(dir, 'state'),
    cacheDir: join(dir, 'cache'),
    hardware: { ampWarmUpMs: 2000, ampHoldMs: 0 },
    audio: { player: 'mpg123', output: 'paced' },
  });
  const w = await Watcher.connect(broker.url, [deviceFilter(DEFAULT_ROOT, deviceId)]);
  const proc = spawn(
    process.execPath,
    ['--max-semi-space-size=1', '--v8-pool-size=1', join(REPO_ROOT, 'dist/agent/main.js'), '--config', cfg],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const pub = mqtt.connect(broker.url);
  try {
    await new Promise((r) => pub.once('connect', r));
    await w.waitFor((m) => m.topic.endsWith('/status') && m.json().online === true, 30_000, 'birth');
    const result = (id: string) =>
      w.waitUntil(
        () => w.messages.find((m) => m.topic.endsWith('/cmd/result') && m.json().cmdId === id)?.json(),
        20_000,
        `result ${id}`,
      );
    const cmd = (action: string, args: Record<string, unknown>) => ({
      type: 'command',
      id: randomUUID(),
      issuedAt: new Date(Date.now() - 1000).toISOString(),
      expiresAt: new Date(Date.now() + 120_000).toISOString(),
      target: { devices: [deviceId] },
      action,
      args,
    });
    const lat: number[] = [];
    for (let i = 0; i < TRIES; i++) {
      const play = cmd('play', { source: { kind: 'stream', url }, durationS: 60, priority: 100, volume: 100 });
      const jws = await sign(play, key, { typ: 'loa-command+json' });
      const t0 = Date.now();
      await pub.publishAsync(deviceTopic(DEFAULT_ROOT, deviceId, 'cmd'), jws, { qos: 1 });
      const r = (await result(play.id)) as unknown as { ok: boolean; result?: { startedAt: string } };
      if (!r.ok || !r.result) throw new Error(`emergency play failed: ${JSON.stringify(r)}`);
      lat.push(Date.parse(r.result.startedAt) - t0);
      const stop = cmd('stop', {});
      await pub.publishAsync(
        deviceTopic(DEFAULT_ROOT, deviceId, 'cmd'),
        await sign(stop, key, { typ: 'loa-command+json' }),
        { qos: 1 },
      );
      await result(stop.id);
      await new Promise((res) => setTimeout(res, 300)); // amplifier off (hold 0) before the next try
    }
    add(`emergency play command -> audio out, p50 (${TRIES} tries, amp cold)`, `${pct(lat, 50)} ms`, '', undefined);
    add(
      'emergency play command -> audio out, p99 / max',
      `${pct(lat, 99)} ms / ${Math.max(...lat)} ms`,
      '< 1000 ms',
      pct(lat, 99) < 1000,
    );
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    await pub.endAsync();
    await w.client.endAsync();
    server.close();
  }
}
