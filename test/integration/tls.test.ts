// TLS: the server certificate is verified by default, and mutual TLS works with a
// client certificate (certificates made here with openssl).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { mosquittoPath, startBroker, type TestBroker } from '../helpers/broker.js';
import { makePki, type Pki } from '../helpers/certs.js';
import { DEFAULT_ROOT, deviceFilter, deviceTopic, Watcher } from '../helpers/watcher.js';
import { spawnAgent, writeConfig } from '../helpers/agent-process.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const haveMosquitto = mosquittoPath() !== undefined || process.env.CI === 'true';
let broker: TestBroker;
let pki: Pki;
let dir: string;

before(async () => {
  if (!haveMosquitto) return;
  dir = tempDir('tls');
  pki = makePki(dir);
  broker = await startBroker({
    tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requireClientCert: true },
  });
});
after(async () => {
  await broker?.close();
});

const tlsOpts = () => ({
  ca: readFileSync(pki.ca),
  cert: readFileSync(pki.clientCert),
  key: readFileSync(pki.clientKey),
});
const skip = haveMosquitto ? false : 'TLS tests need mosquitto (aedes fallback has no TLS listener here)';

test('mutual TLS: the box connects with its client certificate and publishes its birth', { skip }, async () => {
  const cfg = writeConfig(tempDir('mtls-ok'), {
    deviceId: 'tls-box',
    mqtt: { url: broker.url, ca: pki.ca, cert: pki.clientCert, key: pki.clientKey },
    stateDir: join(dir, 'ok-state'),
    cacheDir: join(dir, 'ok-cache'),
  });
  const agent = spawnAgent(['--config', cfg]);
  try {
    await agent.waitForLog(/birth published/, 15_000);
    const w = await Watcher.connect(broker.url, [deviceTopic(DEFAULT_ROOT, 'tls-box', 'status')], tlsOpts());
    const birth = await w.waitFor(() => true, 5000, 'birth over TLS');
    assert.equal(birth.json().online, true);
    await w.close();
  } finally {
    await agent.kill9();
  }
});

test('a server certificate that does not verify is refused (MQTT_TLS), nothing is published', { skip }, async () => {
  const other = makePki(tempDir('other-ca'), 'other');
  const cfg = writeConfig(tempDir('mtls-bad'), {
    deviceId: 'tls-bad',
    // Trusts another CA: the broker's certificate must not verify.
    mqtt: { url: broker.url, ca: other.ca, cert: pki.clientCert, key: pki.clientKey, reconnect: { minS: 1, maxS: 1 } },
    stateDir: join(dir, 'bad-state'),
    cacheDir: join(dir, 'bad-cache'),
  });
  const w = await Watcher.connect(broker.url, [deviceFilter(DEFAULT_ROOT, 'tls-bad')], tlsOpts());
  const agent = spawnAgent(['--config', cfg]);
  try {
    const line = await agent.waitForLog(/"code":"MQTT_TLS"[^\n]*/, 15_000);
    assert.match(line, /certificate|verify/i);
    // Its retry (every 1 s) is refused too: the second "will retry" line.
    await until(
      () => (agent.output().match(/mqtt disconnected; will retry/g)?.length ?? 0) >= 2,
      15_000,
      'a second refused attempt',
    );
    assert.doesNotMatch(agent.output(), /birth published/);
    assert.equal(w.messages.length, 0);
  } finally {
    await agent.kill9();
    await w.close();
  }
});

test('without a client certificate the broker refuses the box', { skip }, async () => {
  const cfg = writeConfig(tempDir('mtls-nocert'), {
    deviceId: 'tls-nocert',
    mqtt: { url: broker.url, ca: pki.ca, reconnect: { minS: 1, maxS: 1 } },
    stateDir: join(dir, 'nocert-state'),
    cacheDir: join(dir, 'nocert-cache'),
  });
  const agent = spawnAgent(['--config', cfg]);
  try {
    await agent.waitForLog(/mqtt disconnected; will retry/, 15_000);
    assert.doesNotMatch(agent.output(), /birth published/);
  } finally {
    await agent.kill9();
  }
});
