// What `register` and `show` share: the config (exit 78 when the agent would refuse
// it), the device's identity as files on disk, a broker connection with progress, and
// reading the retained messages the broker holds for this box.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { ConfigError, loadConfig, type Config } from '../agent/config.js';
import { CliError, EXIT } from '../cli-kit/index.js';
import { connectBroker, forceVersion, targetFromConfig, type Connected } from './broker.js';
import type { Ui } from './io.js';
import { certInfo, describeKey, fingerprintOf, readCertificate, readPrivateKey, type CertInfo } from './keys.js';
import { withProgress } from './report.js';
import { msg, type Lang, type Text } from './text.js';

export function loadConfigOrExit(path: string, lang: Lang = 'en'): Config {
  try {
    return loadConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new CliError(msg('session.configError', { code: err.code, path })(lang), EXIT.CONFIG, [
        ...err.problems.map((p) => `  ${p}`),
        msg('session.configError.fix')(lang),
      ]);
    }
    throw err;
  }
}

export interface Identity {
  keyPath: string;
  keyType: string | null;
  fingerprint: string | null;
  keyProblem?: Text;
  cert: (CertInfo & { path: string }) | null;
  csrPath: string | null;
  csr: string | null;
}

/** The device key (mqtt.key, else device.key next to the config), its certificate and its CSR. */
export function identityOf(c: Config, configPath: string): Identity {
  const dir = dirname(configPath);
  const keyPath = c.mqtt.key ?? join(dir, 'device.key');
  const id: Identity = { keyPath, keyType: null, fingerprint: null, cert: null, csrPath: null, csr: null };
  try {
    const key = readPrivateKey(keyPath);
    id.keyType = describeKey(key);
    id.fingerprint = fingerprintOf(key);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    id.keyProblem =
      e.code === 'ENOENT' ? msg('session.noKey') : e.code === 'EACCES' ? msg('session.keyUnreadable') : e.message;
  }
  if (c.mqtt.cert) {
    try {
      id.cert = { path: c.mqtt.cert, ...certInfo(readCertificate(c.mqtt.cert)) };
    } catch {
      id.cert = null;
    }
  }
  const csrPath = join(dir, 'device.csr');
  if (existsSync(csrPath)) {
    id.csrPath = csrPath;
    try {
      id.csr = readFileSync(csrPath, 'utf8');
    } catch {
      id.csr = null;
    }
  }
  return id;
}

/** The broker connection of register and show: the config's, or --mqtt-version's; a fallback to 3.1.1 is said on stderr. */
export async function connectWithProgress(
  ui: Ui,
  c: Config,
  o: { timeoutMs: number; clientId?: string; mqttVersion?: string },
): Promise<Connected> {
  const t = forceVersion(targetFromConfig(c, o.clientId), o.mqttVersion, ui.lang);
  let notice: Text | undefined;
  const connected = await withProgress(ui, msg('check.connecting', { host: t.host, port: t.port }), () =>
    connectBroker(t, { timeoutMs: o.timeoutMs, onFallback: (l) => (notice = l) }),
  );
  // After the progress line is done, so the notice stands on its own line.
  if (notice) ui.err(ui.say(notice));
  return connected;
}

/**
 * Subscribe and collect what the broker hands over as retained: it sends retained
 * messages right after the SUBACK, so a short settle time after it is enough; returns
 * early once every topic has one.
 */
export async function readRetained(
  client: MqttClient,
  topics: readonly string[],
  settleMs = 1500,
): Promise<Map<string, Buffer>> {
  const got = new Map<string, Buffer>();
  let wake: (() => void) | undefined;
  const onMessage = (topic: string, payload: Buffer, packet: { retain: boolean }) => {
    if (!topics.includes(topic) || !packet.retain) return;
    got.set(topic, payload);
    if (got.size === topics.length) wake?.();
  };
  client.on('message', onMessage);
  try {
    await client.subscribeAsync([...topics], { qos: 1 });
    if (got.size < topics.length) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, settleMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    client.removeListener('message', onMessage);
  }
  return got;
}

export function parseJson(b: Buffer | undefined): Record<string, unknown> | null {
  if (!b || b.length === 0) return null;
  try {
    const v = JSON.parse(b.toString('utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
