// What each command of contract §4 does on the box, given a verified CommandDoc. The
// CommandService (commands.ts) owns verification, at-most-once and results; this file
// owns the effects.
//
// `play` is the emergency path: the occurrence is fired the moment the command is
// recorded (a stream or FM/line source needs nothing else; an emergency does not wait
// for the amplifier warm-up, playback.ts), and the result is sent once audio came out
// or the play failed. A `file` source's media are fetched and verified by the cache
// like any other media first (at most until the command expires).
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../adapters/clock.js';
import type { Board } from '../adapters/board.js';
import type { SystemStats } from '../adapters/system-stats.js';
import type { CommandDoc } from '../../contract/command-doc.js';
import type { Occurrence } from '../domain/occurrences.js';
import type { LiveSource } from '../domain/occurrence.js';
import type { LiveSessions } from './live-session.js';
import type { MediaRef } from '../../contract/schedule-doc.js';
import type { FaultTracker } from '../domain/fault-tracker.js';
import type { VolumeProfile } from '../domain/volume-policy.js';
import {
  ampVerdict,
  batteryVerdict,
  diskVerdict,
  doorVerdict,
  firmwareDetail,
  fmVerdict,
  lineVerdict,
  mainsVerdict,
  type Verdict,
} from '../domain/hardware-verdicts.js';
import type { Logger } from '../log.js';
import { WaitTimeoutError, within } from '../domain/waitress.js';
import type { CommandOutcome } from './commands.js';
import type { Outcome, PlaybackCoordinator } from './playback.js';
import type { Repeats } from './repeats.js';
import { commandOccurrence, seriesPlays, type CommandSeries } from '../domain/repeat.js';

export interface ActionDeps {
  clock: Clock;
  log: Logger;
  coordinator: PlaybackCoordinator;
  board: Board;
  faults: FaultTracker;
  stats: SystemStats;
  cacheDir: string;
  mpg123Path: string | null;
  /** The full birth and heartbeat state, for `ping`. */
  snapshot(): Promise<{ birth: unknown; heartbeat: unknown }>;
  setVolume(level: number): void;
  /** The `volume-profile` command (runtime/volume.ts): a profile, or null for the configured one. */
  setVolumeProfile?: (profile: VolumeProfile | null, issuedAtMs: number) => CommandOutcome;
  /** `sync`: forget retry waits, re-check the cache and re-plan. */
  sync(): Record<string, unknown>;
  /** Ask the cache for ad-hoc media until `untilMs`; resolves with their paths, or null if not ready by then. */
  fetchMedia(media: readonly MediaRef[], untilMs: number): Promise<string[] | null>;
  /** Whether a service manager will restart / reboot us (systemd); otherwise those commands are refused. */
  underSystemd: boolean;
  /** The `update` command (runtime/updater.ts): checked and queued at once; progress comes as events. */
  update?: (doc: Extract<CommandDoc, { action: 'update' }>) => CommandOutcome;
  /** Repeat series and cancels (runtime/repeats.ts, issue 16). */
  repeats?: Repeats;
  /** The `clock` command (contract v1.2 §2.2): forget the bound no time source vouched for. */
  resetClockBound?: () => { before: string | null; after: string | null };
  /** The `live` command (contract v1.2 §8): the sessions, and the roles a key holds on this box. */
  live?: { sessions: LiveSessions; keyRoles: (kid: string) => readonly string[]; synced: () => boolean };
}

/** How long a `play` result waits for audio before answering "accepted, not started yet". */
const PLAY_RESULT_WAIT_MS = 90_000;

export function createExecutor(d: ActionDeps): (doc: CommandDoc) => Promise<CommandOutcome> {
  return async (doc) => {
    switch (doc.action) {
      case 'ping':
        return { ok: true, result: await d.snapshot() };
      case 'play':
        return play(d, doc);
      case 'stop': {
        const playing = d.coordinator.playing();
        // A stopped live session is over (contract §8), not suspended: its chunks are no longer heard.
        d.live?.sessions.closeFor(doc.args.itemId);
        if (doc.args.itemId !== undefined)
          return { ok: true, result: { stopped: await d.coordinator.stopItem(doc.args.itemId) } };
        await d.coordinator.stopAll('stopped');
        return { ok: true, result: { stopped: playing ? 1 : 0 } };
      }
      case 'volume':
        d.setVolume(doc.args.level);
        return { ok: true, result: { level: doc.args.level, appliesTo: 'now, what plays included' } };
      case 'volume-profile':
        if (!d.setVolumeProfile) return { ok: false, code: 'unsupported', message: 'this agent has no volume profile' };
        return d.setVolumeProfile(doc.args.profile, Date.parse(doc.issuedAt));
      case 'sync':
        return { ok: true, result: d.sync() };
      case 'selftest':
        return { ok: true, result: await selftest(d) };
      case 'restart':
        if (!d.underSystemd)
          return {
            ok: false,
            code: 'unsupported',
            message: 'not running under systemd: nothing would start the agent again',
          };
        return { ok: true, result: { action: 'restart' } };
      case 'reboot':
        if (!d.underSystemd)
          return {
            ok: false,
            code: 'unsupported',
            message: 'not running under systemd (loa-reboot.path): reboot the box by hand',
          };
        return { ok: true, result: { action: 'reboot' } };
      case 'update':
        if (!d.update) return { ok: false, code: 'unsupported', message: 'this agent cannot update itself' };
        return d.update(doc);
      case 'cancel':
        if (!d.repeats) return { ok: false, code: 'unsupported', message: 'this agent keeps no repeat series' };
        return { ok: true, result: d.repeats.cancel(doc) };
      case 'clock':
        if (!d.resetClockBound) return { ok: false, code: 'unsupported', message: 'this agent keeps no clock bound' };
        return { ok: true, result: { lowerBound: d.resetClockBound() } };
      case 'live':
        return live(d, doc);
    }
  };
}

async function play(d: ActionDeps, doc: Extract<CommandDoc, { action: 'play' }>): Promise<CommandOutcome> {
  const a = doc.args;
  const cancel = d.repeats?.cancelFor(doc);
  if (cancel)
    return { ok: false, code: 'cancelled', message: `cancel ${cancel.id} (received before this command) names it` };
  const files = [a.source, 'fallback' in a.source ? a.source.fallback : undefined].filter(
    (s) => s?.kind === 'file',
  ) as { media: string[] }[];
  const wanted = new Set(files.flatMap((f) => f.media));
  const media = a.media.filter((m) => wanted.has(m.id));
  if (media.length > 0) {
    const paths = await d.fetchMedia(media, Date.parse(doc.expiresAt));
    if (!paths)
      return {
        ok: false,
        code: 'media',
        message: 'the media were not fetched and verified before the command expired',
      };
  }
  const start = d.clock.now();
  // A series is counted from this first play (domain/repeat.ts); without repeat it is a single play.
  const series: CommandSeries = {
    cmdId: doc.id,
    first: start,
    expiresAt: doc.expiresAt,
    repeat: a.repeat ?? { everyS: 86_400, count: 1 },
    priority: a.priority,
    source: a.source,
    media,
    ...(a.volume !== undefined ? { volume: a.volume } : {}),
    ...(a.durationS !== undefined ? { durationS: a.durationS } : {}),
    ...(doc.capRef ? { capId: doc.capRef.identifier } : {}),
  };
  const occ: Occurrence = commandOccurrence(series, 1, start);
  if (a.repeat && d.repeats) d.repeats.add(series);
  else {
    delete occ.repeat;
    delete occ.seriesStart;
  }
  const outcome = d.coordinator.outcome(occ.key);
  d.coordinator.fire(occ, 0);
  // No outcome within the wait: the result says the play is under way (playResult(null)).
  const o = await within(d.clock, outcome, PLAY_RESULT_WAIT_MS, `the outcome of play command ${doc.id}`).catch(
    (err: unknown) => {
      if (err instanceof WaitTimeoutError) return null;
      throw err;
    },
  );
  const r = playResult(o);
  if (!a.repeat || !d.repeats || !r.ok) return r;
  // The series goes on whatever became of its first play (busy, failed): its repeats are planned.
  const next = seriesPlays(start, a.repeat, Date.parse(doc.expiresAt), start + 1, Infinity).next();
  return {
    ok: true,
    result: {
      ...r.result,
      repeat: { everyS: a.repeat.everyS, next: next.done ? null : new Date(next.value[1]).toISOString() },
    },
  };
}

/**
 * `live` (contract v1.2 §8): the session is registered and fired at once as an ad-hoc
 * occurrence of its priority, so it warms the amplifier now and arbitration is §3's; the
 * result says `listening` without waiting for audio (the chunks start after it).
 */
async function live(d: ActionDeps, doc: Extract<CommandDoc, { action: 'live' }>): Promise<CommandOutcome> {
  const a = doc.args;
  if (!d.live) return { ok: false, code: 'unsupported', message: 'this agent plays no live sessions' };
  const roles = d.live.keyRoles(a.kid);
  if (!roles.includes('live'))
    return {
      ok: false,
      code: 'unknown-key',
      message: `key ${a.kid} ${roles.length === 0 ? 'is not a trusted key' : `is not trusted for live chunks (its roles: ${roles.join(', ')})`}`,
    };
  if (d.live.sessions.has(a.sessionId))
    return { ok: false, code: 'duplicate', message: `live session ${a.sessionId} is already open on this box` };
  const start = d.clock.now();
  const until = Math.min(start + a.maxDurationS * 1000, Date.parse(doc.expiresAt) + a.maxDurationS * 1000);
  const source: LiveSource = {
    kind: 'live',
    sessionId: a.sessionId,
    kid: a.kid,
    latencyMs: a.latencyMs,
    cmdId: doc.id,
    until,
  };
  d.live.sessions.register(source);
  const occ: Occurrence = {
    key: `cmd/${doc.id}`,
    docId: null,
    docVersion: null,
    topic: 'cmd',
    itemId: doc.id,
    start,
    end: until,
    durationMs: until - start,
    priority: a.priority,
    volume: a.volume,
    source,
    media: [],
    cmdId: doc.id,
  };
  const outcome = d.coordinator.outcome(occ.key);
  d.coordinator.fire(occ, 0);
  // Busy is decided inside fire(); anything else (audio, a failure) comes after this answer.
  const now = await Promise.race([outcome, new Promise<null>((r) => setImmediate(() => r(null)))]);
  if (now?.state === 'skipped' || now?.state === 'failed') d.live.sessions.close(a.sessionId);
  if (now?.state === 'skipped')
    return { ok: false, code: 'busy', message: 'something of equal or higher priority is playing' };
  if (now?.state === 'failed') return { ok: false, code: 'failed', message: `${now.reason}: ${now.message}` };
  return {
    ok: true,
    result: { state: 'listening', sessionId: a.sessionId, latencyMs: a.latencyMs, synced: d.live.synced() },
  };
}

function playResult(o: Outcome | null): CommandOutcome {
  if (o === null)
    return { ok: true, result: { state: 'pending', message: 'accepted; no audio yet (see play.* events)' } };
  switch (o.state) {
    case 'started':
      return {
        ok: true,
        result: { state: 'started', startedAt: new Date(o.startedAt).toISOString(), lateMs: o.lateMs },
      };
    case 'skipped':
      return { ok: false, code: 'busy', message: 'something of equal or higher priority is playing' };
    case 'interrupted':
      return { ok: false, code: 'interrupted', message: `interrupted before audio (${o.reason})` };
    case 'failed':
      return { ok: false, code: 'failed', message: `${o.reason}: ${o.message}` };
  }
}

interface Check {
  name: string;
  /** False only for a `fail`; a `warn` is worth a look but passes. */
  ok: boolean;
  status: Verdict['status'];
  detail: string;
  hint?: string;
}

/**
 * Checks that are safe on a box in service: nothing audible, nothing that takes the board
 * away from playback. The verdicts and thresholds are loa-provision check's
 * (domain/hardware-verdicts.ts), so the centre and the technician read the same thing.
 */
export async function selftest(d: ActionDeps): Promise<{ passed: boolean; checks: Check[] }> {
  const checks: Check[] = [];
  const add = (name: string, v: Verdict) => checks.push({ name, ok: v.status !== 'fail', ...v });
  const okV = (detail: string): Verdict => ({ status: 'ok', detail });
  const failV = (detail: string, hint: string): Verdict => ({ status: 'fail', detail, hint });
  const b = d.board;
  const st = b.state();
  add('board', okV(`${b.kind}: amp ${st.amp ? 'on' : 'off'}, input ${st.input}`));
  const mcu = b.diagnostics;
  if (mcu) {
    const fw = mcu.firmware();
    const up = mcu.answering() && fw !== undefined;
    add(
      'mcu',
      up ? okV(firmwareDetail(fw)) : failV('not answering', "see hw.fault mcu; check the IO board's power and cable"),
    );
    if (up) {
      try {
        const r = await mcu.reading();
        add('door', doorVerdict(r));
        add('mains', mainsVerdict(r));
        add('battery', batteryVerdict(r));
        add('amp', ampVerdict(r));
      } catch (err) {
        add('status', failV(`GET_STATUS failed: ${(err as Error).message}`, 'the IO board stopped answering'));
      }
    }
    if (up && !d.coordinator.playing()) {
      try {
        const lt = await mcu.lineTest();
        add('line', lineVerdict(lt.result, lt.impedance));
      } catch (err) {
        add('line', failV(`line test failed: ${(err as Error).message}`, 'see the mcu line'));
      }
    } else if (up) add('line', okV('not tested while playing (the test interrupts the line)'));
    const fm = b.tuner?.state();
    if (fm) add('fm', fmVerdict(fm.freqMHz, fm.rssi));
  }
  const faults = d.faults.active();
  add(
    'faults',
    faults.length === 0
      ? okV('none active')
      : failV(faults.map((f) => `${f.component}/${f.code}`).join(', '), 'see the hw.fault events'),
  );
  if (d.mpg123Path) {
    const r = spawnSync(d.mpg123Path, ['--version'], { encoding: 'utf8', timeout: 5000 });
    add(
      'player',
      r.status === 0
        ? okV(r.stdout.trim().split('\n')[0] ?? 'mpg123')
        : failV(`${d.mpg123Path} not runnable`, 'apt-get install mpg123'),
    );
  } else add('player', okV('stand-in (no audio by configuration)'));
  const probe = join(d.cacheDir, `.selftest-${randomUUID()}`);
  try {
    await mkdir(d.cacheDir, { recursive: true });
    await writeFile(probe, 'loa');
    await rename(probe, `${probe}.x`);
    await unlink(`${probe}.x`);
    add('cache', okV(`${d.cacheDir} writable`));
  } catch (err) {
    add('cache', failV(`${d.cacheDir}: ${(err as Error).message}`, `check ${d.cacheDir} (ls -ld)`));
  }
  const [sys, synced] = await Promise.all([d.stats.sys(), d.stats.clockSynced()]);
  add('disk', diskVerdict(sys.diskFreeMB, 'the state directory'));
  add(
    'clock',
    synced === false
      ? failV('NOT synchronised', 'schedules would play at the wrong time: check the network and the time service')
      : okV(synced === null ? 'no time service reports (chrony/ntpd?)' : 'synchronised'),
  );
  return { passed: checks.every((c) => c.ok), checks };
}
