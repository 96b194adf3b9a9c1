// keys -> sign -> publish through a real Mosquitto, as an operator types them, and the
// box's side of it: the retained JWS on the contract's topic passes the agent's verifier.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, freePort, type TestBroker } from '../helpers/broker.js';
import { Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { scheduleDoc } from '../helpers/signer.js';
import { makePki } from '../helpers/certs.js';
import { KeyRing, verifySchedule } from '../../contract/verify.js';
import { verifyCommand } from '../../contract/command-doc.js';
import { runNoc } from './noc-cli.js';
import { DEFAULT_MAX_DOC_BYTES, DEFAULT_ROOT as ROOT, deviceTopic, groupTopic } from '../../contract/index.js';

let broker: TestBroker;
let dir: string;
let keys: KeyRing;
let pem: string;
before(async () => {
  broker = await startBroker();
  dir = tempDir('noc-publish');
  const k = await runNoc(['keys', '--kid', 'centre-2026', '--out', dir]);
  assert.equal(k.code, 0, k.stderr);
  keys = new KeyRing([JSON.parse(k.stdout) as { kid: string; publicKey: string }]);
  pem = join(dir, 'centre-2026.key.pem');
});
after(async () => {
  await broker.close();
});

const box = {
  deviceId: 'vn-79-26734-01',
  groups: ['all', 'c26734'],
  maxBytes: DEFAULT_MAX_DOC_BYTES,
  acceptedVersion: () => undefined,
};

test('a signed schedule is retained (QoS 1) on the group topic and verifies as the box verifies it', async () => {
  const json = join(dir, 'daily.json');
  const jws = join(dir, 'daily.jws');
  writeFileSync(json, JSON.stringify(scheduleDoc({ version: 42 })));
  const s = await runNoc(['sign', json, '--key', pem, '--out', jws]);
  assert.equal(s.code, 0, s.stderr);
  const p = await runNoc(['publish', jws, '--broker', broker.url, '--group', 'c26734']);
  assert.equal(p.code, 0, p.stderr);
  assert.match(
    p.stdout,
    /schedule c26734-daily version 42 -> loa\/v1\/g\/c26734\/schedule \(QoS 1, retained, acknowledged by the broker\)/,
  );
  // A box connecting afterwards is handed it: retained.
  const w = await Watcher.connect(broker.url, [groupTopic(ROOT, 'c26734', 'schedule')]);
  try {
    const m = await w.waitFor(() => true, 5000, 'retained schedule');
    assert.equal(m.retain, true);
    const v = verifySchedule(m.payload, keys, { ...box, now: Date.now() });
    assert.equal(v.ok, true, JSON.stringify(v));
    if (v.ok === true) assert.equal(v.doc.version, 42);
  } finally {
    await w.close();
  }
});

test('a .json with --key is validated and signed on the way; --clear removes only the retained copy', async () => {
  const json = join(dir, 'box.json');
  writeFileSync(json, JSON.stringify(scheduleDoc({ id: 'box-extra', target: { devices: [box.deviceId] } })));
  const topic = deviceTopic(ROOT, box.deviceId, 'schedule');
  const p = await runNoc(['publish', json, '--broker', broker.url, '--device', box.deviceId, '--key', pem]);
  assert.equal(p.code, 0, p.stderr);
  const w = await Watcher.connect(broker.url, [topic]);
  const m = await w.waitFor(() => true, 5000, 'retained device schedule');
  assert.equal(verifySchedule(m.payload, keys, { ...box, now: Date.now() }).ok, true);
  await w.close();

  const c = await runNoc(['publish', '--clear', '--broker', broker.url, '--device', box.deviceId]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /cleared the retained schedule \(boxes keep what they accepted\)/);
  // Nothing retained any more: a new subscriber gets none. The broker sends what it retains
  // on its subscription before the sync marker published after it.
  const late = await Watcher.connect(broker.url, [topic]);
  await late.sync();
  assert.equal(late.messages.length, 0);
  await late.close();
});

test('a command goes to .../cmd not retained; an invalid document is never published', async () => {
  const topic = deviceTopic(ROOT, box.deviceId, 'cmd');
  const w = await Watcher.connect(broker.url, [topic]);
  try {
    const json = join(dir, 'cmd.json');
    writeFileSync(json, JSON.stringify({ type: 'command', target: { devices: [box.deviceId] }, action: 'ping' }));
    const p = await runNoc(['publish', json, '--broker', broker.url, '--device', box.deviceId, '--key', pem]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(
      p.stdout,
      /command [0-9a-f-]{36} ping -> loa\/v1\/d\/vn-79-26734-01\/cmd \(QoS 1, acknowledged by the broker\)/,
    );
    const m = await w.waitFor(() => true, 5000, 'command');
    assert.equal(m.retain, false);
    const v = verifyCommand(m.payload, keys, { ...box, now: Date.now(), seen: () => false });
    assert.ok(v.ok, JSON.stringify(v));

    const bad = join(dir, 'bad-cmd.json');
    writeFileSync(
      bad,
      JSON.stringify({ type: 'command', target: { devices: [box.deviceId] }, action: 'volume', args: { level: -1 } }),
    );
    const r = await runNoc(['publish', bad, '--broker', broker.url, '--device', box.deviceId, '--key', pem]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /args\.level: must be 0 to 100/);
    await w.sync(); // noc has exited: anything it had published (QoS 1, acknowledged) is here by now
    assert.equal(w.messages.length, 1, 'only the valid command reached the topic');
    // A target that does not name the addressee: contract v1.1 §2.1 binds a document to
    // its topic (the box refuses it as `target`), so it is refused before signing.
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ type: 'command', target: { devices: ['someone-else'] }, action: 'ping' }));
    const o = await runNoc(['publish', other, '--broker', broker.url, '--device', box.deviceId, '--key', pem]);
    assert.equal(o.code, 1);
    assert.match(
      o.stderr,
      /target: command targets \{"devices":\["someone-else"\]\}, which does not list the device vn-79-26734-01 of the topic it is sent to \(boxes refuse it: target\)/,
    );
    // Nor is a signed group schedule re-published on a device topic.
    const groupJson = join(dir, 'group.json');
    const groupJws = join(dir, 'group.jws');
    writeFileSync(groupJson, JSON.stringify(scheduleDoc({ id: 'group-only', target: { groups: ['c26734'] } })));
    assert.equal((await runNoc(['sign', groupJson, '--key', pem, '--out', groupJws])).code, 0);
    const g = await runNoc(['publish', groupJws, '--broker', broker.url, '--device', box.deviceId]);
    assert.equal(g.code, 1);
    assert.match(g.stderr, /does not list the device vn-79-26734-01 of the topic it is sent to/);
    assert.match(g.stderr, /boxes would refuse this signed schedule \(1 problem above\); nothing published/);
    await w.sync();
    assert.equal(w.messages.length, 1, 'the refused command did not reach the topic');
  } finally {
    await w.close();
  }
});

test('errors: unsigned JSON without --key is a usage error; no broker is a one-line failure', async () => {
  const json = join(dir, 'daily2.json');
  writeFileSync(json, JSON.stringify(scheduleDoc()));
  const u = await runNoc(['publish', json, '--broker', broker.url, '--group', 'c26734']);
  assert.equal(u.code, 64);
  assert.match(u.stderr, /unsigned JSON document: add --key/);
  const port = await freePort();
  const f = await runNoc([
    'publish',
    json,
    '--broker',
    `mqtt://127.0.0.1:${port}`,
    '--group',
    'c26734',
    '--key',
    pem,
    '--connect-timeout',
    '3',
  ]);
  assert.equal(f.code, 1);
  assert.equal(
    f.stderr.trim().split('\n').at(-1),
    `noc publish: cannot connect to mqtt://127.0.0.1:${port}: connection refused (is the broker running on that port?)`,
  );
});

test('mutual TLS: --ca, --cert and --key-tls; without a client certificate the broker refuses', async () => {
  const pki = makePki(tempDir('noc-tls'));
  const tls = await startBroker({
    tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requireClientCert: true },
  });
  try {
    const json = join(dir, 'tls.json');
    writeFileSync(json, JSON.stringify(scheduleDoc({ id: 'tls-doc' })));
    const ok = await runNoc([
      'publish',
      json,
      '--key',
      pem,
      '--broker',
      tls.url,
      '--group',
      'c26734',
      '--ca',
      pki.ca,
      '--cert',
      pki.clientCert,
      '--key-tls',
      pki.clientKey,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const refused = await runNoc([
      'publish',
      json,
      '--key',
      pem,
      '--broker',
      tls.url,
      '--group',
      'c26734',
      '--ca',
      pki.ca,
      '--connect-timeout',
      '5',
    ]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^noc publish: cannot connect to mqtts:\/\/localhost:\d+: the broker requires a client certificate \(give --cert and --key-tls\)$/m,
    );
    const untrusted = await runNoc([
      'publish',
      json,
      '--key',
      pem,
      '--broker',
      tls.url,
      '--group',
      'c26734',
      '--connect-timeout',
      '5',
    ]);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /the broker's certificate is not trusted \(.*; give its CA with --ca\)/);
  } finally {
    await tls.close();
  }
});

test('noc keys --roles: the entry names its roles, and a box refuses a schedule signed by a release-only key', async () => {
  const bad = await runNoc(['keys', '--kid', 'rel-x', '--out', dir, '--roles', 'release,deploy']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--roles: "deploy" is not one of schedule, command, release/);
  const k = await runNoc(['keys', '--kid', 'release-2026', '--out', dir, '--roles', 'release']);
  assert.equal(k.code, 0, k.stderr);
  const entry = JSON.parse(k.stdout) as { kid: string; publicKey: string; roles: ['release'] };
  assert.deepEqual(entry.roles, ['release']);
  const json = join(dir, 'by-release.json');
  const jws = join(dir, 'by-release.jws');
  writeFileSync(json, JSON.stringify(scheduleDoc({ id: 'by-release' })));
  const s = await runNoc(['sign', json, '--key', join(dir, 'release-2026.key.pem'), '--out', jws]);
  assert.equal(s.code, 0, s.stderr);
  const v = verifySchedule(readFileSync(jws), new KeyRing([entry]), { ...box, now: Date.now() });
  assert.equal(!v.ok && v.reason, 'unknown-key');
});
