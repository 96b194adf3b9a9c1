// One row of the fleet table of `noc watch` (BoxRow: presence, versions, ages, what
// plays, faults, documents) and the pure readers watch-model.ts builds it with: the
// JSON fields of a status, heartbeat or event message, and the human name of what a
// box plays ("news", "cmd 5b0c1d9e…", "CAP VN-KTTV-42"). No state.

/** Where a box's heartbeat period comes from: its birth's heartbeatS, or the default. */
export type PeriodFrom = 'birth' | 'default';

export type Presence = 'online' | 'offline' | 'stale' | 'unknown';

export interface BoxRow {
  deviceId: string;
  status: Presence;
  /** Death reason when offline (lost | shutdown). */
  reason: string | null;
  bootId: string | null;
  groups: string[];
  agentVersion: string | null;
  /** Debian arch from the birth (amd64 | arm64 | armhf; OTA agents), null if none. */
  arch: string | null;
  /** The version the box is on trial with (birth or heartbeat `update.trial`), null if none. */
  trial: string | null;
  /** Seconds since the last heartbeat (by the rule for retained messages), null if none. */
  heartbeatAgeS: number | null;
  /** Seconds since anything arrived from the box. */
  silentS: number | null;
  periodS: number;
  periodFrom: PeriodFrom;
  state: string | null;
  /**
   * What plays, by its human name with source and priority: "news (file, p50)" for a
   * schedule item, "cmd 5b0c1d9e… (stream, p100)" for a command, "CAP VN-KTTV-42 (file,
   * p100)" for a play whose events named a CAP alert; null when silent.
   */
  playing: string | null;
  /** The same, as data with the full ids; null when silent. */
  play: PlayingInfo | null;
  /** Active faults as "component/code", sorted. */
  faults: string[];
  outbox: number | null;
  /** Documents in force as "id@version". */
  schedule: string[];
}

/** What a box plays, from its heartbeat's `playing` and the capId of its play.* events. */
export interface PlayingInfo {
  /** schedule: an item of a signed schedule; command: a play command; cap: either, from a CAP alert. */
  kind: 'schedule' | 'command' | 'cap';
  itemId: string;
  docId: string | null;
  source: string;
  priority: number | null;
  /** The CAP identifier a play.* event of this item carried, else null. */
  capId: string | null;
  /** The human name without source and priority: "news", "cmd 5b0c1d9e…", "CAP VN-KTTV-42". */
  label: string;
}

/** A long id cut to its first 8 characters and "…" ("5b0c1d9e…", "cap-3bc8…"); short ids whole. */
export function shortId(id: string): string {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}

/** "label (source, pN)": the text of the PLAYING column and of the change lines. */
export function playingText(p: PlayingInfo): string {
  return `${p.label} (${p.source}, p${p.priority ?? '?'})`;
}

export type Json = Record<string, unknown>;

export function parse(payload: Buffer | string): Json | undefined {
  try {
    const v: unknown = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

export const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
export const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function docRefs(v: unknown): string[] | null {
  if (!Array.isArray(v)) return null;
  return v.filter((d): d is Json => !!d && typeof d === 'object').map((d) => `${String(d.id)}@${String(d.version)}`);
}

/** The version of an OTA `update` field's trial (`{trial: {version, previous, since}}`), else null. */
export function trialOf(v: unknown): string | null {
  const t = v && typeof v === 'object' ? (v as Json).trial : undefined;
  return t && typeof t === 'object' ? str((t as Json).version) : null;
}

export function describePlaying(p: Json | null, capIds: ReadonlyMap<string, string>): PlayingInfo | null {
  if (!p) return null;
  const itemId = String(p.itemId);
  const docId = str(p.docId);
  const capId = capIds.get(itemId) ?? null;
  const kind = capId !== null ? 'cap' : docId === null ? 'command' : 'schedule';
  const label = kind === 'cap' ? `CAP ${capId}` : kind === 'command' ? `cmd ${shortId(itemId)}` : itemId;
  return { kind, itemId, docId, source: String(p.source), priority: num(p.priority), capId, label };
}
