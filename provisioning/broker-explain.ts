// What failed when loa-provision connected to the broker, and what to do about it, in
// the technician's terms: one BrokerFailure per stage (DNS, TCP, TLS both ways, MQTT's
// CONNACK codes), naming the config field or the command that fixes it. Pure: errors in,
// sentences out (unit-tested). broker.ts connects.
import { PROVISION_SUFFIX, type BrokerFailure, type BrokerTarget, type Stage } from './broker-target.js';

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
