// The Prometheus text exposition format (version 0.0.4) of what ExporterModel knows:
// per box (the default) or per group (--per-group, a bounded series count for very large
// fleets). Names follow Prometheus's conventions: the `loa_` prefix, base units (bytes,
// seconds, hertz, ratio), `_total` for counters, a `loa_box_info` gauge of 1 carrying
// version, groups and site as labels. The names, types and help texts are in
// exporter-metrics.ts.
import { DISK_WARN_MB } from '../contract/telemetry.js';
import { AGENT_VERSION } from '../contract/version.js';
import { BOX, EXPORTER, GROUP, type Kind } from './exporter-metrics.js';
import type { BoxExtra, ExporterModel } from './exporter-model.js';
import type { BoxRow } from './watch-row.js';

type Labels = Record<string, string>;

const CHUNK = 256;

/** One metric family: HELP, TYPE, then its samples. */
class Family {
  /** Built with += (V8 keeps it as a rope until written): fewer garbage strings than lines joined. */
  // Lines are joined into a flat chunk every CHUNK lines, so the many small strings die
  // young (cheap to collect) and only the chunks live until the page is sent.
  private lines: string[] = [];
  private readonly chunks: string[] = [];
  constructor(
    readonly name: string,
    readonly kind: Kind,
    readonly help: string,
  ) {}
  /** `labels` is the text between the braces (lbl() builds it), '' for none. */
  add(labels: string, value: number | null | undefined): void {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    this.lines.push(labels === '' ? `${this.name} ${value}\n` : `${this.name}{${labels}} ${value}\n`);
    if (this.lines.length === CHUNK) {
      this.chunks.push(this.lines.join(''));
      this.lines = [];
    }
  }
  text(): string {
    return (
      `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.kind}\n` +
      this.chunks.join('') +
      this.lines.join('')
    );
  }
}

const NEEDS_ESCAPE = /[\\"\n]/;
const escape = (v: string) =>
  NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;

/** Label text: lbl({device: 'b1', state: 'idle'}) is 'device="b1",state="idle"'. */
function lbl(l: Labels): string {
  let out = '';
  for (const k in l) out += `${out ? ',' : ''}${k}="${escape(l[k]!)}"`;
  return out;
}

/** The box's labels followed by more: `device="b1",state="idle"`. */
const more = (d: string, k: string, v: string) => `${d},${k}="${escape(v)}"`;

const MB = 1_048_576; // the agent reports MiB (statfs bavail*bsize / 2^20)

function families(table: Record<string, [Kind, string]>): Record<string, Family> {
  return Object.fromEntries(Object.entries(table).map(([n, [k, h]]) => [n, new Family(n, k, h)]));
}

const STATES = ['idle', 'playing', 'fault'];
const PRESENCE = ['online', 'stale', 'offline', 'unknown'];
const split = (k: string) => k.split('\u0000') as [string, string];

function boxFamilies(model: ExporterModel, now: number, only: RegExp | undefined): Family[] {
  const f = families(BOX);
  for (const { row, x } of model.rows(now)) {
    if (only && !x.groups.some((g) => only.test(g))) continue;
    const d = lbl({ device: row.deviceId });
    const s = x.site;
    f.loa_box_info!.add(
      d +
        ',' +
        lbl({
          version: x.version,
          groups: x.groups.join(','),
          commune: s?.commune ?? '',
          commune_code: s?.communeCode ?? '',
          province: s?.province ?? '',
          lat: s?.lat === null || !s ? '' : String(s.lat),
          lon: s?.lon === null || !s ? '' : String(s.lon),
        }),
      1,
    );
    f.loa_box_online!.add(d, row.status === 'online' || row.status === 'stale' ? 1 : 0);
    f.loa_box_heartbeat_age_seconds!.add(d, row.heartbeatAgeS);
    f.loa_box_heartbeat_period_seconds!.add(d, row.periodS);
    if (row.state !== null)
      for (const st of STATES) f.loa_box_state!.add(more(d, 'state', st), row.state === st ? 1 : 0);
    const byComponent = new Map<string, number>();
    for (const fault of row.faults)
      byComponent.set(fault.split('/')[0]!, (byComponent.get(fault.split('/')[0]!) ?? 0) + 1);
    for (const [component, n] of byComponent) f.loa_box_faults_active!.add(more(d, 'component', component), n);
    const h = x.hb;
    if (h) {
      if (h.playing)
        f.loa_box_playing_info!.add(
          d +
            ',' +
            lbl({
              item: h.playing.itemId,
              doc: h.playing.docId,
              source: h.playing.source,
              priority: String(h.playing.priority),
            }),
          1,
        );
      f.loa_box_amp_on!.add(d, h.ampOn);
      f.loa_box_amp_fault!.add(d, h.ampFault);
      f.loa_box_fm_rssi_dbuv!.add(d, h.fmRssi);
      f.loa_box_fm_frequency_hertz!.add(d, h.fmFreqMHz === null ? null : Math.round(h.fmFreqMHz * 1e6));
      f.loa_box_cache_ready_media!.add(d, h.cacheReady);
      f.loa_box_cache_pending_media!.add(d, h.cachePending);
      f.loa_box_cache_failed_media!.add(d, h.cacheFailed);
      f.loa_box_cache_bytes!.add(d, h.cacheBytes);
      f.loa_box_outbox_events!.add(d, h.outbox);
      f.loa_box_disk_free_bytes!.add(d, h.diskFreeMB === null ? null : h.diskFreeMB * MB);
      f.loa_box_memory_free_bytes!.add(d, h.memFreeMB === null ? null : h.memFreeMB * MB);
      f.loa_box_cpu_temperature_celsius!.add(d, h.cpuTempC);
      f.loa_box_load1!.add(d, h.load1);
      f.loa_box_clock_synced!.add(d, h.clockSynced);
      if (h.clockSource) f.loa_box_clock_info!.add(more(d, 'source', h.clockSource), 1);
      if (h.clockAheadS !== null) f.loa_box_clock_bound_ahead_seconds!.add(d, h.clockAheadS);
      f.loa_box_volume_ratio!.add(d, h.volume === null ? null : h.volume / 100);
      if (h.volumeWhy)
        f.loa_box_volume_level_ratio!.add(more(d, 'reason', h.volumeWhy.reason), h.volumeWhy.level / 100);
      f.loa_box_net_signal_dbm!.add(d, h.netSignal);
      f.loa_box_uptime_seconds!.add(d, h.uptimeS);
      if (h.mcu) {
        f.loa_box_mcu_link_up!.add(d, h.mcu.up);
        f.loa_box_mcu_resets_total!.add(d, h.mcu.resets);
        f.loa_box_mcu_bad_frames_total!.add(d, h.mcu.badFrames);
        f.loa_box_mcu_timeouts_total!.add(d, h.mcu.timeouts);
      }
    }
    f.loa_box_emergency_unplayed!.add(d, model.unplayed(x, now));
    if (x.emergencySent) {
      f.loa_box_emergency_commands_total!.add(d, x.emergencySent);
      f.loa_box_emergency_played_total!.add(d, x.emergencyPlayed);
      f.loa_box_emergency_missed_total!.add(d, x.emergencyMissed);
    }
    if (x.lastBoot !== null) f.loa_box_boots_total!.add(d, x.boots);
    for (const [reason, n] of x.disconnects ?? []) f.loa_box_disconnects_total!.add(more(d, 'reason', reason), n);
    for (const [k, n] of x.plays ?? []) {
      const [outcome, reason] = split(k);
      f.loa_box_plays_total!.add(d + ',' + lbl({ outcome, reason }), n);
    }
    for (const [component, n] of x.hwFaults ?? []) f.loa_box_hw_faults_total!.add(more(d, 'component', component), n);
    const snd = x.sound;
    if (snd) {
      f.loa_box_output_level_db!.add(d, snd.levelDb);
      f.loa_box_output_measured_plays_total!.add(d, snd.measuredPlays);
      f.loa_box_output_silent_plays_total!.add(d, snd.silentPlays);
      f.loa_box_output_silent_seconds_total!.add(d, snd.silentMs / 1000);
      for (const [reason, n] of snd.degraded) f.loa_box_plays_degraded_total!.add(more(d, 'reason', reason), n);
      f.loa_box_emergency_no_output_total!.add(d, snd.emergencyNoOutput);
    }
    for (const [k, n] of x.rejections ?? []) {
      const [via, reason] = split(k);
      f.loa_box_rejections_total!.add(d + ',' + lbl({ via, reason }), n);
    }
    if (x.outboxDropped) f.loa_box_outbox_dropped_events_total!.add(d, x.outboxDropped);
    if (x.storeResets) f.loa_box_store_resets_total!.add(d, x.storeResets);
  }
  return Object.values(f);
}

interface Agg {
  presence: Map<string, number>;
  states: Map<string, number>;
  unsynced: number;
  diskLow: number;
  faulty: number;
  unplayed: number;
  outbox: number;
  outboxMax: number | null;
  ageMax: number | null;
  diskMin: number | null;
  plays: Map<string, number>;
  hwFaults: Map<string, number>;
  rejections: Map<string, number>;
}

const maxN = (a: number | null, b: number | null) => (b === null ? a : a === null ? b : Math.max(a, b));
const minN = (a: number | null, b: number | null) => (b === null ? a : a === null ? b : Math.min(a, b));

function addAll(to: Map<string, number>, from: Map<string, number> | undefined): void {
  for (const [k, n] of from ?? []) to.set(k, (to.get(k) ?? 0) + n);
}

function aggregate(a: Agg, row: BoxRow, x: BoxExtra, unplayed: number): void {
  a.presence.set(row.status, (a.presence.get(row.status) ?? 0) + 1);
  if (row.state !== null) a.states.set(row.state, (a.states.get(row.state) ?? 0) + 1);
  const h = x.hb;
  if (h?.clockSynced === 0) a.unsynced++;
  if (h?.diskFreeMB !== null && h?.diskFreeMB !== undefined && h.diskFreeMB < DISK_WARN_MB) a.diskLow++;
  if (row.state === 'fault' || h?.ampFault === 1 || row.faults.length > 0) a.faulty++;
  if (unplayed > 0) a.unplayed++;
  a.outbox += h?.outbox ?? 0;
  a.outboxMax = maxN(a.outboxMax, h?.outbox ?? null);
  if (row.status === 'online' || row.status === 'stale') a.ageMax = maxN(a.ageMax, row.heartbeatAgeS);
  a.diskMin = minN(a.diskMin, h?.diskFreeMB ?? null);
  addAll(a.plays, x.plays);
  addAll(a.hwFaults, x.hwFaults);
  addAll(a.rejections, x.rejections);
}

function groupFamilies(model: ExporterModel, now: number, match: RegExp): Family[] {
  const groups = new Map<string, Agg>();
  for (const { row, x } of model.rows(now)) {
    const unplayed = model.unplayed(x, now);
    for (const g of x.groups) {
      if (!match.test(g)) continue;
      let a = groups.get(g);
      if (!a)
        groups.set(
          g,
          (a = {
            presence: new Map(),
            states: new Map(),
            unsynced: 0,
            diskLow: 0,
            faulty: 0,
            unplayed: 0,
            outbox: 0,
            outboxMax: null,
            ageMax: null,
            diskMin: null,
            plays: new Map(),
            hwFaults: new Map(),
            rejections: new Map(),
          }),
        );
      aggregate(a, row, x, unplayed);
    }
  }
  const f = families(GROUP);
  for (const [group, a] of [...groups].sort(([x], [y]) => (x < y ? -1 : 1))) {
    const g = lbl({ group });
    for (const p of PRESENCE) f.loa_group_boxes!.add(more(g, 'presence', p), a.presence.get(p) ?? 0);
    for (const st of STATES) f.loa_group_boxes_by_state!.add(more(g, 'state', st), a.states.get(st) ?? 0);
    f.loa_group_boxes_clock_unsynced!.add(g, a.unsynced);
    f.loa_group_boxes_disk_low!.add(g, a.diskLow);
    f.loa_group_boxes_faulty!.add(g, a.faulty);
    f.loa_group_boxes_emergency_unplayed!.add(g, a.unplayed);
    f.loa_group_outbox_events!.add(g, a.outbox);
    f.loa_group_outbox_events_max!.add(g, a.outboxMax);
    f.loa_group_heartbeat_age_seconds_max!.add(g, a.ageMax);
    f.loa_group_disk_free_bytes_min!.add(g, a.diskMin === null ? null : a.diskMin * MB);
    for (const [k, n] of a.plays) {
      const [outcome, reason] = split(k);
      f.loa_group_plays_total!.add(g + ',' + lbl({ outcome, reason }), n);
    }
    for (const [component, n] of a.hwFaults) f.loa_group_hw_faults_total!.add(more(g, 'component', component), n);
    for (const [k, n] of a.rejections) {
      const [via, reason] = split(k);
      f.loa_group_rejections_total!.add(g + ',' + lbl({ via, reason }), n);
    }
  }
  return Object.values(f);
}

export interface ExporterHealth {
  connected: boolean;
  mode: 'box' | 'group';
  share: string;
  scrapes: number;
  lastRenderS: number | null;
  loopDelayP99S: number | null;
  startedAt: number;
}

function exporterFamilies(model: ExporterModel, h: ExporterHealth): Family[] {
  const f = families(EXPORTER);
  f.loa_exporter_info!.add(lbl({ version: AGENT_VERSION, mode: h.mode, share: h.share }), 1);
  f.loa_exporter_mqtt_connected!.add('', h.connected ? 1 : 0);
  f.loa_exporter_boxes!.add('', model.fleet.size);
  for (const [leaf, n] of model.stats.messages) f.loa_exporter_messages_total!.add(more('', 'leaf', leaf).slice(1), n);
  f.loa_exporter_invalid_messages_total!.add('', model.stats.invalid);
  const dropped = model.dropped();
  for (const reason of ['boxes', 'box_series', 'series'] as const)
    f.loa_exporter_dropped_total!.add(lbl({ reason }), dropped.get(reason) ?? 0);
  f.loa_exporter_last_message_timestamp_seconds!.add(
    '',
    model.stats.lastMessageAt === null ? null : model.stats.lastMessageAt / 1000,
  );
  f.loa_exporter_scrapes_total!.add('', h.scrapes);
  f.loa_exporter_render_seconds!.add('', h.lastRenderS);
  f.loa_exporter_event_loop_delay_p99_seconds!.add('', h.loopDelayP99S);
  const mem = process.memoryUsage();
  f.process_resident_memory_bytes!.add('', mem.rss);
  f.process_heap_bytes!.add('', mem.heapUsed);
  const cpu = process.cpuUsage();
  f.process_cpu_seconds_total!.add('', (cpu.user + cpu.system) / 1e6);
  f.process_start_time_seconds!.add('', Math.round(h.startedAt / 1000));
  return Object.values(f);
}

export interface RenderOptions {
  /** Series per group, for the groups matching it, instead of per box. */
  perGroup?: RegExp;
  /** Per box: only the boxes with a group matching it (one province's exporter). */
  onlyBoxesIn?: RegExp;
}

/** The /metrics body as one string per family (written one after the other: no copy into one big string). */
export function renderParts(
  model: ExporterModel,
  now: number,
  health: ExporterHealth,
  o: RenderOptions = {},
): string[] {
  const fams = [
    ...(o.perGroup ? groupFamilies(model, now, o.perGroup) : boxFamilies(model, now, o.onlyBoxesIn)),
    ...exporterFamilies(model, health),
  ];
  return fams.map((f) => f.text());
}

/** The whole /metrics body. */
export function renderMetrics(
  model: ExporterModel,
  now: number,
  health: ExporterHealth,
  o: RenderOptions = {},
): string {
  return renderParts(model, now, health, o).join('');
}
