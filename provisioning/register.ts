// `loa-provision register`: tell the centre this box is installed (identity, site, key
// fingerprint, retained on {root}/d/{id}/register), then wait until the agent itself is
// seen on the broker: a retained birth on {root}/d/{id}/status with online:true and a
// timestamp after the registration, which proves the agent started (or restarted) with
// this configuration and reached the centre. --any accepts any birth.
import { resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../agent/config.js';
import { publishTo, topicsFor, type RegisterPayload } from '../contract/index.js';
import { AGENT_VERSION } from '../contract/version.js';
import { CliError, errorMessage, EXIT, parseArgs, positionals, secondsFlag } from '../cli-kit/index.js';
import { BrokerError, closeClient } from './broker.js';
import type { Ui } from './io.js';
import { progress, seconds } from './report.js';
import { connectWithProgress, identityOf, loadConfigOrExit, parseJson } from './session.js';

export const REGISTER_HELP = `loa-provision register [--config ${DEFAULT_CONFIG_PATH}] [--timeout 120] [--any]

Publishes the box's identity (device id, groups, site, agent version, key fingerprint,
certificate or CSR) retained to {root}/d/{id}/register, then waits for the agent's
birth on {root}/d/{id}/status newer than that. Start or restart the agent meanwhile:
  sudo systemctl restart loa-agent

  --timeout S     how long to wait for the birth (default 120)
  --any           any birth will do, even one from before this registration
  --client-id ID  MQTT client id for this tool (default <clientId>.provision)
  --mqtt-version 5|3.1.1  force this tool's protocol (default: the config's; from 5 it
                  falls back to 3.1.1 when the broker refuses 5, said on standard error)
Exit 0: the agent is online; 1: no birth in time (or the broker is unreachable).`;

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
  const c = loadConfigOrExit(configPath);
  const id = identityOf(c, configPath);
  const topics = topicsFor(c.topicRoot, c.deviceId, []);
  const ok = ui.unicode ? '✓' : '[ok]';
  const bad = ui.unicode ? '✗' : '[FAIL]';

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
      `cannot reach the broker: ${err.failure.stage.toUpperCase()}: ${err.failure.detail}`,
      EXIT.FAIL,
      [`  ${ui.unicode ? '→' : '->'} ${err.failure.hint}`],
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
    ui.out(`${ok} registered ${c.deviceId} on ${topics.register} (retained)`);
    if (id.fingerprint) ui.out(`  key fingerprint (sha256): ${id.fingerprint}`);
    else ui.out(`  no device key: ${id.keyProblem ?? 'unknown'}`);

    const birth = await waitForBirth(ui, client, topics.status, {
      since: registeredAt,
      any: f.any === true,
      timeoutMs,
      reportEveryMs: deps.reportEveryMs ?? 15_000,
    });
    if (birth) {
      const after = Date.parse(String(birth.ts)) - registeredAt.getTime();
      ui.out(
        `${ok} agent online: bootId ${String(birth.bootId)}, agent ${String(birth.agentVersion ?? '?')}, birth at ${String(birth.ts)}${after >= 0 ? ` (${seconds(after)} after registering)` : ''}`,
      );
      return EXIT.OK;
    }
    ui.out(`${bad} no birth from the agent of ${c.deviceId} within ${seconds(timeoutMs)}`);
    ui.out(
      `    ${ui.unicode ? '→' : '->'} is loa-agent running? sudo systemctl restart loa-agent; sudo systemctl status loa-agent; journalctl -u loa-agent -n 50 (then loa-provision check)`,
    );
    return EXIT.FAIL;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`register failed: ${errorMessage(err)}`);
  } finally {
    await closeClient(client);
  }
}

async function waitForBirth(
  ui: Ui,
  client: import('mqtt').MqttClient,
  topic: string,
  o: { since: Date; any: boolean; timeoutMs: number; reportEveryMs: number },
): Promise<Record<string, unknown> | undefined> {
  const t0 = Date.now();
  let noted = false;
  const label = `waiting for the agent's birth on ${topic}`;
  let spin = progress(ui, label);
  let ticker: NodeJS.Timeout | undefined;
  if (!ui.tty) {
    ui.out(`waiting up to ${seconds(o.timeoutMs)} for the agent's birth on ${topic}`);
    ticker = setInterval(
      () => ui.out(`  still waiting (${seconds(Date.now() - t0)} of ${seconds(o.timeoutMs)})`),
      o.reportEveryMs,
    );
  }
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(undefined), o.timeoutMs);
      const finish = (v: Record<string, unknown> | undefined) => {
        clearTimeout(timer);
        client.removeListener('message', onMessage);
        resolve(v);
      };
      const onMessage = (t: string, payload: Buffer) => {
        if (t !== topic) return;
        const m = parseJson(payload);
        if (!m) return;
        const ts = Date.parse(String(m.ts));
        if (m.online === true && (o.any || (Number.isFinite(ts) && ts >= o.since.getTime()))) return finish(m);
        if (noted) return;
        noted = true;
        // An older status is what the broker kept: say what it means while we wait.
        spin.stop();
        if (m.online === true)
          ui.out(
            `  the broker holds an older birth (${String(m.ts)}, bootId ${String(m.bootId)}): the agent has not reconnected since; restart it (sudo systemctl restart loa-agent) or use --any`,
          );
        else
          ui.out(
            `  the last status is offline (${String(m.reason ?? '?')}${m.ts ? ` at ${String(m.ts)}` : ''}, bootId ${String(m.bootId)}): start the agent (sudo systemctl restart loa-agent)`,
          );
        spin = progress(ui, label);
      };
      client.on('message', onMessage);
      client.subscribeAsync(topic, { qos: 1 }).catch(reject);
    });
  } finally {
    spin.stop();
    clearInterval(ticker);
  }
}
