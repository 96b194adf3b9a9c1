// `loa-provision show`: who this box is and what it runs with (identity, key
// fingerprint, broker and TLS mode, board, trusted keys, directories), then what the
// centre sees of it right now: the retained birth/death, heartbeat and last check report
// the broker holds for this device, and the last schedules and commands the agent
// refused, from its journal and outbox (refusals.ts). When the broker cannot be
// reached, one clear line says so and why, and the local parts are still shown.
import { resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH, type Config } from '../agent/config.js';
import { topicsFor } from '../contract/index.js';
import { EXIT, parseArgs, positionals, secondsFlag } from '../cli-kit/index.js';
import { BrokerError, closeClient } from './broker.js';
import type { Ui } from './io.js';
import { shortFingerprint } from './keys.js';
import { describeKeys, gapsText, trustGaps } from './trust.js';
import { soundSummary, soundText } from './commissioning.js';
import { soundFiles } from '../agent/adapters/sound-files.js';
import { journalctl, type Journal } from './journal.js';
import { recentRefusals, refusalRow, type RecentRefusals } from './refusals.js';
import { seconds } from './report.js';
import { msg, say, type Lang } from './text.js';
import { padDisplay } from './wrap.js';
import {
  connectWithProgress,
  identityOf,
  loadConfigOrExit,
  parseJson,
  readRetained,
  type Identity,
} from './session.js';

export const SHOW_HELP = `loa-provision show [--config ${DEFAULT_CONFIG_PATH}] [--json] [--timeout 10] [--mqtt-version 5|3.1.1]

Identity, key fingerprint and configuration summary, then the agent's live state as
the broker holds it (retained status, heartbeat and last check report).
The config's MQTT version is used; from 5 it falls back to 3.1.1 when the broker
refuses 5 (said on standard error); --mqtt-version forces one.
--lang vi|en: the language of the lines (default: from LANG / LC_ALL, else English);
--json stays English.
Exit 0; 1 when the broker cannot be reached; 78 when the config is invalid.`;

const OPTIONS = {
  config: { kind: 'string' },
  json: { kind: 'boolean' },
  timeout: { kind: 'string' },
  'client-id': { kind: 'string' },
  'mqtt-version': { kind: 'string' },
  ascii: { kind: 'boolean' },
} as const;

export interface ShowDeps {
  now?: () => Date;
  /** Runs journalctl (journal.ts), for the refusals. */
  journal?: Journal;
  /** The zone of the refusals' times (default: the machine's). */
  timeZone?: string;
}

interface Live {
  reachable: boolean;
  error?: { stage: string; detail: string; hint: string };
  /** The error's detail and hint in the technician's language (not in --json). */
  said?: { detail: string; hint: string };
  status: Record<string, unknown> | null;
  heartbeat: Record<string, unknown> | null;
  check: Record<string, unknown> | null;
  heartbeatAgeS: number | null;
}

export async function showCommand(argv: string[], ui: Ui, deps: ShowDeps = {}): Promise<number> {
  const { opts: f, positional, help } = parseArgs(argv, OPTIONS, 'loa-provision show', { repeated: 'last' });
  positionals(positional, [], 'loa-provision show');
  if (help) {
    ui.out(SHOW_HELP);
    return EXIT.OK;
  }
  const configPath = resolve(f.config ?? DEFAULT_CONFIG_PATH);
  const timeoutMs = secondsFlag(f.timeout, 'timeout', 10) * 1000;
  const now = deps.now ?? (() => new Date());
  const c = loadConfigOrExit(configPath, ui.lang);
  const id = identityOf(c, configPath);
  const live = await readLive(
    f.json ? { ...ui, tty: false } : ui,
    c,
    {
      timeoutMs,
      ...(f['client-id'] ? { clientId: f['client-id'] } : {}),
      ...(f['mqtt-version'] ? { mqttVersion: f['mqtt-version'] } : {}),
    },
    now,
  );
  const refusals = await recentRefusals({ journal: deps.journal ?? journalctl, stateDir: c.stateDir });

  if (f.json) {
    // What a program reads stays English, whatever the technician's language.
    const refused = {
      items: refusals.items.map((r) => ({ ...r, at: new Date(r.at).toISOString() })),
      ...(refusals.journalProblem ? { journalProblem: say('en', refusals.journalProblem) } : {}),
      ...(refusals.outboxProblem ? { outboxProblem: say('en', refusals.outboxProblem) } : {}),
    };
    ui.out(
      JSON.stringify(
        { configPath, identity: identityJson(c, id), config: summaryJson(c), live: liveJson(live), refusals: refused },
        null,
        2,
      ),
      { wrap: false },
    );
    return live.reachable ? EXIT.OK : EXIT.FAIL;
  }
  printLocal(ui, c, configPath, id);
  printLive(ui, live);
  printRefusals(ui, refusals, deps.timeZone);
  return live.reachable ? EXIT.OK : EXIT.FAIL;
}

async function readLive(
  ui: Ui,
  c: Config,
  o: { timeoutMs: number; clientId?: string; mqttVersion?: string },
  now: () => Date,
): Promise<Live> {
  const t = topicsFor(c.topicRoot, c.deviceId, []);
  let connected;
  try {
    connected = await connectWithProgress(ui, c, o);
  } catch (err) {
    if (!(err instanceof BrokerError)) throw err;
    const e = err.failure;
    return {
      reachable: false,
      error: { stage: e.stage, detail: say('en', e.detail), hint: say('en', e.hint) },
      said: { detail: ui.say(e.detail), hint: ui.say(e.hint) },
      status: null,
      heartbeat: null,
      check: null,
      heartbeatAgeS: null,
    };
  }
  try {
    const got = await readRetained(connected.client, [t.status, t.heartbeat, t.check]);
    const heartbeat = parseJson(got.get(t.heartbeat));
    const hbTs = heartbeat ? Date.parse(String(heartbeat.ts)) : NaN;
    return {
      reachable: true,
      status: parseJson(got.get(t.status)),
      heartbeat,
      check: parseJson(got.get(t.check)),
      heartbeatAgeS: Number.isFinite(hbTs) ? Math.max(0, Math.round((now().getTime() - hbTs) / 1000)) : null,
    };
  } finally {
    await closeClient(connected.client);
  }
}

/** `live` as --json gives it (English only). */
function liveJson(live: Live): Omit<Live, 'said'> {
  const { said: _said, ...json } = live;
  return json;
}

function tlsMode(c: Config, lang: Lang = 'en'): string {
  const tx = (k: Parameters<typeof msg>[0], v?: Parameters<typeof msg>[1]) => msg(k, v)(lang);
  if (!c.mqtt.url.startsWith('mqtts:')) return tx('show.tls.none');
  const server = c.mqtt.insecureSkipVerify
    ? tx('check.broker.unverified')
    : tx('show.tls.verified', { ca: c.mqtt.ca ?? msg('broker.systemCas') });
  return `${server}; ${c.mqtt.cert ? tx('show.tls.mutual', { cert: c.mqtt.cert }) : tx('show.tls.noCert')}`;
}

function hardwareText(c: Config, lang: Lang = 'en'): string {
  const tx = (k: Parameters<typeof msg>[0], v?: Parameters<typeof msg>[1]) => msg(k, v)(lang);
  const h = c.hardware;
  if (h.board === 'mcu') return tx('show.board.mcu', { path: h.mcu.path, baud: h.mcu.baudRate, s: h.mcu.watchdogS });
  if (h.board === 'gpio' && h.gpio) {
    const p = h.gpio.pins;
    const pin = (x: { line: number; activeLow: boolean } | undefined) =>
      x ? `GPIO${x.line}${x.activeLow ? tx('show.pin.low') : ''}` : tx('show.none');
    return tx('show.board.gpio', {
      backend: h.gpio.backend,
      amp: pin(p.amp),
      fm: pin(p.inputFm),
      line: pin(p.inputLine),
      fault: pin(p.ampFault),
    });
  }
  return tx('show.board.sim');
}

function audioText(c: Config, lang: Lang = 'en'): string {
  const out = c.audio.output === 'alsa' ? `ALSA ${c.audio.device}` : msg('show.audio.paced');
  return msg('show.audio', { player: c.audio.player, out, max: c.audio.maxVolume })(lang);
}
function identityJson(c: Config, id: Identity) {
  return {
    deviceId: c.deviceId,
    groups: c.groups,
    site: c.site,
    key: {
      path: id.keyPath,
      type: id.keyType,
      fingerprint: id.fingerprint,
      problem: id.keyProblem === undefined ? null : say('en', id.keyProblem),
    },
    certificate: id.cert
      ? { path: id.cert.path, subject: id.cert.subject, issuer: id.cert.issuer, validTo: id.cert.validTo.toISOString() }
      : null,
    csr: id.csrPath,
  };
}

function summaryJson(c: Config) {
  return {
    broker: c.mqtt.url,
    mqttVersion: c.mqtt.version,
    tls: tlsMode(c),
    username: c.mqtt.username ?? null,
    passwordFile: c.mqtt.passwordFile ?? null,
    topicRoot: c.topicRoot,
    hardware: hardwareText(c),
    trustedKeys: c.trustedKeys.map((k) => k.kid),
    stateDir: c.stateDir,
    cacheDir: c.cacheDir,
    sound: soundSummary(soundFiles(c.stateDir)),
    audio: audioText(c),
  };
}

function printLocal(ui: Ui, c: Config, configPath: string, id: Identity): void {
  const s = c.site;
  const t = ui.t;
  const row = (k: Parameters<Ui['t']>[0], v: string) => ui.out(`  ${padDisplay(t(k), 13)} ${v}`, { indent: 16 });
  ui.out(`${c.deviceId}  (${configPath})`);
  row('show.row.groups', c.groups.join(', ') || t('show.none'));
  row(
    'show.row.site',
    [
      s.communeName,
      s.communeCode && t('show.code', { code: s.communeCode }),
      s.province && t('show.province', { province: s.province }),
    ]
      .filter(Boolean)
      .join(', ') || t('show.notRecorded'),
  );
  if (s.lat !== undefined || s.lon !== undefined) row('show.row.position', `${s.lat ?? '?'}, ${s.lon ?? '?'}`);
  if (s.installer || s.installedAt)
    row('show.row.installed', t('show.installed', { at: s.installedAt ?? '?', who: s.installer ?? '?' }));
  row(
    'show.row.key',
    id.fingerprint
      ? `${id.keyType}, sha256 ${shortFingerprint(id.fingerprint)} … (${id.keyPath})`
      : `${ui.say(id.keyProblem ?? '')} (${id.keyPath})`,
  );
  if (id.cert) {
    const days = Math.floor((id.cert.validTo.getTime() - Date.now()) / 86_400_000);
    row(
      'show.row.cert',
      t('show.cert', {
        subject: id.cert.subject,
        issuer: id.cert.issuer.replace(/^.*CN=/, 'CN='),
        validity: days >= 0 ? t('show.cert.days', { days }) : t('show.cert.expired'),
      }),
    );
  } else if (id.csrPath) row('show.row.cert', t('show.cert.none', { csr: id.csrPath }));
  row(
    'show.row.broker',
    t('show.broker', {
      url: c.mqtt.url,
      version: String(c.mqtt.version),
      user: c.mqtt.username ?? t('show.none'),
      password: c.mqtt.passwordFile ? t('show.broker.password', { file: c.mqtt.passwordFile }) : '',
    }),
  );
  row('show.row.tls', tlsMode(c, ui.lang));
  row('show.row.board', hardwareText(c, ui.lang));
  row('show.row.audio', audioText(c, ui.lang));
  const gaps = trustGaps(c.trustedKeys);
  row(
    'show.row.trust',
    describeKeys(c.trustedKeys, ui.lang) +
      (gaps.length ? t('show.trust.refused', { gaps: gapsText(gaps, 'and') }) : ''),
  );
  row('show.row.dirs', t('show.dirs', { state: c.stateDir, cache: c.cacheDir }));
  const sound = soundText(soundFiles(c.stateDir), ui.lang);
  row('show.row.commissioned', sound.baseline);
  row('show.row.lastSound', sound.last);
}

function age(s: number, lang: Lang): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return msg('show.age.days', { n: Math.round(s / 86_400) })(lang);
}

function printLive(ui: Ui, live: Live): void {
  const t = ui.t;
  ui.out('');
  if (!live.reachable) {
    ui.out(t('show.live.unknown', { stage: live.error!.stage.toUpperCase(), detail: live.said!.detail }));
    ui.out(`  ${ui.unicode ? '→' : '->'} ${live.said!.hint}`);
    return;
  }
  const st = live.status;
  if (!st) ui.out(t('show.agent.never'));
  else if (st.online === true)
    ui.out(
      t('show.agent.online', {
        ts: String(st.ts),
        bootId: String(st.bootId),
        version: String(st.agentVersion ?? '?'),
      }),
    );
  else
    ui.out(
      t('show.agent.offline', {
        reason: String(st.reason ?? '?'),
        at: st.ts ? msg('reg.at', { ts: String(st.ts) }) : '',
        bootId: String(st.bootId),
      }),
    );
  const hb = live.heartbeat;
  const sub = (k: Parameters<Ui['t']>[0], v: string) => ui.out(`  ${padDisplay(t(k), 9)} ${v}`);
  if (!hb) {
    ui.out(t('show.hb.none'));
  } else {
    const stale = live.heartbeatAgeS !== null && live.heartbeatAgeS > 180 ? t('show.hb.stale') : '';
    const ageText = live.heartbeatAgeS === null ? '?' : t('show.ago', { age: age(live.heartbeatAgeS, ui.lang) });
    const playing = hb.playing as { itemId?: string; source?: string } | null;
    const amp = hb.amp as { on?: boolean; fault?: boolean } | null;
    const schedule = (hb.schedule as { id: string; version: number }[] | undefined) ?? [];
    const same = st && hb.bootId === st.bootId ? '' : t('show.hb.otherBoot');
    ui.out(
      t('show.hb', {
        age: ageText,
        stale,
        same,
        uptime: age(Number(hb.uptimeS ?? 0), ui.lang),
        state: String(hb.state),
      }),
    );
    sub(
      'show.hb.playing',
      t('show.hb.volume', {
        what: playing ? `${playing.itemId} (${playing.source})` : t('show.hb.nothing'),
        volume: String(hb.volume ?? '?'),
      }),
    );
    const faults = [hb.state === 'fault' ? t('show.hb.stateFault') : '', amp?.fault ? t('show.hb.ampFault') : ''];
    sub(
      'show.hb.faults',
      t('show.hb.amp', {
        faults: faults.filter(Boolean).join(', ') || t('show.none'),
        amp: amp ? (amp.on ? t('show.hb.on') : t('show.hb.off')) : '?',
      }),
    );
    sub('show.hb.outbox', t('show.hb.events', { n: String(hb.outbox ?? '?') }));
    sub('show.hb.schedules', schedule.map((d) => `${d.id} v${d.version}`).join(', ') || t('show.none'));
  }
  const ck = live.check;
  if (ck)
    ui.out(
      t('show.lastCheck', {
        result: ck.passed ? t('show.check.passed') : t('show.check.failed'),
        ts: String(ck.ts),
        time: seconds(Number(ck.totalMs ?? 0)),
      }),
    );
}

function printRefusals(ui: Ui, r: RecentRefusals, timeZone?: string): void {
  ui.out('');
  const unread = [
    r.journalProblem && ui.t('show.notRead.journal', { problem: r.journalProblem }),
    r.outboxProblem && ui.t('show.notRead.outbox', { problem: r.outboxProblem }),
  ];
  if (r.items.length === 0) ui.out(ui.t('show.refused.none'));
  else {
    ui.out(ui.t('show.refused', { n: r.items.length }));
    for (const x of r.items) ui.out(`  ${refusalRow(x, timeZone, ui.lang)}`, { indent: 4 });
  }
  for (const u of unread) if (u) ui.out(ui.t('show.notRead', { what: u }), { indent: 4 });
}
