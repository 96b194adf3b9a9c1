// One live session from the centre's side (contract v1.2 §8), whatever the voice comes
// from (`noc live`: a file or ALSA; `noc studio`: a phone's microphone): the signed `live`
// command per target, the boxes that answer `listening` (or refuse, and why), 20 ms frames
// encoded as Opus and published in signed chunks stamped with their capture instant, the
// last chunk marked `end`, and the record: Ogg Opus and a JSON sidecar (who, when, to
// whom, who listened).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { OpusEncoder } from '../cli-kit/opus.js';
import { signDoc, type SigningKey } from '../contract/index.js';
import { LIVE_TYP } from '../contract/verify.js';
import { fleetFilter, parseDeviceTopic } from '../contract/topics.js';
import { DEFAULT_COMMAND_TTL_S } from './docs.js';
import type { Io } from './io.js';
import { OggOpusWriter } from './ogg-opus.js';
import { bindingOf, topicFor, type Target } from './publish.js';
import { prepareDoc, signPrepared } from './sign.js';

export const PACKET_MS = 20;

/** A session id that sorts by time and says when it began: live-20261207-013000-a1b2c3. */
export function newSessionId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15).toLowerCase();
  return `live-${stamp}-${randomBytes(3).toString('hex')}`;
}

export interface BroadcastOptions {
  root: string;
  targets: Target[];
  sessionId: string;
  commandKey: SigningKey;
  liveKey: SigningKey;
  rate: 48_000 | 16_000;
  bitrate: number;
  chunkPackets: number;
  recordDir: string;
  operator: string;
  /** The `live` command's args beside sessionId, kid, codec, sampleRate and channels. */
  args: { priority: number; latencyMs: number; maxDurationS: number; volume?: number };
  /** Where each box's answer is told (one line each). */
  say: (line: string) => void;
}

export interface BoxAnswer {
  state: string;
  synced?: boolean;
}

export class Broadcast {
  readonly listening = new Map<string, BoxAnswer>();
  readonly refused = new Map<string, string>();
  private commands: { to: Target; cmdId: string; jws: string }[] = [];
  private readonly enc: OpusEncoder;
  private ogg: OggOpusWriter | null = null;
  private readonly topic: string;
  private n = 0;
  private packets: Buffer[] = [];
  private chunkT = 0;
  private firstT: number | null = null;
  private nextT = 0;
  private sentBytes = 0;
  private frames = 0;
  private recent: number[] = [];
  private startedAt = new Date();
  private ended: Record<string, unknown> | null = null;
  private listener: ((topic: string, payload: Buffer) => void) | null = null;

  constructor(
    private readonly client: MqttClient,
    private readonly o: BroadcastOptions,
  ) {
    this.enc = new OpusEncoder(o.rate, o.bitrate);
    this.topic = `${o.root}/live/${o.sessionId}`;
  }

  get frameSize(): number {
    return this.enc.frame;
  }

  /** Sign the `live` commands, listen for the answers, publish the commands, open the record. */
  async open(io: Io): Promise<void> {
    const o = this.o;
    const args = {
      sessionId: o.sessionId,
      kid: o.liveKey.kid,
      codec: 'opus',
      sampleRate: o.rate,
      channels: 1,
      ...o.args,
    };
    this.commands = await Promise.all(
      o.targets.map(async (to) => {
        const raw = {
          type: 'command',
          target: to.device !== undefined ? { devices: [to.device] } : { groups: [to.group] },
          action: 'live',
          args,
        };
        const prepared = prepareDoc(raw, 'live command', io, {
          now: Date.now(),
          ttlS: DEFAULT_COMMAND_TTL_S,
          binding: bindingOf(to),
        });
        return { to, cmdId: String(prepared.doc.id), jws: await signPrepared(prepared, o.commandKey) };
      }),
    );
    const ids = new Set(this.commands.map((c) => c.cmdId));
    this.listener = (topic: string, payload: Buffer) => this.onResult(ids, topic, payload);
    this.client.on('message', this.listener);
    await this.client.subscribeAsync([fleetFilter(o.root, 'cmd/result')], { qos: 1 });
    for (const c of this.commands) await this.client.publishAsync(topicFor(o.root, c.to, 'cmd'), c.jws, { qos: 1 });
    this.startedAt = new Date();
    this.ogg = new OggOpusWriter(join(o.recordDir, `${o.sessionId}.opus`), o.rate, {
      title: `loa live ${o.sessionId}`,
      artist: o.operator,
      date: this.startedAt.toISOString(),
      loa_session: o.sessionId,
      loa_targets: o.targets.map((t) => t.device ?? `g:${t.group}`).join(' '),
    });
  }

  private onResult(ids: Set<string>, topic: string, payload: Buffer): void {
    const where = parseDeviceTopic(this.o.root, topic);
    if (where?.leaf !== 'cmd/result') return;
    try {
      const r = JSON.parse(payload.toString('utf8')) as {
        cmdId?: string;
        ok?: boolean;
        result?: { state?: string; synced?: boolean };
        error?: { code?: string; message?: string };
      };
      if (!r.cmdId || !ids.has(r.cmdId)) return;
      if (r.ok) {
        this.listening.set(where.deviceId, { state: r.result?.state ?? '?', synced: r.result?.synced });
        const unsynced = r.result?.synced === false ? ' (clock NOT synchronised: plays at arrival + latency)' : '';
        this.o.say(`${where.deviceId}: ${r.result?.state ?? 'ok'}${unsynced}`);
      } else {
        this.refused.set(where.deviceId, `${r.error?.code}: ${r.error?.message}`);
        this.o.say(`${where.deviceId}: refused ${r.error?.code}: ${r.error?.message}`);
      }
    } catch {
      /* not a result */
    }
  }

  /** One 20 ms frame (`frameSize` samples) whose first sample was captured at `t` (epoch ms). */
  frame(pcm: Int16Array, t: number): void {
    if (this.ended) return;
    if (this.packets.length === 0) this.chunkT = t;
    this.firstT ??= t;
    this.packets.push(this.enc.encode(pcm));
    this.frames++;
    let s = 0;
    for (const x of pcm) s += x * x;
    this.recent.push(s / pcm.length);
    if (this.recent.length > 10) this.recent.shift();
    if (this.packets.length >= this.o.chunkPackets) this.publish(false);
  }

  /** The level of the last 200 ms, dBFS. */
  levelDb(): number {
    const ms = this.recent.reduce((a, x) => a + x, 0) / Math.max(1, this.recent.length);
    const rms = Math.sqrt(ms) / 32768;
    return rms > 0 ? 20 * Math.log10(rms) : -120;
  }

  get seconds(): number {
    return (this.frames * PACKET_MS) / 1000;
  }

  private publish(end: boolean): void {
    if (this.packets.length === 0 && !end) return;
    if (this.packets.length === 0) {
      // An end needs a packet: 20 ms of silence, right after the audio before it.
      this.packets = [this.enc.encode(new Int16Array(this.enc.frame))];
      this.chunkT = this.nextT || Date.now();
    }
    this.nextT = this.chunkT + PACKET_MS * this.packets.length;
    const f = this.packets.map((p) => p.toString('base64url'));
    const payload = { s: this.o.sessionId, n: this.n++, t: this.chunkT, f, ...(end ? { end: true } : {}) };
    const jws = signDoc(payload, this.o.liveKey, LIVE_TYP);
    this.sentBytes += jws.length;
    this.client.publish(this.topic, jws, { qos: 0 });
    this.ogg?.write(this.packets);
    this.packets = [];
  }

  /** The last chunk (`end: true`), the record closed and written; what it says. Idempotent. */
  end(): Record<string, unknown> {
    if (this.ended) return this.ended;
    if (this.listener) this.client.off('message', this.listener);
    this.publish(true);
    this.enc.close();
    this.ogg?.close();
    const o = this.o;
    this.ended = {
      sessionId: o.sessionId,
      commands: this.commands.map((c) => ({ cmdId: c.cmdId, target: c.to })),
      operator: o.operator,
      kid: o.liveKey.kid,
      args: o.args,
      startedAt: this.startedAt.toISOString(),
      /** The capture instant of the first sample (chunk 0's t), ms since the epoch. */
      captureStartMs: this.firstT,
      endedAt: new Date().toISOString(),
      seconds: this.seconds,
      chunks: this.n,
      bytesPublished: this.sentBytes,
      listening: Object.fromEntries(this.listening),
      refused: Object.fromEntries(this.refused),
      audio: `${o.sessionId}.opus`,
    };
    writeFileSync(join(o.recordDir, `${o.sessionId}.json`), JSON.stringify(this.ended, null, 2) + '\n');
    return this.ended;
  }

  get bytesPublished(): number {
    return this.sentBytes;
  }
}
