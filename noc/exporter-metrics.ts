// Every metric `noc exporter` can print, as data: name -> [type, help text], per box
// (BOX), per group (GROUP, --per-group) and of the exporter itself (EXPORTER), in the
// order printed. exporter-render.ts prints them; METRIC_NAMES lets a test check that
// every Grafana query and alert rule names metrics that exist.
import { DISK_WARN_MB } from '../contract/telemetry.js';

export type Kind = 'gauge' | 'counter';

/** Every family, in the order printed. Name -> [kind, help]. */
export const BOX: Record<string, [Kind, string]> = {
  loa_box_info: [
    'gauge',
    'Always 1; labels: agent version, groups (comma-separated), commune, commune code, province, latitude and longitude of the site',
  ],
  loa_box_online: [
    'gauge',
    '1 after a birth, 0 after the death of the same boot (contract §5); 0 for a box known only from a retained heartbeat',
  ],
  loa_box_heartbeat_age_seconds: ['gauge', 'Seconds since the last heartbeat (a retained one counts from its own ts)'],
  loa_box_heartbeat_period_seconds: [
    'gauge',
    'The periodic heartbeat interval (heartbeatS of the birth, else the exporter --period); stale after 3 periods',
  ],
  loa_box_state: ['gauge', 'The heartbeat state, one series per state, 1 for the current one'],
  loa_box_playing_info: ['gauge', '1 while something plays: item, document, source kind and priority'],
  loa_box_faults_active: [
    'gauge',
    'Hardware faults raised and not recovered since the exporter started (hw.fault minus hw.recovered), by component',
  ],
  loa_box_amp_on: ['gauge', 'Amplifier powered (1) or not (0)'],
  loa_box_amp_fault: ['gauge', 'Amplifier reports a fault (1)'],
  loa_box_fm_rssi_dbuv: ['gauge', 'FM tuner signal strength in dBuV'],
  loa_box_fm_frequency_hertz: ['gauge', 'FM tuner frequency'],
  loa_box_cache_ready_media: ['gauge', 'Media of the next 24 h present and verified'],
  loa_box_cache_pending_media: ['gauge', 'Media of the next 24 h still to fetch'],
  loa_box_cache_failed_media: ['gauge', 'Media of the next 24 h that failed to download or verify'],
  loa_box_cache_bytes: ['gauge', 'Bytes of media cached for the next 24 h'],
  loa_box_outbox_events: ['gauge', 'Events waiting on the box to be sent (outbox backlog)'],
  loa_box_disk_free_bytes: ['gauge', 'Free space on the box state filesystem'],
  loa_box_memory_free_bytes: ['gauge', 'Available memory on the box'],
  loa_box_cpu_temperature_celsius: ['gauge', 'CPU temperature'],
  loa_box_load1: ['gauge', 'One-minute load average'],
  loa_box_clock_synced: ['gauge', 'The box clock is synchronised (1) or not (0); absent when the box cannot tell'],
  loa_box_clock_info: ['gauge', 'Always 1; label source: where the box clock comes from, when the box reports it'],
  loa_box_clock_bound_ahead_seconds: [
    'gauge',
    'How far the box lower bound of the real time (signed documents, contract v1.2 section 2.2) is ahead of its clock; 0 when not ahead',
  ],
  loa_box_volume_ratio: ['gauge', 'Master volume, 0 to 1'],
  loa_box_volume_level_ratio: [
    'gauge',
    'Level in force, 0 to 1, for what plays or normal content; label reason: master, quiet-hours, safe-start, emergency',
  ],
  loa_box_net_signal_dbm: ['gauge', 'Modem signal strength'],
  loa_box_uptime_seconds: ['gauge', 'Seconds since the agent process started'],
  loa_box_mcu_link_up: ['gauge', 'Serial link to the IO board answers (1) or not (0); mcu boards only'],
  loa_box_mcu_resets_total: ['counter', 'IO board resets since the agent started'],
  loa_box_mcu_bad_frames_total: ['counter', 'Corrupt serial frames since the agent started'],
  loa_box_mcu_timeouts_total: ['counter', 'Serial requests unanswered since the agent started'],
  loa_box_emergency_unplayed: [
    'gauge',
    'Emergency play commands (priority >= 100) sent to the box more than the grace period ago and not seen playing, within the window',
  ],
  loa_box_emergency_commands_total: ['counter', 'Emergency play commands sent to the box, seen on the cmd topics'],
  loa_box_emergency_played_total: ['counter', 'Emergency play commands the box was seen playing'],
  loa_box_emergency_missed_total: ['counter', 'Emergency play commands never seen playing within the window'],
  loa_box_boots_total: ['counter', 'Agent starts (a live birth with a new bootId): restarts and power cycles'],
  loa_box_disconnects_total: ['counter', 'Deaths seen live, by reason (lost: the last will; shutdown: clean)'],
  loa_box_plays_total: [
    'counter',
    'play.* events by outcome (started, finished, interrupted, failed, skipped) and reason',
  ],
  loa_box_hw_faults_total: ['counter', 'hw.fault events by component'],
  // Proof of sound (contract v1.2 section 9): printed only for a box whose board has shown it
  // measures its output (exporter-sound.ts); the counters then from 0.
  loa_box_output_level_db: [
    'gauge',
    'Median output level of the last play measured (play.finished/interrupted output.levelDb), dB of the amplifier rated output; absent for a box that cannot measure',
  ],
  loa_box_output_measured_plays_total: ['counter', 'play.finished/interrupted whose output the board measured'],
  loa_box_output_silent_plays_total: [
    'counter',
    'Measured plays whose output was silent for a while (output.silentMs > 0): the horns did not sound what the player produced',
  ],
  loa_box_output_silent_seconds_total: [
    'counter',
    'Time the output was silent while it should have sounded (the sum of output.silentMs)',
  ],
  loa_box_plays_degraded_total: [
    'counter',
    'play.degraded by reason: dead-air (a relay input carried nothing, the next URL or fallback), no-output',
  ],
  loa_box_emergency_no_output_total: [
    'counter',
    'Emergencies (priority >= 100) that failed no-output: no path of theirs sounded (play.failed)',
  ],
  loa_box_rejections_total: [
    'counter',
    'Refused documents by via (schedule, command, flood: counted in intake.flood) and reason',
  ],
  loa_box_outbox_dropped_events_total: ['counter', 'Events the box dropped because its outbox was full'],
  loa_box_store_resets_total: ['counter', 'Times the box database was rebuilt (store.reset)'],
};

export const GROUP: Record<string, [Kind, string]> = {
  loa_group_boxes: ['gauge', 'Boxes whose latest birth lists the group, by presence (online, stale, offline, unknown)'],
  loa_group_boxes_by_state: ['gauge', 'Boxes of the group by heartbeat state'],
  loa_group_boxes_clock_unsynced: ['gauge', 'Boxes of the group whose clock is not synchronised'],
  loa_group_boxes_disk_low: ['gauge', `Boxes of the group with less than ${DISK_WARN_MB} MiB free`],
  loa_group_boxes_faulty: [
    'gauge',
    'Boxes of the group with an active fault (state fault, amplifier fault or a raised hw.fault)',
  ],
  loa_group_boxes_emergency_unplayed: ['gauge', 'Boxes of the group with an emergency not seen playing'],
  loa_group_outbox_events: ['gauge', 'Outbox backlog summed over the group'],
  loa_group_outbox_events_max: ['gauge', 'Largest outbox backlog in the group'],
  loa_group_heartbeat_age_seconds_max: ['gauge', 'Oldest last heartbeat among the group online boxes'],
  loa_group_disk_free_bytes_min: ['gauge', 'Smallest free space in the group'],
  loa_group_plays_total: [
    'counter',
    'play.* events of the group boxes by outcome and reason (a box leaving the group lowers it: rate() reads it as a reset)',
  ],
  loa_group_hw_faults_total: ['counter', 'hw.fault events of the group boxes by component'],
  loa_group_rejections_total: ['counter', 'Refused documents of the group boxes by via and reason'],
};

export const EXPORTER: Record<string, [Kind, string]> = {
  loa_exporter_info: ['gauge', 'Always 1; labels: version, mode (box or group), share group'],
  loa_exporter_mqtt_connected: ['gauge', '1 while connected to the broker'],
  loa_exporter_boxes: ['gauge', 'Boxes known to this exporter'],
  loa_exporter_messages_total: ['counter', 'MQTT messages received, by topic leaf'],
  loa_exporter_invalid_messages_total: ['counter', 'Messages that could not be read (not JSON, not a command)'],
  loa_exporter_dropped_total: [
    'counter',
    'What the bounds dropped: reason boxes (a message of a device id beyond --max-boxes), box_series (a new label set of a box beyond --max-box-series), series (beyond --max-series in all)',
  ],
  loa_exporter_last_message_timestamp_seconds: ['gauge', 'When the last message arrived (Unix time)'],
  loa_exporter_scrapes_total: ['counter', 'Requests to /metrics'],
  loa_exporter_render_seconds: ['gauge', 'Time the previous /metrics took to build'],
  loa_exporter_event_loop_delay_p99_seconds: ['gauge', 'Event-loop delay, 99th percentile since the previous scrape'],
  process_resident_memory_bytes: ['gauge', 'Resident memory size'],
  process_heap_bytes: ['gauge', 'V8 heap used'],
  process_cpu_seconds_total: ['counter', 'User and system CPU time'],
  process_start_time_seconds: ['gauge', 'Start time of the process (Unix time)'],
};

/** Every metric name the exporter can print, for tests of the dashboard and the rules. */
export const METRIC_NAMES: ReadonlySet<string> = new Set([
  ...Object.keys(BOX),
  ...Object.keys(GROUP),
  ...Object.keys(EXPORTER),
]);
