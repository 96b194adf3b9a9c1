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
import { describeKeys, trustGaps } from './trust.js';
import { soundSummary } from './commissioning.js';
import { soundFiles } from '../agent/adapters/sound-files.js';
import { journalctl, type Journal } from './journal.js';
import { recentRefusals, refusalRow, type RecentRefusals } from './refusals.js';
import { seconds } from './report.js';
import { say } from './text.js';
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
  const c = loadConfigOrExit(configPath);
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
    const refused = { ...refusals, items: refusals.items.map((r) => ({ ...r, at: new Date(r.at).toISOString() })) };
    ui.out(
      JSON.stringify(
        { configPath, identity: identityJson(c, id), config: summaryJson(c), live, refusals: refused },
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

function tlsMode(c: Config): string {
  if (!c.mqtt.url.startsWith('mqtts:')) return 'none (plain mqtt://)';
  const server = c.mqtt.insecureSkipVerify
    ? 'server NOT verified (insecureSkipVerify)'
    : `server verified by ${c.mqtt.ca ?? 'the system CAs'}`;
  return `${server}; ${c.mqtt.cert ? `mutual TLS with ${c.mqtt.cert}` : 'no client certificate'}`;
}

function hardwareText(c: Config): string {
  const h = c.hardware;
  if (h.board === 'mcu') return `mcu on ${h.mcu.path} (${h.mcu.baudRate} baud, watchdog ${h.mcu.watchdogS} s)`;
  if (h.board === 'gpio' && h.gpio) {
    const p = h.gpio.pins;
    const pin = (x: { line: number; activeLow: boolean } | undefined) =>
      x ? `GPIO${x.line}${x.activeLow ? ' (active low)' : ''}` : 'none';
    return `gpio (${h.gpio.backend}): amp ${pin(p.amp)}, fm ${pin(p.inputFm)}, line ${pin(p.inputLine)}, fault ${pin(p.ampFault)}`;
  }
  return 'sim (no hardware)';
}

function identityJson(c: Config, id: Identity) {
  return {
    deviceId: c.deviceId,
    groups: c.groups,
    site: c.site,
    key: { path: id.keyPath, type: id.keyType, fingerprint: id.fingerprint, problem: id.keyProblem ?? null },
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
    audio: `${c.audio.player} → ${c.audio.output === 'alsa' ? `ALSA ${c.audio.device}` : 'paced (no card)'}, max volume ${c.audio.maxVolume} %`,
  };
}

function printLocal(ui: Ui, c: Config, configPath: string, id: Identity): void {
  const s = c.site;
  const row = (k: string, v: string) => ui.out(`  ${k.padEnd(13)} ${v}`, { indent: 16 });
  ui.out(`${c.deviceId}  (${configPath})`);
  row('groups', c.groups.join(', ') || 'none');
  row(
    'site',
    [s.communeName, s.communeCode && `code ${s.communeCode}`, s.province && `province ${s.province}`]
      .filter(Boolean)
      .join(', ') || 'not recorded',
  );
  if (s.lat !== undefined || s.lon !== undefined) row('position', `${s.lat ?? '?'}, ${s.lon ?? '?'}`);
  if (s.installer || s.installedAt) row('installed', `${s.installedAt ?? '?'} by ${s.installer ?? '?'}`);
  row(
    'device key',
    id.fingerprint
      ? `${id.keyType}, sha256 ${shortFingerprint(id.fingerprint)} … (${id.keyPath})`
      : `${id.keyProblem} (${id.keyPath})`,
  );
  if (id.cert) {
    const days = Math.floor((id.cert.validTo.getTime() - Date.now()) / 86_400_000);
    row(
      'certificate',
      `${id.cert.subject}, by ${id.cert.issuer.replace(/^.*CN=/, 'CN=')}, ${days >= 0 ? `valid ${days} more days` : 'EXPIRED'}`,
    );
  } else if (id.csrPath) row('certificate', `none yet; ${id.csrPath} awaits signing by the centre`);
  const j = summaryJson(c);
  row(
    'broker',
    `${j.broker} (MQTT ${j.mqttVersion}), user ${j.username ?? 'none'}${j.passwordFile ? `, password in ${j.passwordFile}` : ''}`,
  );
  row('TLS', j.tls);
  row('board', j.hardware);
  row('audio', j.audio);
  row(
    'trusted keys',
    describeKeys(c.trustedKeys) +
      (trustGaps(c.trustedKeys).length ? `: ALL ${trustGaps(c.trustedKeys).join(' and ')} REFUSED` : ''),
  );
  row('directories', `state ${c.stateDir}, cache ${c.cacheDir}`);
  const sound = soundSummary(soundFiles(c.stateDir));
  row('commissioned', sound.baseline);
  row('last sound', sound.last);
}

function age(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}

function printLive(ui: Ui, live: Live): void {
  ui.out('');
  if (!live.reachable) {
    ui.out(
      `Live state: UNKNOWN: the broker cannot be reached (${live.error!.stage.toUpperCase()}: ${live.error!.detail})`,
    );
    ui.out(`  ${ui.unicode ? '→' : '->'} ${live.error!.hint}`);
    return;
  }
  const st = live.status;
  if (!st) ui.out('Agent: never seen on this broker (no retained status)');
  else if (st.online === true)
    ui.out(
      `Agent: ONLINE since ${String(st.ts)}, bootId ${String(st.bootId)}, agent ${String(st.agentVersion ?? '?')}`,
    );
  else
    ui.out(
      `Agent: OFFLINE (${String(st.reason ?? '?')}${st.ts ? ` at ${String(st.ts)}` : ''}), last bootId ${String(st.bootId)}`,
    );
  const hb = live.heartbeat;
  if (!hb) {
    ui.out('Heartbeat: none retained');
  } else {
    const stale = live.heartbeatAgeS !== null && live.heartbeatAgeS > 180 ? ' (STALE)' : '';
    const ageText = live.heartbeatAgeS === null ? '?' : `${age(live.heartbeatAgeS)} ago`;
    const playing = hb.playing as { itemId?: string; source?: string } | null;
    const amp = hb.amp as { on?: boolean; fault?: boolean } | null;
    const schedule = (hb.schedule as { id: string; version: number }[] | undefined) ?? [];
    const same = st && hb.bootId === st.bootId ? '' : ' (another boot than the status)';
    ui.out(`Heartbeat: ${ageText}${stale}${same}, uptime ${age(Number(hb.uptimeS ?? 0))}, state ${String(hb.state)}`);
    ui.out(
      `  playing   ${playing ? `${playing.itemId} (${playing.source})` : 'nothing'}; volume ${String(hb.volume ?? '?')}`,
    );
    const faults = [hb.state === 'fault' ? 'state fault' : '', amp?.fault ? 'amplifier fault' : ''].filter(Boolean);
    ui.out(`  faults    ${faults.join(', ') || 'none'}; amplifier ${amp ? (amp.on ? 'on' : 'off') : '?'}`);
    ui.out(`  outbox    ${String(hb.outbox ?? '?')} event(s) waiting`);
    ui.out(`  schedules ${schedule.map((d) => `${d.id} v${d.version}`).join(', ') || 'none'}`);
  }
  const ck = live.check;
  if (ck)
    ui.out(`Last check: ${ck.passed ? 'passed' : 'FAILED'} at ${String(ck.ts)} (${seconds(Number(ck.totalMs ?? 0))})`);
}

function printRefusals(ui: Ui, r: RecentRefusals, timeZone?: string): void {
  ui.out('');
  const unread = [r.journalProblem && `journal: ${r.journalProblem}`, r.outboxProblem && `outbox: ${r.outboxProblem}`];
  if (r.items.length === 0) ui.out('Refused lately: none found');
  else {
    ui.out(`Refused lately (the last ${r.items.length}, oldest first):`);
    for (const x of r.items) ui.out(`  ${refusalRow(x, timeZone)}`, { indent: 4 });
  }
  for (const u of unread) if (u) ui.out(`  (not read: ${u})`, { indent: 4 });
}
