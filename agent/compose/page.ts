// The technician's page (runtime/page.ts) wired to what it shows and does: the heartbeat's
// snapshot, the faults, the last refusals (read back from the outbox as they are
// appended), the link's last error, the self-test, the playback (a test tone is an
// occurrence like any other, priority 40: every scheduled item and emergency outranks it),
// the commissioning level (domain/sound-baseline.ts) and the site. Not built when the page
// is disabled or has no password: then nothing listens.
import type { Board } from '../adapters/board.js';
import { CHIME_MS } from '../adapters/chime.js';
import type { PageHttp } from '../adapters/page-http.js';
import { checkSite } from './site.js';
import { describeSound } from '../adapters/sound-files.js';
import type { Config } from '../config.js';
import type { FaultTracker } from '../domain/fault-tracker.js';
import type { Occurrence } from '../domain/occurrences.js';
import type { SiteFields } from '../domain/page-view.js';
import { isWeak, percentOf } from '../domain/sound-baseline.js';
import type { Logger } from '../log.js';
import type { HeartbeatService } from '../runtime/heartbeat.js';
import type { BaselineResult, PageDeps, PageFacts, ToneResult } from '../runtime/page.js';
import type { PlaybackCoordinator } from '../runtime/playback.js';
import type { Presence } from '../runtime/presence.js';
import type { MeasuredPlay, SoundWatch } from '../runtime/sound-watch.js';
import { none, type Step } from './kit.js';
import type { Ports } from './ports.js';

/** Below every scheduled class (normal 50): the tone never cuts a bulletin, and any item cuts it. */
export const TONE_PRIORITY = 40;
const BASELINE_TONE_S = 8;
const REFUSALS_KEPT = 5;

export interface PageWiring {
  config: Config;
  log: Logger;
  ports: Ports;
  presence: Presence;
  heartbeat: HeartbeatService;
  faults: FaultTracker;
  coordinator: PlaybackCoordinator;
  sound: SoundWatch;
  selftest: () => Promise<{ passed: boolean; checks: { name: string; ok: boolean; detail: string; hint?: string }[] }>;
}

export function pageStep(w: PageWiring): Step {
  const { config: c, log: parent, ports: p } = w;
  const log = parent.child({ mod: 'page' });
  if (!c.page.enabled) return { name: 'page', start: none, stop: none };
  if (!c.page.passwordHash) {
    return {
      name: 'page',
      start: () =>
        log.error(
          { code: 'PAGE_NO_PASSWORD' },
          'page.enabled but no page.passwordHash: not served (loa-provision page-password)',
        ),
      stop: none,
    };
  }
  const refusals: PageFacts['refusals'][number][] = [];
  let offlineWhy: string | null = null;
  const onDown = (info: { error?: Error }) => (offlineWhy = info.error?.message ?? 'connection lost');
  const offAppend = p.stores.outbox.onAppend((seq) => {
    const row = p.stores.outbox.peekAfter(seq - 1, 1)[0];
    if (!row) return;
    const e = JSON.parse(row.body) as Record<string, unknown>;
    if (typeof e.type !== 'string' || !e.type.endsWith('.rejected')) return;
    refusals.unshift({
      ts: local(c, Date.parse(String(e.ts))),
      type: e.type,
      reason: String(e.reason ?? '?'),
      message: String(e.message ?? ''),
    });
    refusals.length = Math.min(refusals.length, REFUSALS_KEPT);
  });
  const deps: PageDeps = {
    log,
    deviceId: c.deviceId,
    now: () => Date.now(),
    passwordHash: c.page.passwordHash,
    sessionMs: c.page.sessionMin * 60_000,
    facts: async () => {
      const hb = await w.heartbeat.snapshot();
      const sound = describeSound(p.soundFiles);
      return {
        deviceId: c.deviceId,
        online: p.link.connected,
        offlineWhy,
        playing: hb.playing
          ? { itemId: hb.playing.itemId, source: hb.playing.source, since: local(c, Date.parse(hb.playing.startedAt)) }
          : null,
        next: hb.next ? { itemId: hb.next.itemId, at: local(c, Date.parse(hb.next.at)) } : null,
        faults: w.faults.active().map((f) => ({ component: f.component, code: f.code, message: f.message })),
        refusals: [...refusals],
        clock: { synced: hb.clock.synced, source: String(hb.clock.source ?? '') },
        signal: hb.net
          ? {
              ...(hb.net.bearer ? { bearer: hb.net.bearer } : {}),
              signal: hb.net.signal,
              ...(hb.net.operator ? { operator: hb.net.operator } : {}),
            }
          : null,
        diskFreeMB: hb.sys?.diskFreeMB ?? null,
        volume: hb.volume,
        sound: { measures: measures(p.board), baseline: sound.baseline, last: sound.last },
      };
    },
    site: () => w.presence.site,
    setSite: (s) => {
      const r = checkSite(s);
      if (!r.ok) return r;
      try {
        p.siteFile.write(r.site);
      } catch (err) {
        return { ok: false, why: (err as Error).message };
      }
      w.presence.setSite({ ...c.site, ...r.site });
      log.info({ site: r.site }, 'page: site set');
      return { ok: true };
    },
    selftest: w.selftest,
    tone: (level, seconds) => tone(w, level, seconds).then((r) => r.result),
    baseline: (replace) => baseline(w, replace),
  };
  let http: PageHttp | undefined;
  return {
    name: 'page',
    start: async () => {
      // Loaded only where the page is on: a box without it pays no memory for it.
      const [{ BoxPage }, { PageHttp }] = await Promise.all([
        import('../runtime/page.js'),
        import('../adapters/page-http.js'),
      ]);
      const page = new BoxPage(deps);
      http = new PageHttp({
        port: c.page.port,
        interfaces: c.page.interfaces,
        handler: (q, s) => page.handle(q, s),
        log,
      });
      p.link.on('down', onDown);
      p.link.on('up', () => (offlineWhy = null));
      await http.start();
    },
    stop: async () => {
      offAppend();
      p.link.off('down', onDown);
      await http?.stop();
    },
  };
}

const measures = (b: Board) => b.sound?.measures() === true;

/** A time as the technician reads it: the box's zone (volume.profile.timezone), day and minute. */
function local(c: Config, ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  return formatter(c.volume.profile.timezone).format(ms);
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f)
    formatters.set(
      timeZone,
      (f = new Intl.DateTimeFormat('vi-VN', {
        timeZone,
        day: '2-digit',
        month: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      })),
    );
  return f;
}

/** The chime for `seconds`, as an occurrence the coordinator arbitrates like any item. */
async function tone(w: PageWiring, level: number, seconds: number): Promise<{ result: ToneResult; itemId: string }> {
  const chime = w.ports.chime;
  const itemId = `test-tone-${Date.now().toString(36)}`;
  if (!chime) return { result: { kind: 'failed', why: 'agent/demo-assets/chime.mp3 is missing' }, itemId };
  const start = w.ports.clock.now();
  const copies = Math.ceil((seconds * 1000) / CHIME_MS);
  const occ: Occurrence = {
    key: `page/${itemId}`,
    docId: null,
    docVersion: null,
    topic: 'page',
    itemId,
    start,
    end: start + seconds * 1000,
    durationMs: seconds * 1000,
    priority: TONE_PRIORITY,
    volume: level,
    source: { kind: 'file', media: Array.from({ length: copies }, () => 'chime') },
    media: [{ id: 'chime', url: 'builtin:chime', sha256: chime.sha256, bytes: chime.bytes, durationMs: CHIME_MS }],
  };
  const outcome = w.coordinator.outcome(occ.key);
  w.coordinator.fire(occ, 0);
  const o = await outcome;
  w.log.info({ itemId, level, seconds, outcome: o.state }, 'page: test tone');
  if (o.state === 'started') return { result: { kind: 'started', seconds, level }, itemId };
  if (o.state === 'skipped' || o.state === 'interrupted') return { result: { kind: 'busy' }, itemId };
  return { result: { kind: 'failed', why: o.message }, itemId };
}

/** The commissioning level from an 8 s tone at 50 %: recorded (first, or `replace`), else compared. */
async function baseline(w: PageWiring, replace: boolean): Promise<BaselineResult> {
  const p = w.ports;
  if (!measures(p.board)) return { kind: 'unmeasured' };
  let lineOhms: number | null = null;
  const diag = p.board.diagnostics;
  if (diag && !w.coordinator.playing()) {
    const lt = await diag.lineTest().catch(() => null);
    if (lt?.result === 'ok') lineOhms = lt.impedance;
  }
  let done: (m: MeasuredPlay) => void = () => undefined;
  const measured = new Promise<MeasuredPlay>((r) => (done = r));
  let itemId = '';
  const off = w.sound.onPlayed((m) => m.itemId === itemId && done(m));
  try {
    const t = await tone(w, 50, BASELINE_TONE_S);
    itemId = t.itemId;
    if (t.result.kind === 'busy') return { kind: 'failed', why: 'the speakers are busy' };
    if (t.result.kind === 'failed') return { kind: 'failed', why: t.result.why };
    const m = await measured;
    if (!m.output.measured || m.gainDb === null || m.gainWindows < 2) return { kind: 'unmeasured' };
    const before = p.soundFiles.baseline();
    if (before?.ok && !replace) {
      const percent = percentOf(before.baseline, m.gainDb);
      return { kind: 'compared', percent, weak: isWeak(percent) };
    }
    p.soundFiles.writeBaseline({
      at: new Date(p.clock.now()).toISOString(),
      gainDb: m.gainDb,
      levelDb: m.output.levelDb,
      lineOhms,
      volumePct: 50,
      windows: m.gainWindows,
      by: w.presence.site.installer ?? 'the page on the box',
    });
    w.log.info({ gainDb: m.gainDb, lineOhms }, 'page: commissioning level recorded');
    return { kind: 'recorded', gainDb: m.gainDb };
  } catch (err) {
    return { kind: 'failed', why: (err as Error).message };
  } finally {
    off();
  }
}

/** The site the birth reports: the configuration's, with what the page set over it. */
export function effectiveSite(c: Config, p: Ports, log: Logger): SiteFields & Config['site'] {
  const set = p.siteFile.read();
  if (set && 'bad' in set) {
    log.warn(
      { code: 'PAGE_SITE', why: set.bad },
      "the site set on the page is unusable: the configuration's is reported",
    );
    return c.site;
  }
  return { ...c.site, ...(set ?? {}) };
}
