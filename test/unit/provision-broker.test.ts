// Every way a broker connection fails maps to the stage that failed and a hint that
// says what to do (the integration tests cover the ones a local Mosquitto can cause).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explain, targetFromConfig, type BrokerTarget } from '../../provisioning/broker.js';
import { parseConfig } from '../../agent/config.js';
import { say, type Text } from '../../provisioning/text.js';

/** What the report, the JSON and the tests read: the English of a Text. */
const en = (t: Text) => say('en', t);

const target: BrokerTarget = {
  url: 'mqtts://broker.example.vn:8883',
  host: 'broker.example.vn',
  port: 8883,
  tls: true,
  insecureSkipVerify: false,
  version: 5,
  versionForced: false,
  configVersion: 5,
  clientId: 'vn-1.provision',
  username: 'vn-1',
  files: { ca: '/etc/loa/ca.crt', passwordFile: '/etc/loa/mqtt-password' },
};
const ctx = { timeoutMs: 20_000, clockSynced: true };
const err = (code: string | number, message = 'x') => Object.assign(new Error(message), { code });

test('DNS: unknown name vs no DNS answer', () => {
  const a = explain('dns', err('ENOTFOUND'), target, ctx);
  assert.equal(a.stage, 'dns');
  assert.match(en(a.detail), /"broker\.example\.vn" does not resolve/);
  assert.match(en(a.hint), /typo/);
  assert.match(en(explain('dns', err('EAI_AGAIN'), target, ctx).hint), /4G modem and SIM data/);
});

test('TCP: refused, timed out, no route', () => {
  assert.match(
    en(explain('tcp', err('ECONNREFUSED'), target, ctx).hint),
    /nothing listens on port 8883.*8883 for mqtts/,
  );
  const t = explain('tcp', err('ETIMEDOUT'), target, ctx);
  assert.match(en(t.detail), /no answer from broker\.example\.vn:8883 within 20 s/);
  assert.match(en(t.hint), /firewall/);
  assert.match(en(explain('tcp', err('ENETUNREACH'), target, ctx).detail), /no route/);
});

test('TLS: untrusted CA, expired (clock first when unsure), wrong name, not TLS, client certificate refused', () => {
  const ca = explain('tls', err('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), target, ctx);
  assert.equal(ca.stage, 'tls');
  assert.match(en(ca.hint), /mqtt\.ca \(\/etc\/loa\/ca\.crt\) is not the CA/);
  assert.match(en(explain('tls', err('CERT_HAS_EXPIRED'), target, ctx).hint), /^the centre must renew/);
  assert.match(
    en(explain('tls', err('CERT_HAS_EXPIRED'), target, { ...ctx, clockSynced: null }).hint),
    /clock may be wrong/,
  );
  assert.match(
    en(explain('tls', err('ERR_TLS_CERT_ALTNAME_INVALID'), target, ctx).detail),
    /not made out to "broker\.example\.vn"/,
  );
  assert.match(en(explain('tls', err('ERR_SSL_WRONG_VERSION_NUMBER'), target, ctx).hint), /speaks plain MQTT/);
  const noCert = explain('mqtt', err('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), target, ctx);
  assert.equal(noCert.stage, 'tls', 'a TLS 1.3 alert arriving after the handshake is still a TLS failure');
  assert.match(en(noCert.hint), /requires mutual TLS.*init --cert/);
  const badCert = explain(
    'tls',
    err('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE'),
    { ...target, files: { ...target.files, cert: '/etc/loa/device.crt' } },
    ctx,
  );
  assert.match(en(badCert.hint), /does not accept \/etc\/loa\/device\.crt/);
});

test('MQTT: each CONNACK refusal has its own hint', () => {
  for (const rc of [4, 134])
    assert.match(
      en(explain('mqtt', err(rc), target, ctx).hint),
      /mqtt\.username \(vn-1\) and the password in \/etc\/loa\/mqtt-password/,
    );
  for (const rc of [5, 135]) assert.match(en(explain('mqtt', err(rc), target, ctx).detail), /not authorised/);
  assert.match(en(explain('mqtt', err(1), target, ctx).hint), /"version": "3\.1\.1"/);
  assert.match(en(explain('mqtt', err(133), target, ctx).hint), /\.provision/);
  assert.match(en(explain('mqtt', err(137), target, ctx).hint), /retry/);
  assert.match(en(explain('mqtt', err('', 'connack timeout'), target, ctx).detail), /no MQTT answer within/);
  assert.match(en(explain('mqtt', err('CLOSED'), { ...target, tls: false }, ctx).hint), /expect TLS/);
});

test('the tool connects as <clientId>.provision, never as the agent (that would take its session over)', () => {
  const c = parseConfig({ deviceId: 'vn-1', mqtt: { url: 'mqtt://h:1999', username: 'u', password: 'p' } }, '/etc/loa');
  const t = targetFromConfig(c);
  assert.equal(t.clientId, 'vn-1.provision');
  assert.equal(t.port, 1999);
  assert.equal(t.password, 'p');
  assert.equal(targetFromConfig(parseConfig({ deviceId: 'vn-1', mqtt: { url: 'mqtts://h' } }, '/')).port, 8883);
});
