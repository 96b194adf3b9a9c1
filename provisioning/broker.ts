// Connecting to the broker the way the agent does (its url, CA, client certificate,
// username and password file, MQTT version), in four visible stages, so a failure says
// WHICH one failed and what to do: DNS (the name), TCP (the port), TLS (certificates,
// both ways), MQTT (CONNACK: credentials, authorisation, protocol version).
//
// One connection, not four probes: the socket this module opens and secures is handed
// to mqtt.js through MqttClient's stream builder, which matters on a 4G link where every
// extra handshake costs a second.
//
// MQTT version: the config's (mqtt.version), unless --mqtt-version forces one. When the
// config asks for 5 and the broker refuses it for its version (CONNACK 1 or 132: the
// demo's aedes, older brokers), the connection is made again with 3.1.1 and `onFallback`
// says so in one line, with what it means for the agent (which does not fall back).
// The refusal rule is noc's (noc/mqtt.ts refusedVersion): one rule for both tools.
//
// Client id: `<clientId>.provision`, never the agent's own. A second connection under
// the agent's id would take its session over: the broker would drop the running agent
// and publish its last will, and the NOC would see the box go offline.
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { MqttClient, type IClientOptions, type IStream } from 'mqtt';
import type { Config } from '../agent/config.js';
import { refusedVersion } from '../noc/mqtt.js';
import { errorMessage, UsageError, withTimeout } from '../cli-kit/index.js';

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

export interface BrokerFailure {
  stage: Stage;
  code: string;
  detail: string;
  hint: string;
}

export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  constructor(
    readonly failure: BrokerFailure,
    /** The error underneath (the CONNACK refusal, the socket error), when there was one. */
    cause?: unknown,
  ) {
    super(failure.detail, cause === undefined ? undefined : { cause });
  }
}

export interface Connected {
  client: MqttClient;
  address: string;
  /** The version the broker accepted. */
  version: 5 | '3.1.1';
  /** Set when MQTT 5 was refused and 3.1.1 accepted: the broker's words. */
  refusedV5?: string;
  /** Milliseconds per stage. */
  ms: Partial<Record<Stage, number>>;
  tls?: { protocol: string | null; authorized: boolean; peer: string };
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
        detail: `${what} ${p} cannot be read (${errorMessage(err)})`,
        hint: `run as root (sudo), or fix the path in the config`,
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
export function forceVersion(t: BrokerTarget, flag: string | undefined): BrokerTarget {
  if (flag === undefined) return t;
  if (flag !== '5' && flag !== '3.1.1') throw new UsageError(`--mqtt-version must be 5 or 3.1.1 (got "${flag}")`);
  return { ...t, version: flag === '5' ? 5 : '3.1.1', versionForced: true };
}

/** The one line said when the broker refused MQTT 5 and 3.1.1 was used. */
export function fallbackNotice(t: BrokerTarget, refused: string): string {
  const agent =
    t.configVersion === 5
      ? `; the agent's config asks for MQTT 5 and would be refused too: loa-provision init --mqtt-version 3.1.1`
      : '';
  return `loa-provision: ${t.url} refused MQTT 5 (${refused}); connected with MQTT 3.1.1${agent}`;
}

export interface ConnectOptions {
  timeoutMs: number;
  /** Pre-resolved addresses (the DNS check already looked them up). */
  addresses?: string[];
  /** For the TLS date hints: is the box's clock known to be right? */
  clockSynced?: boolean | null;
  onStage?(stage: Stage): void;
  /** Told (one line, fallbackNotice) when MQTT 5 was refused and 3.1.1 accepted. */
  onFallback?(line: string): void;
}

export async function connectBroker(t: BrokerTarget, o: ConnectOptions): Promise<Connected> {
  const deadline = Date.now() + o.timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  const ms: Connected['ms'] = {};
  const timed = async <T>(stage: Stage, fn: () => Promise<T>): Promise<T> => {
    o.onStage?.(stage);
    const t0 = Date.now();
    try {
      return await fn();
    } catch (err) {
      throw err instanceof BrokerError
        ? err
        : new BrokerError(
            explain(stage, err as Error & { code?: string | number }, t, {
              timeoutMs: o.timeoutMs,
              clockSynced: o.clockSynced ?? null,
            }),
            err,
          );
    } finally {
      ms[stage] = Date.now() - t0;
    }
  };

  const addresses: string[] =
    o.addresses ?? (isIP(t.host) ? [t.host] : await timed<string[]>('dns', () => resolveAll(t.host, left())));
  // One socket per try: a broker that refused the version has closed the connection.
  const open = async (version: 5 | '3.1.1'): Promise<Connected> => {
    // Every address in turn (localhost is ::1 and 127.0.0.1; a broker may listen on one).
    const { socket, address } = await timed('tcp', () => openTcpAny(addresses, t.port, deadline));
    let stream: Socket | TLSSocket = socket;
    let tlsInfo: Connected['tls'];
    try {
      if (t.tls) {
        const s = await timed('tls', () => openTls(socket, t, left()));
        stream = s;
        const peer = s.getPeerCertificate();
        tlsInfo = {
          protocol: s.getProtocol(),
          authorized: s.authorized,
          peer: peer?.subject?.CN ? `CN=${String(peer.subject.CN)}` : '?',
        };
      }
      const client = await timed('mqtt', () => openMqtt(stream, { ...t, version }, left()));
      return { client, address, version, ms, ...(tlsInfo ? { tls: tlsInfo } : {}) };
    } catch (err) {
      stream.destroy();
      throw err;
    }
  };
  try {
    return await open(t.version);
  } catch (err) {
    const cause = err instanceof BrokerError ? err.cause : undefined;
    if (t.versionForced || t.version !== 5 || !refusedVersion(cause)) throw err;
    const refused = errorMessage(cause);
    const connected = await open('3.1.1');
    o.onFallback?.(fallbackNotice(t, refused));
    return { ...connected, refusedV5: refused };
  }
}

export async function resolveAll(host: string, timeoutMs: number): Promise<string[]> {
  const r = await withTimeout(lookup(host, { all: true }), timeoutMs, 'EAI_AGAIN');
  return r.map((a) => a.address);
}

async function openTcpAny(
  addresses: readonly string[],
  port: number,
  deadline: number,
): Promise<{ socket: Socket; address: string }> {
  let last: unknown = new Error('no address');
  for (const [i, address] of addresses.entries()) {
    // The last address may use all the time left; earlier ones a fair share of it.
    const left = Math.max(1, deadline - Date.now());
    const share = i === addresses.length - 1 ? left : Math.max(1000, Math.floor(left / (addresses.length - i)));
    try {
      return { socket: await openTcp(address, port, share), address };
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

function openTcp(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function openTls(socket: Socket, t: BrokerTarget, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      socket,
      host: t.host,
      ...(isIP(t.host) ? {} : { servername: t.host }),
      rejectUnauthorized: !t.insecureSkipVerify,
      ...(t.ca ? { ca: t.ca } : {}),
      ...(t.cert ? { cert: t.cert } : {}),
      ...(t.key ? { key: t.key } : {}),
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error(`TLS handshake not finished within ${timeoutMs} ms`), { code: 'TLS_TIMEOUT' }));
    }, timeoutMs);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', () =>
      reject(Object.assign(new Error('connection closed during the TLS handshake'), { code: 'ECONNRESET' })),
    );
  });
}

function openMqtt(stream: Socket | TLSSocket, t: BrokerTarget, timeoutMs: number): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const opts: IClientOptions = {
      clientId: t.clientId,
      protocolVersion: t.version === 5 ? 5 : 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      keepalive: 30,
      ...(t.username !== undefined ? { username: t.username } : {}),
      ...(t.password !== undefined ? { password: t.password } : {}),
    };
    let used = false;
    // The builder runs once (reconnectPeriod 0): it hands over the socket we secured.
    const client = new MqttClient(() => {
      if (used) throw new Error('no reconnect');
      used = true;
      return stream as unknown as IStream;
    }, opts);
    const done = (err?: Error) => {
      client.removeListener('connect', onConnect);
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
      if (err) {
        client.on('error', () => {});
        client.end(true);
        reject(err);
      } else resolve(client);
    };
    const onConnect = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () =>
      done(Object.assign(new Error('the broker closed the connection before answering CONNECT'), { code: 'CLOSED' }));
    client.once('connect', onConnect);
    client.once('error', onError);
    client.once('close', onClose);
  });
}

export async function closeClient(client: MqttClient): Promise<void> {
  client.on('error', () => {});
  await withTimeout(client.endAsync(false), 2000).catch(() => undefined);
  if (client.connected) client.end(true);
}

const VERIFY =
  /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_SIGNATURE_FAILURE|CERT_UNTRUSTED|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/;
const DATES = /CERT_HAS_EXPIRED|CERT_NOT_YET_VALID/;
const CLIENT_CERT_REFUSED =
  /ALERT_CERTIFICATE_REQUIRED|ALERT_BAD_CERTIFICATE|ALERT_UNKNOWN_CA|ALERT_CERTIFICATE_UNKNOWN|ALERT_CERTIFICATE_EXPIRED|ALERT_CERTIFICATE_REVOKED|ALERT_HANDSHAKE_FAILURE|ALERT_ACCESS_DENIED|certificate required|bad certificate|unknown ca/i;

/** What failed and what to do about it, in the technician's terms. Pure (unit-tested). */
export function explain(
  stage: Stage,
  err: Error & { code?: string | number },
  t: BrokerTarget,
  ctx: { timeoutMs: number; clockSynced: boolean | null },
): BrokerFailure {
  const code = String(err.code ?? '');
  const s = (n: number) => `${Math.round(n / 100) / 10} s`;
  const at = `${t.host}:${t.port}`;
  const f = (st: Stage, detail: string, hint: string): BrokerFailure => ({
    stage: st,
    code: code || 'ERROR',
    detail,
    hint,
  });
  const tlsText = `${code} ${err.message}`;

  if (VERIFY.test(code)) {
    return f(
      'tls',
      `the broker's certificate is not signed by the CA this box trusts (${code})`,
      `mqtt.ca (${t.files.ca ?? 'the system CAs'}) is not the CA that signed the broker's certificate: get the right CA file from the centre and run loa-provision init --ca FILE`,
    );
  }
  if (DATES.test(code)) {
    const clock =
      ctx.clockSynced === true
        ? ''
        : `the box's clock may be wrong (now ${new Date().toISOString()}): fix time sync first (see the clock line); otherwise `;
    return f(
      'tls',
      `the broker's certificate is ${code === 'CERT_HAS_EXPIRED' ? 'expired' : 'not valid yet'} by this box's clock (${code})`,
      `${clock}the centre must renew the broker's certificate`,
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /altname|hostname\/IP does not match/i.test(err.message)) {
    return f(
      'tls',
      `the broker's certificate is not made out to "${t.host}" (${code || 'hostname mismatch'})`,
      `use the host name the certificate names in mqtt.url (not an IP address or another alias)`,
    );
  }
  if (/WRONG_VERSION_NUMBER|packet length too long|unknown protocol|record layer failure/i.test(tlsText)) {
    return f(
      'tls',
      `no TLS on ${at} (${code || err.message})`,
      `that port speaks plain MQTT: use mqtts:// with the broker's TLS port (usually 8883), or mqtt:// if the centre says so`,
    );
  }
  if (CLIENT_CERT_REFUSED.test(tlsText)) {
    return f(
      'tls',
      `the broker refused this box's client certificate (${code || err.message})`,
      t.files.cert
        ? `the broker does not accept ${t.files.cert}: was it signed by the centre's device CA for this box? expired? (loa-provision show)`
        : `the broker requires mutual TLS: have device.csr signed by the centre and install it with loa-provision init --cert FILE`,
    );
  }
  switch (stage) {
    case 'dns':
      if (code === 'ENOTFOUND')
        return f(
          'dns',
          `"${t.host}" does not resolve (ENOTFOUND)`,
          `check the host name in mqtt.url for a typo; if every name fails, the box has no working network (4G data, SIM, cable)`,
        );
      return f(
        'dns',
        `no DNS answer for "${t.host}" (${code || err.message})`,
        `no working network or DNS server: check the 4G modem and SIM data, or the cable; cat /etc/resolv.conf`,
      );
    case 'tcp':
      if (code === 'ECONNREFUSED')
        return f(
          'tcp',
          `${at} refused the connection (ECONNREFUSED)`,
          `nothing listens on port ${t.port} there: check the port in mqtt.url (${t.tls ? '8883 for mqtts' : '1883 for mqtt'}) and that the broker is running`,
        );
      if (code === 'ETIMEDOUT')
        return f(
          'tcp',
          `no answer from ${at} within ${s(ctx.timeoutMs)}`,
          `a firewall drops the traffic or the link is down: check the 4G signal and APN, and that the centre's firewall lets this network reach port ${t.port}`,
        );
      if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
        return f(
          'tcp',
          `no route to ${at} (${code})`,
          `the box has no route to the broker: check the 4G modem or the cable (ip route)`,
        );
      return f(
        'tcp',
        `TCP connection to ${at} failed (${code || err.message})`,
        `check the network link and the port in mqtt.url`,
      );
    case 'tls':
      if (code === 'TLS_TIMEOUT')
        return f(
          'tls',
          `TLS handshake with ${at} did not finish within ${s(ctx.timeoutMs)}`,
          `the link is too slow or drops packets; or the port is not a TLS port`,
        );
      if (code === 'ECONNRESET')
        return f(
          'tls',
          `${at} closed the connection during the TLS handshake`,
          t.files.cert
            ? `the broker may not accept this box's certificate, or the port is not its TLS port`
            : `the broker may require a client certificate (device.csr signed by the centre), or the port is not its TLS port`,
        );
      return f(
        'tls',
        `TLS with ${at} failed (${code || err.message})`,
        `check mqtt.ca, mqtt.cert and mqtt.key (loa-provision show)`,
      );
    default:
      return mqttFailure(err, code, t, ctx, s);
  }
}

function mqttFailure(
  err: Error,
  code: string,
  t: BrokerTarget,
  ctx: { timeoutMs: number },
  s: (n: number) => string,
): BrokerFailure {
  const f = (detail: string, hint: string): BrokerFailure => ({ stage: 'mqtt', code: code || 'ERROR', detail, hint });
  const rc = Number(code);
  const creds = `mqtt.username (${t.username ?? 'none'}) and the password${t.files.passwordFile ? ` in ${t.files.passwordFile}` : ''}`;
  if (rc === 4 || rc === 134)
    return f(
      `the broker refused the credentials (CONNACK ${rc}: bad user name or password)`,
      `check ${creds}; re-enter them with loa-provision init --username U --password P`,
    );
  if (rc === 5 || rc === 135)
    return f(
      `the broker refused the connection (CONNACK ${rc}: not authorised)`,
      `wrong credentials or certificate, or the broker's ACL does not allow ${t.clientId} (this tool's client id): check ${creds}, then ask the centre`,
    );
  if (rc === 1 || rc === 132)
    return f(
      `the broker does not speak MQTT ${t.version} (CONNACK ${rc})`,
      `set "mqtt": {"version": "3.1.1"} in the config (loa-provision init --mqtt-version 3.1.1)`,
    );
  if (rc === 2 || rc === 133)
    return f(
      `the broker rejected the client id ${t.clientId} (CONNACK ${rc})`,
      `the centre must allow client ids of the form <deviceId>${PROVISION_SUFFIX} for provisioning`,
    );
  if (rc === 3 || rc === 136 || rc === 137 || rc === 139)
    return f(`the broker is unavailable or busy (CONNACK ${rc})`, `retry in a minute; tell the centre if it persists`);
  if (rc === 138)
    return f(`the broker has banned this client (CONNACK 138)`, `ask the centre to lift the ban for ${t.clientId}`);
  if (rc > 0)
    return f(
      `the broker refused the connection (CONNACK ${rc}: ${err.message})`,
      `ask the centre what CONNACK ${rc} means for this box`,
    );
  if (/connack timeout/i.test(err.message))
    return f(
      `connected, but no MQTT answer within ${s(ctx.timeoutMs)}`,
      `the port accepts ${t.tls ? 'TLS' : 'TCP'} but no MQTT answers there: check the port in mqtt.url`,
    );
  if (code === 'CLOSED' || code === 'ECONNRESET' || code === 'EPIPE')
    return f(
      `the broker closed the connection before answering CONNECT (${code})`,
      t.tls
        ? `typical of a refused client certificate or credentials: check both (loa-provision show); the broker's log says why`
        : `the port may expect TLS (use mqtts://), or the broker drops unauthorised clients: check the credentials`,
    );
  return f(
    `MQTT connection failed: ${err.message}${code ? ` (${code})` : ''}`,
    `check the broker URL and credentials (loa-provision show)`,
  );
}
