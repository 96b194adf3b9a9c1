// What loa-provision connects to, read from the agent's config (url, CA, client
// certificate, username and password file, MQTT version) with the tool's own client id
// (`<clientId>.provision`, never the agent's own: a second connection under the agent's
// id would take its session over), --mqtt-version, the stages a connection goes through
// and the failure of one (BrokerError). broker.ts connects; broker-explain.ts says what
// failed in the technician's terms.
import { readFileSync } from 'node:fs';
import type { Config } from '../agent/config.js';
import { errorMessage, UsageError } from '../cli-kit/index.js';
import { msg, say, type Lang, type Text } from './text.js';

export type Stage = 'config' | 'dns' | 'tcp' | 'tls' | 'mqtt';

export interface BrokerTarget {
  url: string;
  host: string;
  port: number;
  tls: boolean;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipVerify: boolean;
  username?: string;
  password?: string;
  version: 5 | '3.1.1';
  /** --mqtt-version gave `version`: no fallback. */
  versionForced: boolean;
  /** What the agent's config asks for (the agent itself does not fall back). */
  configVersion: 5 | '3.1.1';
  clientId: string;
  /** For hints: where the CA, cert and password come from. */
  files: { ca?: string; cert?: string; passwordFile?: string };
}

/** What failed and what to do: Texts, in the technician's language on a terminal, English in JSON. */
export interface BrokerFailure {
  stage: Stage;
  code: string;
  detail: Text;
  hint: Text;
}

export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  constructor(
    readonly failure: BrokerFailure,
    /** The error underneath (the CONNACK refusal, the socket error), when there was one. */
    cause?: unknown,
  ) {
    super(say('en', failure.detail), cause === undefined ? undefined : { cause });
  }
}

export const PROVISION_SUFFIX = '.provision';

export function targetFromConfig(
  c: Config,
  clientId = `${c.mqtt.clientId ?? c.deviceId}${PROVISION_SUFFIX}`,
): BrokerTarget {
  const u = new URL(c.mqtt.url);
  const tls = u.protocol === 'mqtts:';
  const read = (p: string | undefined, what: string) => {
    if (p === undefined) return undefined;
    try {
      return readFileSync(p);
    } catch (err) {
      throw new BrokerError({
        stage: 'config',
        code: 'UNREADABLE',
        detail: msg('broker.unreadable', { what, path: p, error: errorMessage(err) }),
        hint: msg('broker.unreadable.hint'),
      });
    }
  };
  const t: BrokerTarget = {
    url: c.mqtt.url,
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : tls ? 8883 : 1883,
    tls,
    insecureSkipVerify: c.mqtt.insecureSkipVerify,
    version: c.mqtt.version,
    versionForced: false,
    configVersion: c.mqtt.version,
    clientId,
    files: {
      ...(c.mqtt.ca ? { ca: c.mqtt.ca } : {}),
      ...(c.mqtt.cert ? { cert: c.mqtt.cert } : {}),
      ...(c.mqtt.passwordFile ? { passwordFile: c.mqtt.passwordFile } : {}),
    },
  };
  if (tls) {
    const ca = read(c.mqtt.ca, 'mqtt.ca');
    const cert = read(c.mqtt.cert, 'mqtt.cert');
    const key = read(c.mqtt.key, 'mqtt.key');
    if (ca) t.ca = ca;
    if (cert) t.cert = cert;
    if (key) t.key = key;
  }
  if (c.mqtt.username !== undefined) t.username = c.mqtt.username;
  if (c.mqtt.passwordValue !== undefined) t.password = c.mqtt.passwordValue;
  return t;
}

/** --mqtt-version for this tool's connection: forces that version, no fallback. */
export function forceVersion(t: BrokerTarget, flag: string | undefined, lang: Lang = 'en'): BrokerTarget {
  if (flag === undefined) return t;
  if (flag !== '5' && flag !== '3.1.1') throw new UsageError(msg('check.flag.mqttVersion', { v: flag })(lang));
  return { ...t, version: flag === '5' ? 5 : '3.1.1', versionForced: true };
}

/** The one line said when the broker refused MQTT 5 and 3.1.1 was used. */
export function fallbackNotice(t: BrokerTarget, refused: string): Text {
  const agent = t.configVersion === 5 ? msg('broker.fallback.agent') : '';
  return msg('broker.fallback', { url: t.url, refused, agent });
}
