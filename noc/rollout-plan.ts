// The logic of `noc rollout`, pure (no I/O, no clock of its own), so every rule is
// unit-tested with exact inputs:
// - who: the group's online boxes not already on the version, whose birth names an arch
//   the manifest has; the others are listed with the reason they are left out;
// - stages: the first `firstShare` of them (at least one) in a stable order, sha256 of
//   the device id (the same boxes go first on every run, whatever the fleet's order),
//   then the rest;
// - outcome per box: refused (cmd/result ok:false), update.failed or update.rolledback:
//   failed; update.committed of the version: ok; no news for `silenceMs` (any
//   update.* event of the command, or a heartbeat showing the job or the trial, is news),
//   or more than `maxMs` in all: timed out, which counts as failed;
// - a stage stops the rollout when its failed share exceeds `stopAt`: decided as soon as
//   the failures already exceed it (a bad release stops at once), else when every box
//   of the stage has an outcome.
import { createHash } from 'node:crypto';
import { downgradeRefusal } from '../contract/versions.js';

export interface FleetBox {
  deviceId: string;
  online: boolean;
  /** Why not online, for the skip reason: offline, stale (silent for 3 heartbeat periods), unknown. */
  presence?: string;
  groups: readonly string[];
  agentVersion: string | null;
  arch: string | null;
  /** The version it is on trial with, if any. */
  trial: string | null;
}

export interface Plan {
  /** Every box of the group, with its version (for the table). */
  members: FleetBox[];
  /** Already on the version (and not merely on trial with it). */
  current: string[];
  skipped: { deviceId: string; reason: string }[];
  stages: string[][];
}

export function stableOrder(ids: readonly string[]): string[] {
  const key = (id: string) => createHash('sha256').update(id).digest('hex');
  return [...ids]
    .map((id) => [key(id), id] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([, id]) => id);
}

export function planRollout(
  fleet: readonly FleetBox[],
  o: { group: string; version: string; arches: readonly string[]; firstShare: number; allowDowngrade?: boolean },
): Plan {
  const members = fleet.filter((b) => b.groups.includes(o.group)).sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
  const current: string[] = [];
  const skipped: Plan['skipped'] = [];
  const todo: string[] = [];
  for (const b of members) {
    if (b.agentVersion === o.version) current.push(b.deviceId);
    else if (!b.online) skipped.push({ deviceId: b.deviceId, reason: b.presence ?? 'offline' });
    else if (b.trial !== null) skipped.push({ deviceId: b.deviceId, reason: `on trial with ${b.trial}` });
    else if (b.arch === null)
      skipped.push({
        deviceId: b.deviceId,
        reason: `no arch in its birth (agent ${b.agentVersion ?? '?'} predates OTA)`,
      });
    else if (!o.arches.includes(b.arch))
      skipped.push({ deviceId: b.deviceId, reason: `arch ${b.arch} is not in the release` });
    else if (!o.allowDowngrade && b.agentVersion !== null && downgradeRefusal(o.version, b.agentVersion, false))
      skipped.push({
        deviceId: b.deviceId,
        reason: `runs ${b.agentVersion}, newer than ${o.version} (a downgrade needs --allow-downgrade)`,
      });
    else todo.push(b.deviceId);
  }
  const ordered = stableOrder(todo);
  const n = ordered.length === 0 ? 0 : Math.min(ordered.length, Math.max(1, Math.ceil(ordered.length * o.firstShare)));
  const stages = [ordered.slice(0, n), ordered.slice(n)].filter((s) => s.length > 0);
  return { members, current, skipped, stages };
}

/** version → boxes of the group on it, online, and on trial; sorted by version. */
export function versionTable(
  members: readonly FleetBox[],
): { version: string; boxes: number; online: number; trial: number }[] {
  const t = new Map<string, { version: string; boxes: number; online: number; trial: number }>();
  for (const b of members) {
    const v = b.agentVersion ?? '?';
    const row = t.get(v) ?? { version: v, boxes: 0, online: 0, trial: 0 };
    row.boxes++;
    if (b.online) row.online++;
    t.set(v, row);
  }
  for (const b of members) {
    if (b.trial === null) continue;
    const row = t.get(b.trial) ?? { version: b.trial, boxes: 0, online: 0, trial: 0 };
    row.trial++;
    t.set(b.trial, row);
  }
  const rank = (v: string) => (v === '?' ? 1 : 0); // unknown last
  return [...t.values()].sort(
    (a, b) => rank(a.version) - rank(b.version) || a.version.localeCompare(b.version, 'en', { numeric: true }),
  );
}

export type Outcome = 'ok' | 'failed' | 'timeout';

interface BoxTrack {
  cmdId: string;
  sentAt: number;
  news: number;
  outcome?: Outcome;
  detail: string;
}

export interface Transition {
  deviceId: string;
  outcome?: Outcome;
  /** One line: what happened ("committed after 12.3 s on trial", "rolled back (exited): ..."). */
  detail: string;
}

export interface StageOptions {
  version: string;
  silenceMs: number;
  maxMs: number;
  stopAt: number;
}

/** One stage's boxes, fed results, events and heartbeats; says when it is decided. */
export class Stage {
  private readonly boxes = new Map<string, BoxTrack>();
  private readonly byCmd = new Map<string, string>();

  constructor(private readonly o: StageOptions) {}

  sent(deviceId: string, cmdId: string, now: number): void {
    this.boxes.set(deviceId, { cmdId, sentAt: now, news: now, detail: 'sent' });
    this.byCmd.set(cmdId, deviceId);
  }

  get size(): number {
    return this.boxes.size;
  }

  private settle(deviceId: string, outcome: Outcome, detail: string): Transition[] {
    const b = this.boxes.get(deviceId)!;
    b.outcome = outcome;
    b.detail = detail;
    return [{ deviceId, outcome, detail }];
  }

  /** A cmd/result from a box. */
  result(
    deviceId: string,
    r: { cmdId?: unknown; ok?: unknown; error?: { code?: unknown; message?: unknown } },
    now: number,
  ): Transition[] {
    const b = this.boxes.get(deviceId);
    if (!b || b.outcome || r.cmdId !== b.cmdId) return [];
    if (r.ok === true) {
      b.news = now;
      b.detail = 'queued';
      return [{ deviceId, detail: 'accepted (queued)' }];
    }
    return this.settle(
      deviceId,
      'failed',
      `refused ${String(r.error?.code ?? '?')}: ${String(r.error?.message ?? '')}`,
    );
  }

  /** An event from a box; only the update.* events of this stage's command count. */
  event(deviceId: string, e: Record<string, unknown>, now: number): Transition[] {
    const b = this.boxes.get(deviceId);
    if (!b || b.outcome || typeof e.type !== 'string' || !e.type.startsWith('update.') || e.cmdId !== b.cmdId)
      return [];
    b.news = now;
    switch (e.type) {
      case 'update.committed':
        if (e.version !== this.o.version) return [];
        return this.settle(
          deviceId,
          'ok',
          `committed ${this.o.version}${typeof e.trialMs === 'number' ? ` after ${(e.trialMs / 1000).toFixed(1)} s on trial` : ''}`,
        );
      case 'update.rolledback': {
        const tail =
          Array.isArray(e.logTail) && e.logTail.length ? `; last line: ${String(e.logTail.at(-1)).slice(0, 200)}` : '';
        return this.settle(
          deviceId,
          'failed',
          `rolled back to ${String(e.previous)} (${String(e.reason)}): ${String(e.detail ?? '')}${tail}`,
        );
      }
      case 'update.failed':
        return this.settle(deviceId, 'failed', `failed (${String(e.reason)}): ${String(e.message ?? '')}`);
      default:
        b.detail = e.type.slice('update.'.length);
        return [{ deviceId, detail: b.detail }];
    }
  }

  /** A heartbeat or birth that shows the box working on it (a pending job or a trial): news. */
  progress(deviceId: string, now: number): void {
    const b = this.boxes.get(deviceId);
    if (b && !b.outcome) b.news = now;
  }

  /** Boxes silent too long (or too long in all) time out. */
  tick(now: number): Transition[] {
    const out: Transition[] = [];
    for (const [id, b] of this.boxes) {
      if (b.outcome) continue;
      if (now - b.news > this.o.silenceMs)
        out.push(
          ...this.settle(
            id,
            'timeout',
            `timed out: no news for ${Math.round((now - b.news) / 1000)} s (last: ${b.detail})`,
          ),
        );
      else if (now - b.sentAt > this.o.maxMs)
        out.push(
          ...this.settle(
            id,
            'timeout',
            `timed out: ${Math.round((now - b.sentAt) / 1000)} s since sent (last: ${b.detail})`,
          ),
        );
    }
    return out;
  }

  cmdDevice(cmdId: string): string | undefined {
    return this.byCmd.get(cmdId);
  }

  counts(): { ok: number; failed: number; timeout: number; pending: number } {
    const c = { ok: 0, failed: 0, timeout: 0, pending: 0 };
    for (const b of this.boxes.values()) c[b.outcome ?? 'pending']++;
    return c;
  }

  pending(): string[] {
    return [...this.boxes].filter(([, b]) => !b.outcome).map(([id]) => id);
  }

  /**
   * wait: not decided yet; continue: every box has an outcome and the failed share is at
   * most stopAt; stop: the failed share already exceeds stopAt.
   */
  verdict(): { decision: 'wait' | 'continue' | 'stop'; why: string } {
    const c = this.counts();
    const bad = c.failed + c.timeout;
    const share = this.size ? bad / this.size : 0;
    const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
    const why = `${bad} of ${this.size} failed or timed out (${pct(share)}; the limit is ${pct(this.o.stopAt)})`;
    if (share > this.o.stopAt) return { decision: 'stop', why };
    return { decision: c.pending > 0 ? 'wait' : 'continue', why };
  }
}

/** "10%", "0.1", "25" (percent) → a share in [0, 1]; null when it is none of those. */
export function parseShare(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(s.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const share = m[2] === '%' || n > 1 ? n / 100 : n;
  return share >= 0 && share <= 1 ? share : null;
}

/** "15m", "90s", "1h", "600" (seconds) → ms; null when unreadable. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) return null;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}
