// The fleet table behind `noc watch`, as pure logic: feed it what arrives on
// {root}/d/+/status, /heartbeat and /events with the time it arrived, ask it for rows.
// No I/O and no clock of its own, so every rule below is unit-tested with exact times.
//
// Rules:
// - Online/offline (contract §5): a birth makes a box online and records its bootId; a
//   death counts only when its bootId is the latest birth's (or no boot is known), so
//   the late last will of an old connection never marks a live box offline. A live
//   (not retained) heartbeat also proves its boot is running: it sets the current boot,
//   and revives a box marked offline by the death of another boot. This covers a NOC
//   that starts after a late will overwrote the retained birth on the broker. A
//   retained heartbeat proves nothing of the kind (it may predate the death).
// - Stale: an online box from which nothing arrived for `staleFactor` (3) heartbeat
//   periods. The period is the `heartbeatS` its latest birth announces (contract v1.1
//   §5: the periodic interval from the box's config), else `defaultPeriodMs` (30 s, or
//   --period) for an older agent whose birth has none. It is never learned from the gaps
//   between heartbeats: a box also beats on every state change, so a playing box sends
//   several a second apart, and a period learned from those flagged it stale while it
//   played (7 s after its last beat against a "period" of 2.4 s).
// - A retained message may be old: it counts as seen at its own `ts` when that is
//   earlier than its arrival (never later: box clocks may run ahead).
// - Faults: per component/code, hw.fault minus hw.recovered events, never below zero.
//   Events are de-duplicated on (epoch, seq): the box's first sends of an epoch arrive
//   in increasing seq (docs/protocol.md §7), so anything at or below the highest seq
//   seen is a re-send.
// - What plays, by its human name (the heartbeat's `playing` is {itemId, docId, source,
//   startedAt, priority}): a schedule item (docId set) by its item id; a command play
//   (docId null, itemId = the command id) as "cmd 5b0c1d9e…"; a play whose play.* event
//   carried `capId` (the identifier of the command's or item's capRef, §7) as
//   "CAP <identifier>". The CAP event and headline are not on the wire (capRef is
//   {identifier, sender, sent, msgType}), so the identifier is the best name there is.
// - Blind: while the watcher has lost the broker (brokerLost .. brokerBack) nothing can
//   arrive, so presence is judged as of the loss (no box turns stale for our silence);
//   the ages keep counting from the last message and the table says they are stale.
// - Bounded per box (a rogue box must not cost the others): at most `maxFaults` (100)
//   distinct component/code keys are tracked, a new one beyond is dropped and counted
//   in `dropped.faults`; only the latest `maxEpochs` (8) epochs keep their highest seq
//   (an older epoch's re-send would count again). An event changes only the faults, so
//   its diff is computed from that one key, never by sorting the box's fault keys.
//
// The row it returns, and the readers of message fields, are in watch-row.ts.
import { parseDeviceTopic } from '../contract/index.js';
import {
  describePlaying,
  docRefs,
  num,
  parse,
  playingText,
  str,
  trialOf,
  type BoxRow,
  type Json,
  type Presence,
} from './watch-row.js';

export const DEFAULT_PERIOD_MS = 30_000;

/** itemId -> capId pairs a box keeps (its recent CAP plays); older ones are forgotten. */
const CAP_IDS_KEPT = 16;

interface Box {
  deviceId: string;
  online: boolean | null;
  /** The boot known to be the latest: from the newest birth or live heartbeat. */
  currentBoot: string | null;
  bootId: string | null;
  reason: string | null;
  groups: string[];
  agentVersion: string | null;
  arch: string | null;
  trial: string | null;
  birthSchedule: string[];
  lastSeen: number | null;
  hbAt: number | null;
  /** heartbeatS of the latest birth, in ms; null when the birth had none (older agent). */
  birthPeriodMs: number | null;
  hb: { state: string | null; playing: Json | null; outbox: number | null; schedule: string[] | null } | null;
  /** itemId -> capId from play.* events (at most CAP_IDS_KEPT, oldest dropped). */
  capIds: Map<string, string>;
  faults: Map<string, number>;
  maxSeq: Map<string, number>;
}

export interface ApplyMeta {
  retain?: boolean;
}

/** One message as the model understood it, for a consumer that wants more fields (noc exporter). */
export interface Observed {
  deviceId: string;
  leaf: 'status' | 'heartbeat' | 'events';
  msg: Json;
  now: number;
  retained: boolean;
  /** false for an event already seen (same epoch, seq at or below the highest): a re-send. */
  fresh: boolean;
}

export interface FleetModelOptions {
  root: string;
  defaultPeriodMs?: number;
  staleFactor?: number;
  /** Called after each parsed status, heartbeat or event was applied (the JSON is parsed once). */
  observe?: (o: Observed) => void;
  /** Distinct active fault keys (component/code) kept per box (default 100); more are dropped. */
  maxFaults?: number;
  /** Epochs per box whose highest seq is kept for de-duplication (default 8). */
  maxEpochs?: number;
}

export const DEFAULT_MAX_FAULTS = 100;

export class FleetModel {
  private readonly boxes = new Map<string, Box>();
  private readonly defaultPeriodMs: number;
  private readonly staleFactor: number;
  private lostAt: number | null = null;
  private readonly maxFaults: number;
  private readonly maxEpochs: number;
  /** What the bounds dropped: fault keys beyond maxFaults of a box. */
  readonly dropped = { faults: 0 };

  constructor(private readonly o: FleetModelOptions) {
    this.defaultPeriodMs = o.defaultPeriodMs ?? DEFAULT_PERIOD_MS;
    this.staleFactor = o.staleFactor ?? 3;
    this.maxFaults = o.maxFaults ?? DEFAULT_MAX_FAULTS;
    this.maxEpochs = o.maxEpochs ?? 8;
  }

  get size(): number {
    return this.boxes.size;
  }

  /** The watcher lost the broker at `now` (again while still lost: the first time holds). */
  brokerLost(now: number): void {
    this.lostAt ??= now;
  }

  /** The watcher is connected again; returns when it had lost the broker, null if it had not. */
  brokerBack(): number | null {
    const was = this.lostAt;
    this.lostAt = null;
    return was;
  }

  /** Since when the watcher is blind (broker lost), or null while connected. */
  get blindSince(): number | null {
    return this.lostAt;
  }

  has(deviceId: string): boolean {
    return this.boxes.has(deviceId);
  }

  private box(deviceId: string): Box {
    let b = this.boxes.get(deviceId);
    if (!b) {
      b = {
        deviceId,
        online: null,
        currentBoot: null,
        bootId: null,
        reason: null,
        groups: [],
        agentVersion: null,
        arch: null,
        trial: null,
        birthSchedule: [],
        lastSeen: null,
        hbAt: null,
        birthPeriodMs: null,
        hb: null,
        capIds: new Map(),
        faults: new Map(),
        maxSeq: new Map(),
      };
      this.boxes.set(deviceId, b);
    }
    return b;
  }

  /**
   * One message. Returns what changed for that box, in words ("online", "offline
   * (lost)", "fault amp/overload", ...); empty when nothing a person watches changed.
   */
  apply(topic: string, payload: Buffer | string, now: number, meta: ApplyMeta = {}): string[] {
    const where = parseDeviceTopic(this.o.root, topic);
    if (!where) return [];
    const msg = parse(payload);
    if (!msg) return [];
    const b = this.box(where.deviceId);
    // An event changes only the faults or the name of what plays (its diff comes from event()).
    const before = where.leaf === 'events' ? null : this.signature(b);
    // A retained message was sent at its ts or earlier; a live one now.
    const ts = typeof msg.ts === 'string' ? Date.parse(msg.ts) : NaN;
    const seenAt = meta.retain && !Number.isNaN(ts) ? Math.min(now, ts) : now;
    const seen = () => (b.lastSeen = Math.max(b.lastSeen ?? seenAt, seenAt));
    let fresh = true;
    let change: string | null = null;
    switch (where.leaf) {
      case 'status':
        this.status(b, msg, seen);
        break;
      case 'heartbeat':
        this.heartbeat(b, msg, seenAt, meta.retain === true);
        seen();
        break;
      case 'events':
        ({ fresh, change } = this.event(b, msg));
        seen();
        break;
      default:
        return [];
    }
    this.o.observe?.({ deviceId: where.deviceId, leaf: where.leaf, msg, now, retained: meta.retain === true, fresh });
    if (before === null) return change === null ? [] : [change];
    return this.diff(before, this.signature(b));
  }

  private status(b: Box, msg: Json, seen: () => void): void {
    const bootId = str(msg.bootId);
    if (msg.online === true) {
      b.online = true;
      b.currentBoot = bootId;
      b.bootId = bootId;
      b.reason = null;
      b.groups = Array.isArray(msg.groups) ? msg.groups.map(String) : [];
      b.agentVersion = str(msg.agentVersion);
      b.arch = str(msg.arch);
      b.trial = trialOf(msg.update);
      b.birthSchedule = docRefs(msg.schedule) ?? [];
      const hbS = num(msg.heartbeatS);
      b.birthPeriodMs = hbS !== null && hbS > 0 ? hbS * 1000 : null;
      seen();
    } else if (msg.online === false) {
      // The rule of contract §5: only the death of the boot we last saw born counts.
      if (b.currentBoot !== null && bootId !== b.currentBoot) return;
      b.online = false;
      b.bootId = bootId ?? b.bootId;
      b.reason = str(msg.reason) ?? 'unknown';
      seen();
    }
  }

  private heartbeat(b: Box, msg: Json, seenAt: number, retained: boolean): void {
    const bootId = str(msg.bootId);
    if (!retained) {
      if (bootId !== null) {
        if (b.online !== true && !(b.online === false && bootId === b.bootId)) {
          b.online = true; // alive now, under a boot whose death we have not seen
          b.reason = null;
        }
        b.currentBoot = bootId;
        b.bootId = bootId;
      }
    }
    b.hbAt = Math.max(b.hbAt ?? seenAt, seenAt);
    if (msg.update !== undefined) b.trial = trialOf(msg.update);
    const playing =
      msg.playing && typeof msg.playing === 'object' && !Array.isArray(msg.playing) ? (msg.playing as Json) : null;
    b.hb = { state: str(msg.state), playing, outbox: num(msg.outbox), schedule: docRefs(msg.schedule) };
  }

  /**
   * Applies one event. fresh: false when it is a re-send already counted; change: "fault
   * K" or "recovered K" when the event raised a new fault key or cleared one.
   */
  private event(b: Box, msg: Json): { fresh: boolean; change: string | null } {
    const epoch = str(msg.epoch);
    const seq = num(msg.seq);
    if (epoch !== null && seq !== null) {
      const max = b.maxSeq.get(epoch);
      if (max !== undefined && seq <= max) return { fresh: false, change: null }; // a re-send (at-least-once delivery)
      if (max === undefined && b.maxSeq.size >= this.maxEpochs) b.maxSeq.delete(b.maxSeq.keys().next().value!);
      b.maxSeq.set(epoch, seq);
    }
    const capId = str(msg.capId);
    const itemId = str(msg.itemId);
    if (capId !== null && itemId !== null && typeof msg.type === 'string' && msg.type.startsWith('play.')) {
      // A play event naming the alert renames what plays (the one other change an event makes).
      const named = () => (b.hb?.playing ? `playing ${playingText(describePlaying(b.hb.playing, b.capIds)!)}` : null);
      const was = named();
      b.capIds.delete(itemId);
      b.capIds.set(itemId, capId);
      if (b.capIds.size > CAP_IDS_KEPT) b.capIds.delete(b.capIds.keys().next().value!);
      const now = named();
      return { fresh: true, change: now !== was ? now : null };
    }
    if (msg.type !== 'hw.fault' && msg.type !== 'hw.recovered') return { fresh: true, change: null };
    const key = `${String(msg.component)}/${String(msg.code)}`;
    const n = b.faults.get(key) ?? 0;
    const next = msg.type === 'hw.fault' ? n + 1 : Math.max(0, n - 1);
    if (n === 0 && next > 0 && b.faults.size >= this.maxFaults) {
      this.dropped.faults++;
      return { fresh: true, change: null };
    }
    if (next === 0) b.faults.delete(key);
    else b.faults.set(key, next);
    return {
      fresh: true,
      change: n === 0 && next > 0 ? `fault ${key}` : n > 0 && next === 0 ? `recovered ${key}` : null,
    };
  }

  /** The periodic heartbeat interval the stale rule uses for this box. */
  periodMs(deviceId: string): number {
    return this.boxes.get(deviceId)?.birthPeriodMs ?? this.defaultPeriodMs;
  }

  row(deviceId: string, now: number): BoxRow | undefined {
    const b = this.boxes.get(deviceId);
    return b ? this.toRow(b, now) : undefined;
  }

  rows(now: number): BoxRow[] {
    return [...this.boxes.values()]
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0))
      .map((b) => this.toRow(b, now));
  }

  private toRow(b: Box, now: number): BoxRow {
    const period = this.periodMs(b.deviceId);
    let status: Presence = b.online === null ? 'unknown' : b.online ? 'online' : 'offline';
    // Blind, presence is as of the loss: the silence is ours, not the box's.
    const judgedAt = this.lostAt === null ? now : Math.min(now, this.lostAt);
    if (status === 'online' && b.lastSeen !== null && judgedAt - b.lastSeen > this.staleFactor * period)
      status = 'stale';
    const play = describePlaying(b.hb?.playing ?? null, b.capIds);
    const age = (t: number | null) => (t === null ? null : Math.max(0, Math.round((now - t) / 1000)));
    return {
      deviceId: b.deviceId,
      status,
      reason: b.online === false ? b.reason : null,
      bootId: b.bootId,
      groups: b.groups,
      agentVersion: b.agentVersion,
      arch: b.arch,
      trial: b.trial,
      heartbeatAgeS: age(b.hbAt),
      silentS: age(b.lastSeen),
      periodS: Math.round(period / 100) / 10,
      periodFrom: b.birthPeriodMs !== null ? 'birth' : 'default',
      state: b.hb?.state ?? null,
      playing: play ? playingText(play) : null,
      play,
      faults: [...b.faults.keys()].sort(),
      outbox: b.hb?.outbox ?? null,
      schedule: b.hb?.schedule ?? b.birthSchedule,
    };
  }

  /** What a person watches of a box, but the faults (only events change them; event() diffs them). */
  private signature(b: Box): Record<string, string> {
    return {
      presence: b.online === null ? 'unknown' : b.online ? 'online' : `offline (${b.reason ?? 'unknown'})`,
      state: `state ${b.hb?.state ?? '-'}`,
      playing: b.hb?.playing ? `playing ${playingText(describePlaying(b.hb.playing, b.capIds)!)}` : 'silent',
      schedule: `schedule ${(b.hb?.schedule ?? b.birthSchedule).join(' ') || '-'}`,
    };
  }

  private diff(a: Record<string, string>, b: Record<string, string>): string[] {
    const out: string[] = [];
    for (const k of Object.keys(b)) {
      if (a[k] !== b[k]) out.push(b[k]!);
    }
    return out;
  }
}
