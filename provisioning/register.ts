// `loa-provision register`: tell the centre this box is installed (identity, site, key
// fingerprint, retained on {root}/d/{id}/register), then confirm that the agent the
// broker sees is running with this configuration: its birth on {root}/d/{id}/status
// from an agent that started after the configuration was last written
// (register-judge.ts says why that, and not "a birth after the registration"). In the
// documented order (start the agent, then register) the answer is there at once. When
// only the technician can change things (the agent predates the configuration, or
// systemd says it is stopped), it says what to do at once and exits 1; it waits only
// while the agent may really be on its way. --any accepts any live birth.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { DEFAULT_CONFIG_PATH } from '../agent/config.js';
import { publishTo, topicsFor, type RegisterPayload } from '../contract/index.js';
import { AGENT_VERSION } from '../contract/version.js';
import { CliError, errorMessage, EXIT, parseArgs, positionals, secondsFlag } from '../cli-kit/index.js';
import { agentUnit } from './agent-unit.js';
import { BrokerError, closeClient } from './broker.js';
import type { Exec } from './checks.js';
import type { Ui } from './io.js';
import { judgePresence, type PresenceInput, type Verdict } from './register-judge.js';
import { progress, seconds } from './report.js';
import { connectWithProgress, identityOf, loadConfigOrExit, parseJson } from './session.js';
import { msg } from './text.js';

export const REGISTER_HELP = `loa-provision register [--config ${DEFAULT_CONFIG_PATH}] [--timeout 120] [--any]

Publishes the box's identity (device id, groups, site, agent version, key fingerprint,
certificate or CSR) retained to {root}/d/{id}/register, then confirms that the agent
online on the broker started after the configuration was written (so runs with it).
Run it with the agent started:
  sudo systemctl restart loa-agent && sudo loa-provision register
An agent older than the configuration, or stopped (systemd says so): what to do, at
once, exit 1. No status yet, or the agent starting: waits for its birth.

  --timeout S     how long to wait for a birth that may come (default 120)
  --any           any live birth will do, even from an agent older than the configuration
  --client-id ID  MQTT client id for this tool (default <clientId>.provision)
  --mqtt-version 5|3.1.1  force this tool's protocol (default: the config's; from 5 it
                  falls back to 3.1.1 when the broker refuses 5, said on standard error)
  --lang vi|en    the language of the lines (default: from LANG / LC_ALL, else English);
                  what is published stays English
Exit 0: the agent is online with this configuration; 1: it is not (what to do is
printed), no birth in time, or the broker is unreachable.`;

const OPTIONS = {
  config: { kind: 'string' },
  timeout: { kind: 'string' },
  any: { kind: 'boolean' },
  'client-id': { kind: 'string' },
  'mqtt-version': { kind: 'string' },
  ascii: { kind: 'boolean' },
} as const;

export interface RegisterDeps {
  /** Without a TTY, a "still waiting" line this often (default 15 s). */
  reportEveryMs?: number;
  /** Runs `systemctl show loa-agent.service` (checks.ts execCommand). */
  exec?: Exec;
}

export async function registerCommand(argv: string[], ui: Ui, deps: RegisterDeps = {}): Promise<number> {
  const { opts: f, positional, help } = parseArgs(argv, OPTIONS, 'loa-provision register', { repeated: 'last' });
  positionals(positional, [], 'loa-provision register');
  if (help) {
    ui.out(REGISTER_HELP);
    return EXIT.OK;
  }
  const timeoutMs = secondsFlag(f.timeout, 'timeout', 120) * 1000;
  const configPath = resolve(f.config ?? DEFAULT_CONFIG_PATH);
  const c = loadConfigOrExit(configPath, ui.lang);
  const id = identityOf(c, configPath);
  const topics = topicsFor(c.topicRoot, c.deviceId, []);
  const ok = ui.unicode ? '✓' : '[ok]';
  const bad = ui.unicode ? '✗' : '[FAIL]';

  // Asked while the broker connection is made: both take a moment on a Pi.
  const unitState = agentUnit(deps.exec);
  let connected;
  try {
    connected = await connectWithProgress(ui, c, {
      timeoutMs: Math.min(timeoutMs, 30_000),
      ...(f['client-id'] ? { clientId: f['client-id'] } : {}),
      ...(f['mqtt-version'] ? { mqttVersion: f['mqtt-version'] } : {}),
    });
  } catch (err) {
    if (!(err instanceof BrokerError)) throw err;
    throw new CliError(
      ui.t('reg.unreachable', { stage: err.failure.stage.toUpperCase(), detail: err.failure.detail }),
      EXIT.FAIL,
      [`  ${ui.unicode ? '→' : '->'} ${ui.say(err.failure.hint)}`],
    );
  }
  const client = connected.client;
  try {
    const registeredAt = new Date();
    const payload: RegisterPayload = {
      deviceId: c.deviceId,
      groups: c.groups,
      site: c.site,
      agentVersion: AGENT_VERSION,
      keyFingerprint: id.fingerprint,
      keyType: id.keyType,
      certificate: id.cert
        ? { subject: id.cert.subject, issuer: id.cert.issuer, validTo: id.cert.validTo.toISOString() }
        : null,
      // The CSR travels only while no certificate is installed: the centre can sign it from here.
      csr: id.cert ? null : id.csr,
      ts: registeredAt.toISOString(),
    };
    await publishTo(client, 'register', topics.register, payload);
    ui.out(ui.t('reg.registered', { mark: ok, deviceId: c.deviceId, topic: topics.register }));
    if (id.fingerprint) ui.out(ui.t('reg.fingerprint', { fp: id.fingerprint }));
    else ui.out(ui.t('reg.noKey', { problem: id.keyProblem ?? msg('reg.unknown') }));

    const configWrittenAt = statSync(configPath).mtimeMs;
    const cfgArg = configPath === DEFAULT_CONFIG_PATH ? '' : ` --config ${configPath}`;
    const unit = await unitState;
    const v = await watchPresence(ui, client, [topics.status, topics.heartbeat], {
      judge: (p) =>
        judgePresence({
          ...p,
          configWrittenAt,
          now: Date.now(),
          any: f.any === true,
          deviceId: c.deviceId,
          configArg: cfgArg,
          ...(unit ? { unit } : {}),
        }),
      timeoutMs,
      reportEveryMs: deps.reportEveryMs ?? 15_000,
    });
    const arrow = ui.unicode ? '→' : '->';
    if (v?.kind === 'online') {
      const after = Date.parse(v.birthAt) - registeredAt.getTime();
      const when = [
        v.startedAt !== null
          ? ui.t('reg.startedAt', { at: new Date(v.startedAt).toISOString() })
          : ui.t('reg.birthAt', { at: v.birthAt }),
        v.startedAt === null && after >= 0 ? ui.t('reg.after', { time: seconds(after) }) : '',
        v.withConfig ? ui.t('reg.withConfig') : ui.t('reg.any'),
      ].join('');
      ui.out(ui.t('reg.online', { mark: ok, bootId: v.bootId, version: v.agentVersion, when }));
      return EXIT.OK;
    }
    if (v?.kind === 'act') {
      ui.out(`${bad} ${ui.say(v.problem)}`);
      ui.out(`    ${arrow} ${ui.say(v.todo)}`, { indent: 6 });
      return EXIT.FAIL;
    }
    ui.out(ui.t('reg.noBirth', { mark: bad, deviceId: c.deviceId, time: seconds(timeoutMs) }));
    ui.out(`    ${arrow} ${ui.t('reg.noBirth.hint')}`, { indent: 6 });
    return EXIT.FAIL;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(ui.t('reg.failed', { error: errorMessage(err) }));
  } finally {
    await closeClient(client);
  }
}

/**
 * Listen to the retained status and heartbeat (and what follows), judging after the
 * broker has handed over what it keeps and at each message after that. A verdict other
 * than "wait" ends it; each new note is said once; undefined on timeout.
 */
async function watchPresence(
  ui: Ui,
  client: MqttClient,
  topics: [status: string, heartbeat: string],
  o: {
    judge: (p: Pick<PresenceInput, 'status' | 'heartbeat'>) => Verdict;
    timeoutMs: number;
    reportEveryMs: number;
  },
): Promise<Exclude<Verdict, { kind: 'wait' }> | undefined> {
  const [statusTopic, heartbeatTopic] = topics;
  const seen: Pick<PresenceInput, 'status' | 'heartbeat'> = { status: null, heartbeat: null };
  const t0 = Date.now();
  const label = msg('reg.waiting', { topic: statusTopic });
  let settled = false;
  let lastNote = '';
  let spin = { stop() {} };
  let ticker: NodeJS.Timeout | undefined;
  let settleTimer: NodeJS.Timeout | undefined;
  let onMessage: ((t: string, payload: Buffer, packet: { retain: boolean }) => void) | undefined;
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(undefined), o.timeoutMs);
      const judge = () => {
        const v = o.judge(seen);
        if (v.kind !== 'wait') {
          clearTimeout(timer);
          return resolve(v);
        }
        const note = ui.say(v.note);
        if (note === lastNote) return;
        lastNote = note;
        spin.stop();
        ui.out(`  ${note}`, { indent: 4 });
        spin = progress(ui, label);
        if (!ui.tty && !ticker) {
          ui.out(ui.t('reg.waitingUpTo', { time: seconds(o.timeoutMs), topic: statusTopic }));
          ticker = setInterval(
            () => ui.out(ui.t('reg.stillWaiting', { elapsed: seconds(Date.now() - t0), total: seconds(o.timeoutMs) })),
            o.reportEveryMs,
          );
        }
      };
      const settle = () => {
        if (settled) return;
        settled = true;
        clearTimeout(settleTimer);
        judge();
      };
      onMessage = (t, payload, packet) => {
        if (t !== statusTopic && t !== heartbeatTopic) return;
        const m = parseJson(payload);
        if (!m) return;
        if (t === statusTopic) seen.status = m;
        else seen.heartbeat = m;
        // The retained pair first (the broker sends them right after the SUBACK), then live.
        if (settled) judge();
        else if (seen.status && seen.heartbeat) settle();
        else if (!packet.retain) settle();
      };
      client.on('message', onMessage);
      client.subscribeAsync([statusTopic, heartbeatTopic], { qos: 1 }).then(() => {
        if (!settled) settleTimer = setTimeout(settle, 1500);
      }, reject);
    });
  } finally {
    clearTimeout(settleTimer);
    if (onMessage) client.removeListener('message', onMessage);
    spin.stop();
    clearInterval(ticker);
  }
}
