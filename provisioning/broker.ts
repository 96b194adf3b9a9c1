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
// The refusal rule is cli-kit's (cli-kit/mqtt.ts refusedVersion): one rule for both tools.
//
// What to connect to is broker-target.ts's, what a failure means broker-explain.ts's.
// Client id: `<clientId>.provision`, never the agent's own. A second connection under
// the agent's id would take its session over: the broker would drop the running agent
// and publish its last will, and the NOC would see the box go offline.
import { lookup } from 'node:dns/promises';
import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { IClientOptions, IStream, MqttClient } from 'mqtt';
import { mqtt } from '../cli-kit/mqtt-lib.js';
import { refusedVersion } from '../cli-kit/index.js';
import { errorMessage, withTimeout } from '../cli-kit/index.js';
import { explain } from './broker-explain.js';
import { BrokerError, fallbackNotice, type BrokerTarget, type Stage } from './broker-target.js';
import type { Text } from './text.js';

export { explain } from './broker-explain.js';
export {
  BrokerError,
  fallbackNotice,
  forceVersion,
  PROVISION_SUFFIX,
  targetFromConfig,
  type BrokerFailure,
  type BrokerTarget,
  type Stage,
} from './broker-target.js';

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

export interface ConnectOptions {
  timeoutMs: number;
  /** Pre-resolved addresses (the DNS check already looked them up). */
  addresses?: string[];
  /** For the TLS date hints: is the box's clock known to be right? */
  clockSynced?: boolean | null;
  onStage?(stage: Stage): void;
  /** Told (one line, fallbackNotice) when MQTT 5 was refused and 3.1.1 accepted. */
  onFallback?(line: Text): void;
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
    s.once('error', (err: Error) => {
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
    s.once('error', (err: Error) => {
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
    const client = new mqtt.MqttClient(() => {
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
