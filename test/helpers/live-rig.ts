// What the live-broadcast tests and the bench share (contract v1.2 §8): a Mosquitto, box
// processes whose paced stand-in card records what it plays (audio.recordDir), the command
// and live keys as the operator's PEM files, a WAV of marker clicks, and the reading of a
// box's recording into wall-clock instants.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, type TestBroker } from './broker.js';
import { makeKey, type TestKey } from './signer.js';
import { spawnAgent, writeConfig, type AgentProcess } from './agent-process.js';
import { boxConfig } from './box.js';
import { tempDir } from './tmp.js';
import { Watcher } from './watcher.js';
import { startStallProxy, type StallProxy } from './stall-proxy.js';
import { wavHeader } from '../../agent/adapters/pcm-output.js';

export const RATE = 48_000;
/** Click instants (samples) of a source: 0.5 s in, then every `everyS`. */
export function clickTimes(count: number, everyS: number): number[] {
  return Array.from({ length: count }, (_, k) => Math.round((0.5 + everyS * k) * RATE));
}

export function clicksWav(path: string, seconds: number, clicks: readonly number[]): void {
  const pcm = new Int16Array(seconds * RATE);
  for (const at of clicks)
    for (let i = 0; i < 96; i++) pcm[at + i] = Math.round(24000 * Math.sin((2 * Math.PI * 3000 * i) / RATE));
  writeFileSync(path, Buffer.concat([wavHeader(pcm.byteLength), Buffer.from(pcm.buffer)]));
}

/** Onsets (sample index) of bursts above `thr`, at least 0.3 s apart. */
export function onsets(pcm: Int16Array, thr = 6000): number[] {
  const out: number[] = [];
  for (let i = 0; i < pcm.length; i++)
    if (Math.abs(pcm[i]!) >= thr && (out.length === 0 || i - out[out.length - 1]! > 0.3 * RATE)) out.push(i);
  return out;
}

export function readRecording(dir: string): {
  pcm: Int16Array;
  meta: { firstSampleMs: number; cardRateHz: number; xruns?: number };
} {
  const wav = readdirSync(dir).find((f) => f.endsWith('.wav'));
  assert.ok(wav, `a recording in ${dir}`);
  const b = readFileSync(join(dir, wav));
  const pcm = new Int16Array(b.buffer.slice(b.byteOffset + 44, b.byteOffset + b.length));
  const meta = JSON.parse(readFileSync(join(dir, wav.replace(/\.wav$/, '.json')), 'utf8')) as {
    firstSampleMs: number;
    cardRateHz: number;
    xruns?: number;
  };
  return { pcm, meta };
}

export interface LiveRig {
  broker: TestBroker;
  dir: string;
  cmdKey: TestKey;
  liveKey: TestKey;
  boxes: { id: string; proc: AgentProcess; rec: string }[];
  watcher: Watcher;
  keyFiles: { cmd: string; live: string };
  proxies: Map<string, StallProxy>;
  close(): Promise<void>;
}

/**
 * Boxes `ids` on one broker, clocks synchronised (systemd-timesyncd's file). `over[id]`
 * adds to a box's `audio` configuration and its environment; a box in `stalled` reaches the broker
 * through a StallProxy (rig.proxies).
 */
export async function liveRig(
  ids: string[],
  over: Record<string, { audio?: Record<string, unknown>; env?: NodeJS.ProcessEnv }> = {},
  stalled: string[] = [],
): Promise<LiveRig> {
  const broker = await startBroker();
  const proxies = new Map<string, StallProxy>();
  for (const id of stalled) proxies.set(id, await startStallProxy(broker.port));
  const dir = tempDir('live');
  const cmdKey = makeKey('centre-cmd');
  const liveKey = makeKey('studio-live');
  const keyFiles = { cmd: join(dir, 'centre-cmd.key.pem'), live: join(dir, 'studio-live.key.pem') };
  writeFileSync(keyFiles.cmd, cmdKey.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  writeFileSync(keyFiles.live, liveKey.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  const watcher = await Watcher.connect(broker.url, ['loa/v1/#']);
  const boxes = ids.map((id) => {
    const bdir = join(dir, id);
    const runRoot = join(bdir, 'run');
    mkdirSync(join(runRoot, 'systemd/timesync'), { recursive: true });
    writeFileSync(join(runRoot, 'systemd/timesync/synchronized'), '');
    const rec = join(bdir, 'rec');
    const o = over[id] ?? {};
    const cfg = boxConfig(broker, cmdKey, id, bdir, {
      groups: ['c26734'],
      trustedKeys: [
        { kid: cmdKey.kid, publicKey: cmdKey.publicKey, roles: ['command'] },
        { kid: liveKey.kid, publicKey: liveKey.publicKey, roles: ['live'] },
      ],
      audio: { player: 'stand-in', recordDir: rec, ...(o.audio as object | undefined) },
      ...(proxies.has(id)
        ? { mqtt: { ...(boxConfig(broker, cmdKey, id, bdir).mqtt as object), url: proxies.get(id)!.url } }
        : {}),
      clock: { sources: ['timesyncd'], runRoot },
      log: { level: 'info' },
    });
    return { id, proc: spawnAgent(['--config', writeConfig(bdir, cfg)], o.env ?? {}), rec };
  });
  for (const b of boxes)
    await watcher.waitFor(
      (m) => m.topic === `loa/v1/d/${b.id}/status` && m.json().online === true,
      30_000,
      `${b.id} birth`,
    );
  return {
    broker,
    dir,
    cmdKey,
    liveKey,
    boxes,
    watcher,
    keyFiles,
    proxies,
    async close() {
      await Promise.all(boxes.map((b) => b.proc.term()));
      await watcher.close();
      for (const p of proxies.values()) await p.close();
      await broker.stop();
    },
  };
}

export const events = (w: Watcher, id: string, type: string) =>
  w.messages.filter((m) => m.topic === `loa/v1/d/${id}/events` && m.json().type === type).map((m) => m.json());

/**
 * `noc live` arguments for the rig: to `to` (a device id, or the rig's group c26734), the
 * rig's keys (`liveKey`: another PEM to sign the chunks, e.g. one without the role), the
 * file, the latency, recorded in the rig's archive, then `extra`.
 */
export function liveArgs(
  r: LiveRig,
  o: { file: string; latencyMs: number; device?: string; liveKey?: string; extra?: string[] },
): string[] {
  return [
    'live',
    '--broker',
    r.broker.url,
    ...(o.device !== undefined ? ['--device', o.device] : ['--group', 'c26734']),
    '--key',
    r.keyFiles.cmd,
    '--live-key',
    o.liveKey ?? r.keyFiles.live,
    '--file',
    o.file,
    '--latency',
    String(o.latencyMs),
    '--record',
    join(r.dir, 'archive'),
    ...(o.extra ?? []),
  ];
}
