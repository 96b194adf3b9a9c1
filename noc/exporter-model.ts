// What `noc exporter` knows about each box, beyond the fleet table of watch-model.ts:
// the heartbeat's numbers, the site of the birth, counters drawn from events, and the
// emergencies the centre sent. Pure (no I/O, no clock of its own): messages come in with
// the time they arrived; exporter-render.ts turns it into the Prometheus text format.
//
// Presence, staleness, de-duplication of events (epoch, seq) and active faults are the
// FleetModel's (watch-model.ts), whose observer hands us each message parsed once.
//
// Emergencies (the centre's knowledge of what was sent): a `play` command with priority
// >= 100 (the emergency class of contract §3) seen on {root}/d/{id}/cmd, or on
// {root}/g/{g}/cmd for every box whose latest birth lists {g}, is pending for that box
// until the box shows it played it: a play.started event with that cmdId, or a heartbeat
// whose `playing.itemId` is the command id (a command's item id is its id, contract §7).
// Pending for more than `graceMs`, it counts in `unplayed`; after `windowMs` it is
// dropped into `emergencyMissed`. With `keys`, only commands whose signature verifies
// count (the boxes would refuse the others anyway); without, the payload is decoded
// unverified (the exporter is a reader; a forged emergency can only raise an alert).
//
// Bounds (a rogue box, or a flood of random device ids, must not take the exporter down
// for the whole fleet): at most `maxBoxes` device ids are kept (messages of any other id
// are dropped); a box keeps at most `maxBoxSeries` counter label sets (by outcome/reason,
// component, via/reason, disconnect reason, a play.degraded reason beyond the contract's)
// and as many active fault keys (FleetModel's maxFaults); all boxes together at most
// `maxSeries` counter label sets. What a bound drops is counted in `dropped` by reason
// (loa_exporter_dropped_total{reason}): `boxes`, `box_series`, `series`. Every update is
// a Map lookup: O(1) per message.
//
// The site and the heartbeat's numbers are read in exporter-readings.ts; what the box
// measured of its output (proof of sound, contract v1.2 §9) in exporter-sound.ts.
import { claimedId } from '../contract/command-doc.js';
import { COMMAND_TYP, DEFAULT_MAX_DOC_BYTES, parseTopic } from '../contract/index.js';
import { verifyJws, type KeyRing } from '../contract/verify.js';
import { FleetModel, type Observed } from './watch-model.js';
import { hbNumbers, obj, siteOf, type HbNumbers, type Site } from './exporter-readings.js';
import { newSoundStats, soundFact, type SoundFact, type SoundStats } from './exporter-sound.js';
import { num, str, type BoxRow, type Json } from './watch-row.js';

export const EMERGENCY_PRIORITY = 100;

export interface BoxExtra {
  version: string;
  groups: readonly string[];
  site: Site | null;
  hb: HbNumbers | null;
  /** Live births with a bootId not seen before for this box (restarts, power cycles). */
  boots: number;
  lastBoot: string | null;
  /** Counters keyed "a\u0000b", created on first use. */
  plays?: Map<string, number>;
  hwFaults?: Map<string, number>;
  rejections?: Map<string, number>;
  disconnects?: Map<string, number>;
  outboxDropped?: number;
  storeResets?: number;
  /** Contract v1.2 §9, from the first sign that the box's board measures its output (exporter-sound.ts). */
  sound?: SoundStats;
  emergencySent: number;
  emergencyPlayed: number;
  emergencyMissed: number;
  /** cmdId -> when the exporter saw it sent. */
  pending?: Map<string, number>;
  /** Label sets in plays, hwFaults, rejections and disconnects (the per-box bound). */
  keys: number;
}

export interface ExporterModelOptions {
  root: string;
  defaultPeriodMs?: number;
  graceMs?: number;
  windowMs?: number;
  keys?: KeyRing;
  /** Device ids kept (default DEFAULT_MAX_BOXES); messages of further ids are dropped. */
  maxBoxes?: number;
  /** Counter label sets per box, and active fault keys per box (default DEFAULT_MAX_BOX_SERIES each). */
  maxBoxSeries?: number;
  /** Counter label sets over all boxes (default DEFAULT_MAX_SERIES). */
  maxSeries?: number;
}

export const DEFAULT_MAX_BOXES = 60_000;
export const DEFAULT_MAX_BOX_SERIES = 100;
export const DEFAULT_MAX_SERIES = 1_000_000;
export type DropReason = 'boxes' | 'box_series' | 'series';

export interface Stats {
  messages: Map<string, number>;
  invalid: number;
  lastMessageAt: number | null;
}

export function bump(m: Map<string, number>, key: string, by = 1): void {
  m.set(key, (m.get(key) ?? 0) + by);
}

export const key2 = (a: string, b: string) => `${a}\u0000${b}`;

const PLAY_OUTCOMES: Record<string, string> = {
  'play.started': 'started',
  'play.finished': 'finished',
  'play.interrupted': 'interrupted',
  'play.failed': 'failed',
  'play.skipped': 'skipped',
};

export class ExporterModel {
  readonly fleet: FleetModel;
  readonly extra = new Map<string, BoxExtra>();
  readonly stats: Stats = { messages: new Map(), invalid: 0, lastMessageAt: null };
  readonly graceMs: number;
  readonly windowMs: number;
  readonly maxBoxes: number;
  readonly maxBoxSeries: number;
  readonly maxSeries: number;
  /** Counter label sets over all boxes. */
  private keys = 0;
  private readonly droppedBy = new Map<DropReason, number>();
  private observed = false;

  constructor(private readonly o: ExporterModelOptions) {
    this.maxBoxes = o.maxBoxes ?? DEFAULT_MAX_BOXES;
    this.maxBoxSeries = o.maxBoxSeries ?? DEFAULT_MAX_BOX_SERIES;
    this.maxSeries = o.maxSeries ?? DEFAULT_MAX_SERIES;
    this.fleet = new FleetModel({
      root: o.root,
      ...(o.defaultPeriodMs ? { defaultPeriodMs: o.defaultPeriodMs } : {}),
      maxFaults: this.maxBoxSeries,
      observe: (x) => this.observe(x),
    });
    this.graceMs = o.graceMs ?? 60_000;
    this.windowMs = o.windowMs ?? 3_600_000;
  }

  /** What the bounds dropped, by reason (active fault keys beyond a box's bound count as box_series). */
  dropped(): Map<DropReason, number> {
    const m = new Map(this.droppedBy);
    if (this.fleet.dropped.faults) m.set('box_series', (m.get('box_series') ?? 0) + this.fleet.dropped.faults);
    return m;
  }

  private drop(reason: DropReason): void {
    bump(this.droppedBy as Map<string, number>, reason);
  }

  /** False (and counted) when the id is new and maxBoxes are already known. */
  private admit(deviceId: string): boolean {
    if (this.extra.has(deviceId) || this.extra.size < this.maxBoxes) return true;
    this.drop('boxes');
    return false;
  }

  private box(deviceId: string): BoxExtra {
    let b = this.extra.get(deviceId);
    if (!b) {
      b = {
        version: '',
        groups: [],
        site: null,
        hb: null,
        boots: 0,
        lastBoot: null,
        emergencySent: 0,
        emergencyPlayed: 0,
        emergencyMissed: 0,
        keys: 0,
      };
      this.extra.set(deviceId, b);
    }
    return b;
  }

  /** Adds `by` to a box's counter `key`, unless it is a new label set beyond the bounds (then counted as dropped). */
  private count(b: BoxExtra, m: Map<string, number>, key: string, by = 1): void {
    const n = m.get(key);
    if (n !== undefined) return void m.set(key, n + by);
    if (b.keys >= this.maxBoxSeries) return this.drop('box_series');
    if (this.keys >= this.maxSeries) return this.drop('series');
    b.keys++;
    this.keys++;
    m.set(key, by);
  }

  /** One MQTT message on any topic the exporter follows. */
  apply(topic: string, payload: Buffer | string, now: number, retained = false): void {
    const t = parseTopic(this.o.root, topic);
    const leaf = t?.leaf ?? 'other';
    bump(this.stats.messages, leaf.replace('/', '_'));
    this.stats.lastMessageAt = now;
    if (t?.kind === 'device' && !this.admit(t.deviceId)) return;
    if (t?.leaf === 'cmd')
      return void (
        this.command(t.kind === 'device' ? { device: t.deviceId } : { group: t.group }, payload, now) ||
        this.stats.invalid++
      );
    if (t?.kind === 'device' && t.leaf === 'cmd/result')
      return void (this.result(t.deviceId, payload) || this.stats.invalid++);
    this.observed = false;
    this.fleet.apply(topic, payload, now, { retain: retained });
    if (!this.observed) this.stats.invalid++;
  }

  private observe({ deviceId, leaf, msg, now, retained, fresh }: Observed): void {
    this.observed = true;
    const b = this.box(deviceId);
    if (leaf === 'status') {
      if (msg.online === true) {
        b.version = str(msg.agentVersion) ?? '';
        b.groups = Array.isArray(msg.groups) ? msg.groups.map(String) : [];
        b.site = siteOf(msg.site);
        const boot = str(msg.bootId);
        if (!retained && boot !== null && b.lastBoot !== null && boot !== b.lastBoot) b.boots++;
        if (boot !== null) b.lastBoot = boot;
      } else if (msg.online === false && !retained) {
        b.disconnects ??= new Map();
        this.count(b, b.disconnects, str(msg.reason) ?? 'unknown');
      }
    } else if (leaf === 'heartbeat') {
      b.hb = hbNumbers(msg);
      const item = b.hb.playing?.itemId;
      if (item && b.pending?.delete(item)) b.emergencyPlayed++;
    } else if (fresh) this.event(b, msg);
    void now;
  }

  private event(b: BoxExtra, e: Json): void {
    const fact = soundFact(e);
    if (fact) this.sound(b, fact);
    const type = String(e.type);
    const outcome = PLAY_OUTCOMES[type];
    if (outcome) {
      b.plays ??= new Map();
      this.count(b, b.plays, key2(outcome, str(e.reason) ?? ''));
      const cmdId = str(e.cmdId);
      if (outcome === 'started' && cmdId && b.pending?.delete(cmdId)) b.emergencyPlayed++;
      return;
    }
    switch (type) {
      case 'hw.fault':
        b.hwFaults ??= new Map();
        this.count(b, b.hwFaults, str(e.component) ?? 'unknown');
        return;
      case 'schedule.rejected':
      case 'cmd.rejected':
        b.rejections ??= new Map();
        this.count(b, b.rejections, key2(type === 'cmd.rejected' ? 'command' : 'schedule', str(e.reason) ?? 'unknown'));
        return;
      case 'intake.flood': {
        const by = obj(e.byReason) ?? {};
        b.rejections ??= new Map();
        for (const [reason, n] of Object.entries(by))
          if (num(n)) this.count(b, b.rejections, key2('flood', reason), num(n)!);
        return;
      }
      case 'outbox.dropped':
        b.outboxDropped = (b.outboxDropped ?? 0) + (num(e.count) ?? 0);
        return;
      case 'store.reset':
        b.storeResets = (b.storeResets ?? 0) + 1;
        return;
    }
  }

  private sound(b: BoxExtra, f: SoundFact): void {
    const s = (b.sound ??= newSoundStats());
    switch (f.kind) {
      case 'measured':
        if (f.levelDb !== null) s.levelDb = f.levelDb;
        s.measuredPlays++;
        if (f.silentMs > 0) s.silentPlays++;
        s.silentMs += f.silentMs;
        return;
      case 'degraded':
        // The contract's reasons are a fixed set; another one is a label set like any other.
        if (s.degraded.has(f.reason)) return bump(s.degraded, f.reason);
        return this.count(b, s.degraded, f.reason);
      case 'no-output':
        if (f.priority !== null && f.priority >= EMERGENCY_PRIORITY) s.emergencyNoOutput++;
        return;
      case 'supervised':
        return;
    }
  }

  /** A refusal on {root}/d/{id}/cmd/result is a rejection (contract §7). False when unreadable. */
  private result(deviceId: string, payload: Buffer | string): boolean {
    let r: Json | null;
    try {
      r = obj(JSON.parse(payload.toString()));
    } catch {
      return false;
    }
    if (!r) return false;
    if (r.ok === false) {
      const b = this.box(deviceId);
      b.rejections ??= new Map();
      this.count(b, b.rejections, key2('command', str(obj(r.error)?.code) ?? 'unknown'));
    }
    return true;
  }

  /** A command the centre sent. False when the payload is not a readable command. */
  private command(to: { device: string } | { group: string }, payload: Buffer | string, now: number): boolean {
    let raw: unknown;
    if (this.o.keys) {
      const v = verifyJws(payload, this.o.keys, COMMAND_TYP, DEFAULT_MAX_DOC_BYTES);
      if (!v.ok) return false;
      raw = v.raw;
    } else {
      if (claimedId(payload) === null) return false;
      try {
        raw = JSON.parse(Buffer.from(payload.toString().trim().split('.')[1]!, 'base64url').toString('utf8'));
      } catch {
        return false;
      }
    }
    const c = obj(raw);
    const id = str(c?.id);
    if (!c || !id) return false;
    const priority = num(obj(c.args)?.priority);
    if (c.action !== 'play' || priority === null || priority < EMERGENCY_PRIORITY) return true;
    const expires = str(c.expiresAt) ? Date.parse(String(c.expiresAt)) : NaN;
    if (expires < now) return true; // the box will refuse it as expired: nothing to play
    const targets =
      'device' in to ? [to.device] : [...this.extra].filter(([, b]) => b.groups.includes(to.group)).map(([d]) => d);
    for (const d of targets) {
      const b = this.box(d);
      b.pending ??= new Map();
      if (b.pending.has(id)) continue;
      b.pending.set(id, now);
      b.emergencySent++;
    }
    return true;
  }

  /** Emergencies pending for longer than the grace period; expires those past the window. */
  unplayed(b: BoxExtra, now: number): number {
    if (!b.pending) return 0;
    let n = 0;
    for (const [id, at] of b.pending) {
      if (now - at > this.windowMs) {
        b.pending.delete(id);
        b.emergencyMissed++;
      } else if (now - at > this.graceMs) n++;
    }
    return n;
  }

  rows(now: number): { row: BoxRow; x: BoxExtra }[] {
    return this.fleet.rows(now).map((row) => ({ row, x: this.box(row.deviceId) }));
  }
}
