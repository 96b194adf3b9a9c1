import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync, chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, loadConfig, ConfigError } from '../../agent/config.js';
import { tempDir } from '../helpers/tmp.js';

const minimal = { deviceId: 'vn-79-26734-01', mqtt: { url: 'mqtts://broker.example.vn:8883' } };

function problems(raw: unknown): string[] {
  try {
    parseConfig(raw, '/etc/loa');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'CONFIG_INVALID');
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

test('defaults fill everything but device id and broker URL', () => {
  const c = parseConfig(minimal, '/etc/loa');
  assert.equal(c.topicRoot, 'loa/v1');
  assert.equal(c.heartbeatS, 30);
  assert.equal(c.mqtt.version, 5);
  assert.equal(c.mqtt.keepaliveS, 60);
  assert.ok(c.mqtt.sessionExpiryS >= 86_400);
  assert.equal(c.mqtt.insecureSkipVerify, false);
  assert.equal(c.outbox.maxEvents, 200_000);
  assert.equal(c.outbox.synchronous, 'full');
  assert.equal(c.hardware.board, 'sim');
  assert.equal(c.stateDir, '/var/lib/loa');
  assert.deepEqual(c.groups, []);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.mqtt));
});

test('relative paths resolve against the config file directory', () => {
  const c = parseConfig({ ...minimal, stateDir: 'state', mqtt: { ...minimal.mqtt, ca: 'ca.crt' } }, '/etc/loa');
  assert.equal(c.stateDir, '/etc/loa/state');
  assert.equal(c.mqtt.ca, '/etc/loa/ca.crt');
});

test('MQTT version accepts 5, "5" and "3.1.1"', () => {
  assert.equal(parseConfig({ ...minimal, mqtt: { ...minimal.mqtt, version: '3.1.1' } }).mqtt.version, '3.1.1');
  assert.equal(parseConfig({ ...minimal, mqtt: { ...minimal.mqtt, version: '5' } }).mqtt.version, 5);
  assert.deepEqual(problems({ ...minimal, mqtt: { ...minimal.mqtt, version: 4 } }), [
    'mqtt.version: 4 is not a supported MQTT version (expected 5 or "3.1.1")',
  ]);
});

test('a bad URL names the field, the value and what was expected', () => {
  assert.deepEqual(problems({ ...minimal, mqtt: { url: 'mqtt:/x' } }), [
    'mqtt.url: "mqtt:/x" is not a URL of the form mqtt://host[:port] or mqtts://host[:port]',
  ]);
  assert.match(
    problems({ ...minimal, mqtt: { url: 'http://broker' } })[0]!,
    /^mqtt\.url: "http:\/\/broker" is not a URL/,
  );
});

test('missing fields, wrong types, ranges and typos are each reported', () => {
  const p = problems({ mqtt: { url: 'mqtt://h', keepalivS: 30 }, heartbeatS: '30', grups: ['a'], site: { lat: 123 } });
  assert.deepEqual(p.sort(), [
    'deviceId: missing (required)',
    'grups: unknown field (did you mean "groups"?)',
    'heartbeatS: "30" is not a number (expected seconds)',
    'mqtt.keepalivS: unknown field (did you mean "keepaliveS"?)',
    'site.lat: 123 is not a latitude (-90 to 90)',
  ]);
});

test('identifiers follow the contract pattern', () => {
  assert.match(problems({ ...minimal, deviceId: 'Box 1' })[0]!, /^deviceId: "Box 1" is not a valid device id/);
  assert.match(
    problems({ ...minimal, groups: ['ok', 'NOT-OK'] })[0]!,
    /^groups\[1\]: "NOT-OK" is not a valid group name/,
  );
});

test('trusted keys must be raw Ed25519 public keys', () => {
  const good = Buffer.alloc(32, 7).toString('base64url');
  assert.equal(
    parseConfig({ ...minimal, trustedKeys: [{ kid: 'centre-2026', publicKey: good }] }).trustedKeys.length,
    1,
  );
  assert.match(
    problems({ ...minimal, trustedKeys: [{ kid: 'k', publicKey: 'abc' }] })[0]!,
    /^trustedKeys\[0\]\.publicKey: "abc" is not a raw Ed25519 public key/,
  );
});

test('cross-field rules: cert and key together, password or passwordFile, backoff bounds', () => {
  assert.deepEqual(problems({ ...minimal, mqtt: { ...minimal.mqtt, cert: 'c.pem' } }), [
    'mqtt.key: missing, required when mutual TLS is configured (cert and key go together)',
  ]);
  assert.match(
    problems({ ...minimal, mqtt: { ...minimal.mqtt, password: 'a', passwordFile: 'p' } })[0]!,
    /^mqtt\.passwordFile: "p" is set together with mqtt\.password/,
  );
  assert.match(
    problems({ ...minimal, mqtt: { ...minimal.mqtt, reconnect: { minS: 10, maxS: 5 } } })[0]!,
    /^mqtt\.reconnect\.maxS: 5 is below mqtt\.reconnect\.minS \(10\)/,
  );
});

test('loadConfig: missing file, bad JSON with its position', () => {
  const dir = tempDir('cfg');
  assert.throws(
    () => loadConfig(join(dir, 'nope.json')),
    (e: ConfigError) => e.code === 'CONFIG_UNREADABLE' && /does not exist/.test(e.problems[0]!),
  );
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{\n  "deviceId": "a",\n  "mqtt": { "url": "mqtt://h", }\n}\n');
  assert.throws(
    () => loadConfig(bad),
    (e: ConfigError) => e.code === 'CONFIG_INVALID' && /not valid JSON: .* at line 3/.test(e.problems[0]!),
  );
});

test('secrets readable by others are refused with the fix', () => {
  const dir = tempDir('cfg-modes');
  const path = join(dir, 'agent.json');
  writeFileSync(path, JSON.stringify({ ...minimal, mqtt: { ...minimal.mqtt, password: 's3cret' } }));
  chmodSync(path, 0o644);
  assert.throws(
    () => loadConfig(path),
    (e: ConfigError) =>
      e.code === 'CONFIG_INSECURE' && /readable by any user \(mode 0644\)\. Run: chmod o-r/.test(e.problems[0]!),
  );
  chmodSync(path, 0o640);
  assert.equal(loadConfig(path).mqtt.passwordValue, 's3cret');

  const key = join(dir, 'client.key');
  const pw = join(dir, 'password');
  writeFileSync(key, 'KEY');
  writeFileSync(pw, 'from-file\n');
  chmodSync(key, 0o644);
  chmodSync(pw, 0o600);
  writeFileSync(
    path,
    JSON.stringify({
      ...minimal,
      mqtt: { ...minimal.mqtt, cert: 'client.crt', key: 'client.key', passwordFile: 'password' },
    }),
  );
  writeFileSync(join(dir, 'client.crt'), 'CERT');
  assert.throws(
    () => loadConfig(path),
    (e: ConfigError) =>
      e.problems.some((p) => /^mqtt\.key: .* is a secret readable by any user \(mode 0644\)\. Run: chmod 600/.test(p)),
  );
  chmodSync(key, 0o600);
  assert.equal(loadConfig(path).mqtt.passwordValue, 'from-file');

  chmodSync(path, 0o666);
  assert.throws(
    () => loadConfig(path),
    (e: ConfigError) => /writable by any user/.test(e.problems[0]!),
  );
});

test('credentials in mqtt.url are refused with the fields to use, and the password is not printed', () => {
  const p = problems({ ...minimal, mqtt: { url: 'mqtt://user:s3cret@broker.example.vn:1883' } });
  assert.equal(p.length, 1);
  assert.match(
    p[0]!,
    /^mqtt\.url: "mqtt:\/\/\*\*\*@broker\.example\.vn:1883" holds credentials: .*mqtt\.username.*mqtt\.passwordFile.*mqtt\.password/,
  );
  assert.doesNotMatch(p[0]!, /s3cret/);
  assert.match(
    problems({ ...minimal, mqtt: { url: 'mqtts://user@broker.example.vn' } })[0]!,
    /holds credentials: remove "user@"/,
  );
  assert.equal(
    parseConfig({ ...minimal, mqtt: { ...minimal.mqtt, username: 'user', password: 's3cret' } }).mqtt.passwordValue,
    's3cret',
  );
  // A password of the wrong type is named, not printed.
  assert.deepEqual(problems({ ...minimal, mqtt: { ...minimal.mqtt, password: 12345678 } }), [
    'mqtt.password: (value hidden) is not a string',
  ]);
});

test('cache.minRateBps: 1000 B/s by default, at least 100', () => {
  assert.equal(parseConfig(minimal).cache.minRateBps, 1000);
  assert.equal(parseConfig({ ...minimal, cache: { minRateBps: 4000 } }).cache.minRateBps, 4000);
  assert.match(
    problems({ ...minimal, cache: { minRateBps: 10 } })[0]!,
    /^cache\.minRateBps: 10 is below the minimum of 100 bytes\/s/,
  );
});

test('files writable by group or others, and directories writable by others, are refused with the chmod', () => {
  const dir = tempDir('cfg-write');
  const path = join(dir, 'agent.json');
  writeFileSync(path, JSON.stringify(minimal));
  chmodSync(path, 0o664);
  assert.throws(
    () => loadConfig(path),
    (e: ConfigError) =>
      e.code === 'CONFIG_INSECURE' &&
      e.problems[0] ===
        `${path}: writable by its group (mode 0664); anyone who can write it could add a trusted key. Run: chmod go-w ${path}`,
  );
  chmodSync(path, 0o644);
  assert.equal(loadConfig(path).deviceId, minimal.deviceId, 'a config without a secret may be world-readable');

  // A password file or key writable by the group: chmod 600.
  const pw = join(dir, 'password');
  writeFileSync(pw, 'pw\n');
  chmodSync(pw, 0o620);
  writeFileSync(path, JSON.stringify({ ...minimal, mqtt: { ...minimal.mqtt, passwordFile: 'password' } }));
  assert.throws(
    () => loadConfig(path),
    (e: ConfigError) =>
      e.problems.some(
        (p) => p === `mqtt.passwordFile: "${pw}" is a secret writable by its group (mode 0620). Run: chmod 600 ${pw}`,
      ),
  );
  chmodSync(pw, 0o600);
  assert.equal(loadConfig(path).mqtt.passwordValue, 'pw');

  // The directory holding them writable by anyone (not sticky): chmod o-w on it, once.
  chmodSync(dir, 0o777);
  try {
    assert.throws(
      () => loadConfig(path),
      (e: ConfigError) =>
        e.code === 'CONFIG_INSECURE' &&
        e.problems.length === 1 &&
        e.problems[0] ===
          `${dir}: writable by any user (mode 0777) and holds the configuration; anyone could replace it. Run: chmod o-w ${dir}`,
    );
    // Sticky, like /tmp (1777): nobody else can rename or delete our entries. Accepted.
    chmodSync(dir, 0o1777);
    assert.equal(loadConfig(path).mqtt.passwordValue, 'pw');
  } finally {
    chmodSync(dir, 0o700);
  }
});

test('a CA certificate writable by others is refused', () => {
  const dir = tempDir('cfg-ca');
  const path = join(dir, 'agent.json');
  writeFileSync(join(dir, 'ca.crt'), 'CA');
  chmodSync(join(dir, 'ca.crt'), 0o666);
  writeFileSync(path, JSON.stringify({ ...minimal, mqtt: { ...minimal.mqtt, ca: 'ca.crt' } }));
  assert.throws(
    () => loadConfig(path),
    (e: ConfigError) => /^mqtt\.ca: .* is writable by any user \(mode 0666\); .* Run: chmod go-w /.test(e.problems[0]!),
  );
});

test(
  'in a sticky shared directory (like /tmp), a file someone else owns is refused',
  { skip: process.getuid?.() !== 0 && 'needs root to chown' },
  () => {
    const dir = tempDir('cfg-sticky');
    const path = join(dir, 'agent.json');
    writeFileSync(path, JSON.stringify(minimal));
    chmodSync(dir, 0o1777);
    try {
      chownSync(path, 65534, 65534);
      assert.throws(
        () => loadConfig(path),
        (e: ConfigError) =>
          e.code === 'CONFIG_INSECURE' &&
          /^.*agent\.json: in the shared directory .* \(mode 1777\) but owned by uid 65534/.test(e.problems[0]!),
      );
      chownSync(path, 0, 0);
      assert.equal(loadConfig(path).deviceId, minimal.deviceId);
    } finally {
      chmodSync(dir, 0o700);
    }
  },
);

test('a password file or key in a directory anyone can write is refused, naming the field and the chmod', () => {
  const dir = tempDir('cfg-secret-dir');
  const open = join(dir, 'shared');
  mkdirSync(open);
  const pw = join(open, 'password');
  writeFileSync(pw, 'pw\n', { mode: 0o600 });
  const path = join(dir, 'agent.json');
  writeFileSync(path, JSON.stringify({ ...minimal, mqtt: { ...minimal.mqtt, passwordFile: pw } }));
  chmodSync(open, 0o777);
  try {
    assert.throws(
      () => loadConfig(path),
      (e: ConfigError) =>
        e.code === 'CONFIG_INSECURE' &&
        e.problems.length === 1 &&
        e.problems[0] ===
          `${open}: writable by any user (mode 0777) and holds mqtt.passwordFile; anyone could replace it. Run: chmod o-w ${open}`,
    );
  } finally {
    chmodSync(open, 0o700);
  }
  assert.equal(loadConfig(path).mqtt.passwordValue, 'pw');
});
