// The agent binary refuses a bad configuration at start with exit code 78 (EX_CONFIG)
// and a message naming the field, the value and what was expected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync, chmodSync } from 'node:fs';
import { spawnAgent, writeConfig } from '../helpers/agent-process.js';
import { tempDir } from '../helpers/tmp.js';

async function run(args: string[]): Promise<{ code: number | null; out: string }> {
  const a = spawnAgent(args);
  const code = await a.exited();
  return { code, out: a.output() };
}

const cases: [string, Record<string, unknown>, RegExp][] = [
  ['bad URL', { deviceId: 'a', mqtt: { url: 'mqtt:/x' } }, /mqtt\.url: "mqtt:\/x" is not a URL/],
  ['missing device id', { mqtt: { url: 'mqtt://h' } }, /deviceId: missing \(required\)/],
  [
    'typo',
    { deviceId: 'a', mqtt: { url: 'mqtt://h' }, hartbeatS: 10 },
    /hartbeatS: unknown field \(did you mean "heartbeatS"\?\)/,
  ],
  [
    'wrong type',
    { deviceId: 'a', mqtt: { url: 'mqtt://h' }, heartbeatS: 'often' },
    /heartbeatS: "often" is not a number/,
  ],
  [
    'out of range',
    { deviceId: 'a', mqtt: { url: 'mqtt://h' }, heartbeatS: 1 },
    /heartbeatS: 1 is below the minimum of 5 s/,
  ],
  [
    'bad board',
    { deviceId: 'a', mqtt: { url: 'mqtt://h' }, hardware: { board: 'pi9' } },
    /hardware\.board: "pi9" is not a supported board/,
  ],
];

for (const [name, cfg, re] of cases) {
  test(`exit 78 on ${name}`, async () => {
    const path = writeConfig(tempDir('cli'), cfg);
    const { code, out } = await run(['--config', path]);
    assert.equal(code, 78, out);
    assert.match(out, re);
    assert.match(out, /configuration error \(CONFIG_INVALID\)/);
  });
}

test('exit 78 when the file is missing or not JSON', async () => {
  const dir = tempDir('cli');
  const missing = await run(['--config', join(dir, 'absent.json')]);
  assert.equal(missing.code, 78);
  assert.match(missing.out, /absent\.json: does not exist/);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"deviceId": "a",,}');
  const r = await run(['--config', bad]);
  assert.equal(r.code, 78);
  assert.match(r.out, /not valid JSON/);
});

test('exit 78 when a secret is readable by others', async () => {
  const dir = tempDir('cli');
  const path = writeConfig(dir, { deviceId: 'a', mqtt: { url: 'mqtt://h', password: 'pw' } }, 0o644);
  chmodSync(path, 0o644);
  const r = await run(['--config', path]);
  assert.equal(r.code, 78);
  assert.match(r.out, /CONFIG_INSECURE/);
  assert.match(r.out, /chmod o-r/);
});

test('--check-config accepts a good file with exit 0', async () => {
  const path = writeConfig(tempDir('cli'), { deviceId: 'a', mqtt: { url: 'mqtt://h' } });
  const r = await run(['--config', path, '--check-config']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /configuration OK/);
});
