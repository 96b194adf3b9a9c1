// What failed when loa-provision connected to the broker, and what to do about it, in
// the technician's terms: one BrokerFailure per stage (DNS, TCP, TLS both ways, MQTT's
// CONNACK codes), naming the config field or the command that fixes it. Pure: errors in,
// sentences out (unit-tested), in either language (text.ts). broker.ts connects.
import { PROVISION_SUFFIX, type BrokerFailure, type BrokerTarget, type Stage } from './broker-target.js';
import { msg, type Text } from './text.js';

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
  const f = (st: Stage, detail: Text, hint: Text): BrokerFailure => ({
    stage: st,
    code: code || 'ERROR',
    detail,
    hint,
  });
  const tlsText = `${code} ${err.message}`;
  const why = code || err.message;

  if (VERIFY.test(code)) {
    return f(
      'tls',
      msg('broker.tls.ca', { code }),
      msg('broker.tls.ca.hint', { ca: t.files.ca ?? msg('broker.systemCas') }),
    );
  }
  if (DATES.test(code)) {
    const clock = ctx.clockSynced === true ? '' : msg('broker.tls.clock', { now: new Date().toISOString() });
    return f(
      'tls',
      msg(code === 'CERT_HAS_EXPIRED' ? 'broker.tls.expired' : 'broker.tls.notYet', { code }),
      msg('broker.tls.dates.hint', { clock }),
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /altname|hostname\/IP does not match/i.test(err.message)) {
    return f(
      'tls',
      msg('broker.tls.name', { host: t.host, code: code || 'hostname mismatch' }),
      msg('broker.tls.name.hint'),
    );
  }
  if (/WRONG_VERSION_NUMBER|packet length too long|unknown protocol|record layer failure/i.test(tlsText)) {
    return f('tls', msg('broker.tls.none', { at, why }), msg('broker.tls.none.hint'));
  }
  if (CLIENT_CERT_REFUSED.test(tlsText)) {
    return f(
      'tls',
      msg('broker.tls.clientRefused', { why }),
      t.files.cert
        ? msg('broker.tls.clientRefused.cert', { cert: t.files.cert })
        : msg('broker.tls.clientRefused.none'),
    );
  }
  switch (stage) {
    case 'dns':
      if (code === 'ENOTFOUND')
        return f('dns', msg('broker.dns.notFound', { host: t.host }), msg('broker.dns.notFound.hint'));
      return f('dns', msg('broker.dns.noAnswer', { host: t.host, why }), msg('broker.dns.noAnswer.hint'));
    case 'tcp':
      if (code === 'ECONNREFUSED')
        return f(
          'tcp',
          msg('broker.tcp.refused', { at }),
          msg('broker.tcp.refused.hint', {
            port: t.port,
            usual: msg(t.tls ? 'broker.tcp.usual.tls' : 'broker.tcp.usual.plain'),
          }),
        );
      if (code === 'ETIMEDOUT')
        return f(
          'tcp',
          msg('broker.tcp.timeout', { at, time: s(ctx.timeoutMs) }),
          msg('broker.tcp.timeout.hint', { port: t.port }),
        );
      if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
        return f('tcp', msg('broker.tcp.noRoute', { at, code }), msg('broker.tcp.noRoute.hint'));
      return f('tcp', msg('broker.tcp.failed', { at, why }), msg('broker.tcp.failed.hint'));
    case 'tls':
      if (code === 'TLS_TIMEOUT')
        return f('tls', msg('broker.tls.timeout', { at, time: s(ctx.timeoutMs) }), msg('broker.tls.timeout.hint'));
      if (code === 'ECONNRESET')
        return f(
          'tls',
          msg('broker.tls.reset', { at }),
          msg(t.files.cert ? 'broker.tls.reset.cert' : 'broker.tls.reset.none'),
        );
      return f('tls', msg('broker.tls.failed', { at, why }), msg('broker.tls.failed.hint'));
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
  const f = (detail: Text, hint: Text): BrokerFailure => ({ stage: 'mqtt', code: code || 'ERROR', detail, hint });
  const rc = Number(code);
  const creds = msg(t.files.passwordFile ? 'broker.mqtt.credsFile' : 'broker.mqtt.creds', {
    user: t.username ?? msg('broker.none'),
    file: t.files.passwordFile ?? '',
  });
  const clientId = t.clientId;
  if (rc === 4 || rc === 134)
    return f(msg('broker.mqtt.badLogin', { rc }), msg('broker.mqtt.badLogin.hint', { creds }));
  if (rc === 5 || rc === 135)
    return f(msg('broker.mqtt.notAuthorised', { rc }), msg('broker.mqtt.notAuthorised.hint', { clientId, creds }));
  if (rc === 1 || rc === 132)
    return f(msg('broker.mqtt.version', { version: String(t.version), rc }), msg('broker.mqtt.version.hint'));
  if (rc === 2 || rc === 133)
    return f(
      msg('broker.mqtt.clientId', { clientId, rc }),
      msg('broker.mqtt.clientId.hint', { suffix: PROVISION_SUFFIX }),
    );
  if (rc === 3 || rc === 136 || rc === 137 || rc === 139)
    return f(msg('broker.mqtt.busy', { rc }), msg('broker.mqtt.busy.hint'));
  if (rc === 138) return f(msg('broker.mqtt.banned'), msg('broker.mqtt.banned.hint', { clientId }));
  if (rc > 0)
    return f(msg('broker.mqtt.refused', { rc, message: err.message }), msg('broker.mqtt.refused.hint', { rc }));
  if (/connack timeout/i.test(err.message))
    return f(
      msg('broker.mqtt.timeout', { time: s(ctx.timeoutMs) }),
      msg('broker.mqtt.timeout.hint', { transport: t.tls ? 'TLS' : 'TCP' }),
    );
  if (code === 'CLOSED' || code === 'ECONNRESET' || code === 'EPIPE')
    return f(msg('broker.mqtt.closed', { code }), msg(t.tls ? 'broker.mqtt.closed.tls' : 'broker.mqtt.closed.plain'));
  return f(
    msg('broker.mqtt.failed', { message: err.message, code: code ? ` (${code})` : '' }),
    msg('broker.mqtt.failed.hint'),
  );
}
