// Connecting to the broker, shared by every subcommand that talks MQTT: the same
// options (--broker, TLS files, credentials, MQTT version), one-line errors that say
// what to check, and the protocol fallback: without --mqtt-version, MQTT 5 is tried
// first and a broker that refuses it for its version (CONNACK 1 on 3.1.1, 132 on 5:
// the demo's embedded aedes, older brokers) is asked again with 3.1.1, said in one line
// on standard error. --mqtt-version 5 or 3.1.1 forces one, without fallback.
import { readFileSync } from 'node:fs';
import type { IClientOptions, MqttClient } from 'mqtt';
import { mqtt } from '../cli-kit/mqtt-lib.js';
import { errorMessage, Failure, type Opts, refusedVersion, UsageError, withTimeout } from '../cli-kit/index.js';
import { checkRoot } from './topics.js';
import { DEFAULT_ROOT } from '../contract/index.js';

export const BROKER_SPEC = {
  broker: { kind: 'string' },
  root: { kind: 'string' },
  username: { kind: 'string' },
  password: { kind: 'string' },
  'password-file': { kind: 'string' },
  ca: { kind: 'string' },
  cert: { kind: 'string' },
  'key-tls': { kind: 'string' },
  'mqtt-version': { kind: 'string' },
  'connect-timeout': { kind: 'number', min: 1 },
} as const;

export const BROKER_HELP = `Broker options:
  --broker URL            mqtt://host:1883 or mqtts://host:8883 (or env NOC_BROKER)
  --root PREFIX           topic root (default ${DEFAULT_ROOT})
  --username U            --password P | --password-file F (or env NOC_PASSWORD)
  --ca F --cert F --key-tls F   TLS: CA bundle, client certificate and its key (PEM)
  --mqtt-version 5|3.1.1  force a protocol (default: 5, falling back to 3.1.1 when
                          the broker refuses 5, said in one line on standard error)
  --connect-timeout S     give up connecting after S seconds (default 10)`;

export interface BrokerConfig {
  url: string;
  root: string;
  /** protocolVersion is the first one tried: 5 unless --mqtt-version 3.1.1. */
  options: IClientOptions;
  /** --mqtt-version was given: no fallback. */
  versionForced: boolean;
  /** Where the fallback notice goes (standard error). */
  say: (line: string) => void;
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${flag} ${path}: ${errorMessage(err)}`);
  }
}

export function brokerConfig(
  o: Opts<typeof BROKER_SPEC>,
  env: NodeJS.ProcessEnv = process.env,
  say: (line: string) => void = (l) => void process.stderr.write(l + '\n'),
): BrokerConfig {
  const url = o.broker ?? env.NOC_BROKER;
  if (!url) throw new UsageError('--broker is required, e.g. --broker mqtt://127.0.0.1:1883 (or set NOC_BROKER)');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--broker "${url}" is not a URL; expected mqtt://host:port or mqtts://host:port`);
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(u.protocol) || u.hostname === '') {
    throw new UsageError(`--broker "${url}" must be mqtt://host:port or mqtts://host:port`);
  }
  const version = o['mqtt-version'] ?? '5';
  if (version !== '5' && version !== '3.1.1')
    throw new UsageError(`--mqtt-version must be 5 or 3.1.1 (got "${version}")`);
  let password = o.password ?? env.NOC_PASSWORD;
  if (o['password-file']) password = readPem(o['password-file'], '--password-file').toString('utf8').trim();
  const tls = u.protocol === 'mqtts:' || u.protocol === 'wss:';
  if (!tls && (o.ca || o.cert || o['key-tls']))
    throw new UsageError(`--ca/--cert/--key-tls need an mqtts:// broker URL (got ${url})`);
  if (Boolean(o.cert) !== Boolean(o['key-tls']))
    throw new UsageError('--cert and --key-tls go together (the client certificate and its private key)');
  const options: IClientOptions = {
    protocolVersion: version === '5' ? 5 : 4,
    connectTimeout: (o['connect-timeout'] ?? 10) * 1000,
    reconnectPeriod: 0,
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(o.ca ? { ca: readPem(o.ca, '--ca') } : {}),
    ...(o.cert ? { cert: readPem(o.cert, '--cert') } : {}),
    ...(o['key-tls'] ? { key: readPem(o['key-tls'], '--key-tls') } : {}),
  };
  return { url, root: checkRoot(o.root ?? DEFAULT_ROOT), options, versionForced: o['mqtt-version'] !== undefined, say };
}

// The version-refusal rule is cli-kit's (loa-provision uses the same one); still importable from here.
export { refusedVersion };

/**
 * Connects once and resolves when the broker accepted (CONNACK), or fails with the
 * first error. `extra.reconnectPeriod` > 0 keeps a long-running client reconnecting
 * after that first success; a failed first connection is always reported, not retried
 * forever in silence. `setup` runs before the first packet arrives (message handlers).
 *
 * Unless --mqtt-version forced one, a broker that refuses MQTT 5 for its version is
 * asked again with 3.1.1 (MQTT 5 `properties` dropped), and `cfg.say` tells it in one
 * line; the client then reconnects with 3.1.1 too.
 */
export async function connect(
  cfg: BrokerConfig,
  extra: IClientOptions = {},
  setup?: (client: MqttClient) => void,
): Promise<MqttClient> {
  const first = { ...cfg.options, ...extra };
  try {
    return await attempt(cfg, first, setup);
  } catch (err) {
    if (cfg.versionForced || first.protocolVersion !== 5 || !refusedVersion(err))
      throw new Failure(`cannot connect to ${cfg.url}: ${explain(err)}`);
    const { properties: _v5only, ...rest } = first;
    try {
      const client = await attempt(cfg, { ...rest, protocolVersion: 4 }, setup);
      cfg.say(
        `noc: ${cfg.url} refused MQTT 5 (${errorMessage(err)}); connected with MQTT 3.1.1 (--mqtt-version 3.1.1 skips the first try)`,
      );
      return client;
    } catch (err2) {
      throw new Failure(
        `cannot connect to ${cfg.url}: MQTT 5 refused (${errorMessage(err)}), and MQTT 3.1.1: ${explain(err2)}`,
      );
    }
  }
}

/**
 * The version the broker accepts, for tools that open many connections themselves
 * (noc simulate): the configuration as given when --mqtt-version forced one, else one
 * connection through connect() (with its fallback and notice) tells.
 */
export async function settleVersion(cfg: BrokerConfig): Promise<BrokerConfig> {
  if (cfg.versionForced || cfg.options.protocolVersion !== 5) return cfg;
  const client = await connect(cfg);
  const version = client.options.protocolVersion ?? 5;
  await closeClient(client, 1000);
  return { ...cfg, options: { ...cfg.options, protocolVersion: version }, versionForced: true };
}

async function attempt(
  cfg: BrokerConfig,
  options: IClientOptions,
  setup?: (client: MqttClient) => void,
): Promise<MqttClient> {
  const client = mqtt.connect(cfg.url, { ...options, reconnectPeriod: 0 });
  // Before any packet is read: a resumed session delivers queued messages right after CONNACK.
  setup?.(client);
  client.on('error', () => {}); // errors are reported below, or show up later as 'close'
  const ms = cfg.options.connectTimeout ?? 10_000;
  let onConnect = () => {};
  let onError: (err: Error) => void = () => {};
  let onClose = () => {};
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms + 500);
      onConnect = () => (clearTimeout(timer), resolve());
      onError = (err) => (clearTimeout(timer), reject(err));
      onClose = () => (clearTimeout(timer), reject(new Error('connection closed by the broker')));
      client.once('connect', onConnect);
      client.once('error', onError);
      client.once('close', onClose);
    });
  } catch (err) {
    client.end(true);
    throw err;
  } finally {
    client.off('connect', onConnect);
    client.off('error', onError);
    client.off('close', onClose);
  }
  if (options.reconnectPeriod) client.options.reconnectPeriod = options.reconnectPeriod;
  return client;
}

function explain(err: unknown): string {
  const e = err as Error & { code?: string | number };
  if (e.code === 'ECONNREFUSED') return 'connection refused (is the broker running on that port?)';
  if (e.code === 'ENOTFOUND') return 'host not found (check the host name)';
  if (e.code === 5 || e.code === 135) return 'not authorised (check --username/--password or the client certificate)';
  if (e.code === 4 || e.code === 134) return 'bad user name or password';
  const m = errorMessage(err);
  if (/certificate required/i.test(m)) return 'the broker requires a client certificate (give --cert and --key-tls)';
  if (/self[- ]signed|unable to (get|verify)|certificate chain/i.test(m))
    return `the broker's certificate is not trusted (${m}; give its CA with --ca)`;
  if (/ERR_TLS_CERT_ALTNAME|altnames|Hostname\/IP does not match/i.test(m))
    return `the broker's certificate does not name this host (${m})`;
  if (/bad certificate|unknown ca|certificate unknown/i.test(m))
    return `the broker refused our client certificate (${m.split(':').pop()?.trim()})`;
  return m;
}

/**
 * One line when a long-running client loses the broker and one when it is back, not
 * one per failed retry (mqtt.js retries every reconnectPeriod and emits 'close' each time).
 */
const closing = new WeakSet<MqttClient>();

export function reportConnection(client: MqttClient, say: (line: string) => void, what: string): void {
  let up = true;
  client.on('close', () => {
    if (up && !closing.has(client))
      say(`${what}: connection lost; reconnecting every ${(client.options.reconnectPeriod ?? 0) / 1000} s`);
    up = false;
  });
  client.on('connect', () => {
    if (!up) say(`${what}: reconnected`);
    up = true;
  });
}

/** Ends a client, waiting for in-flight packets, but never for more than `ms`. */
export async function closeClient(client: MqttClient, ms = 3000): Promise<void> {
  closing.add(client); // silences reportConnection: this disconnection is on purpose
  await withTimeout(client.endAsync(false), ms).catch(() => {});
  if (!client.disconnected) client.end(true);
}

/** `--share G`: the group name of an MQTT 5 shared subscription (contract/topics.ts sharedFilter). */
export function checkShare(value: string | undefined): string | undefined {
  if (value !== undefined && !/^[^/#+]+$/.test(value))
    throw new UsageError(`--share "${value}" must be a plain name without "/", "+" or "#", e.g. --share noc`);
  return value;
}
