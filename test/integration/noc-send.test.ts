// `noc send` against `noc simulate` boxes through a real Mosquitto: exit 0 for ok:true,
// 1 for a refusal (expired, untrusted kid, duplicate id), 3 when nobody answers; a group
// command collects one result per box.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { DEFAULT_ROOT as ROOT, fleetFilter, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { runNoc, spawnNoc, type NocProcess } from './noc-cli.js';

let broker: TestBroker;
let dir: string;
let centre: string;
let rogue: string;
let sim: NocProcess;

before(async () => {
  broker = await startBroker();
  dir = tempDir('noc-send');
  const k = await runNoc(['keys', '--kid', 'centre', '--out', dir]);
  assert.equal(k.code, 0, k.stderr);
  const r = await runNoc(['keys', '--kid', 'rogue', '--out', dir]);
  assert.equal(r.code, 0, r.stderr);
  centre = join(dir, 'centre.key.pem');
  rogue = join(dir, 'rogue.key.pem');
  const { kid, publicKey } = JSON.parse(k.stdout) as { kid: string; publicKey: string };
  sim = spawnNoc([
    'simulate',
    '--broker',
    broker.url,
    '--boxes',
    '3',
    '--groups',
    'all,c26734',
    '--trust',
    `${kid}=${publicKey}`,
    '--heartbeat',
    '5',
    '--play-every',
    '0',
  ]);
  await sim.waitFor(/ready: 3 of 3 boxes connected/, 30_000);
});
after(async () => {
  await sim?.stop();
  await broker.close();
});

const send = (args: string[], timeoutS = 15) =>
  runNoc(['send', '--broker', broker.url, '--timeout', String(timeoutS), ...args]);

test('ping a box: exit 0, the result holds its birth and heartbeat', async () => {
  const r = await send(['--device', 'sim-0002', '--action', 'ping', '--key', centre, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout.trim()) as {
    deviceId: string;
    ok: boolean;
    cmdId: string;
    result: { birth: { deviceId: string; bootId: string }; heartbeat: { bootId: string; state: string } };
  };
  assert.equal(res.ok, true);
  assert.equal(res.deviceId, 'sim-0002');
  assert.equal(res.result.birth.deviceId, 'sim-0002');
  assert.equal(res.result.heartbeat.bootId, res.result.birth.bootId);
  assert.match(r.stderr, new RegExp(`filled in: id=${res.cmdId}`));
  const plain = await send(['--device', 'sim-0001', '--action', 'volume', '--args', '{"level":35}', '--key', centre]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^sim-0001: ok in \d+ ms \{"level":35\}$/m);
});

test('refusals exit 1 with the error code: expired, untrusted kid, a command id seen before', async () => {
  const expired = join(dir, 'expired.json');
  writeFileSync(
    expired,
    JSON.stringify({
      type: 'command',
      id: 'old-1',
      issuedAt: new Date(Date.now() - 600_000).toISOString(),
      expiresAt: new Date(Date.now() - 300_000).toISOString(),
      target: { devices: ['sim-0001'] },
      action: 'ping',
    }),
  );
  const e = await send([expired, '--device', 'sim-0001', '--key', centre]);
  assert.equal(e.code, 1, e.stderr);
  assert.match(e.stdout, /^sim-0001: refused expired: expired at /m);

  const k = await send(['--device', 'sim-0001', '--action', 'ping', '--key', rogue, '--json']);
  assert.equal(k.code, 1, k.stderr);
  const res = JSON.parse(k.stdout.trim()) as { ok: boolean; error: { code: string; message: string } };
  assert.equal(res.ok, false);
  assert.equal(res.error.code, 'unknown-key');
  assert.match(res.error.message, /kid "rogue" is not a trusted key/);

  const once = join(dir, 'once.json');
  writeFileSync(
    once,
    JSON.stringify({ type: 'command', id: 'sync-once-1', target: { devices: ['sim-0003'] }, action: 'sync' }),
  );
  assert.equal((await send([once, '--device', 'sim-0003', '--key', centre])).code, 0);
  const again = await send([once, '--device', 'sim-0003', '--key', centre]);
  assert.equal(again.code, 1);
  assert.match(again.stdout, /refused duplicate: command sync-once-1 was already received/);
});

test('nobody answering: exit 3 after --timeout, saying what the broker knows of the box', async () => {
  const t0 = Date.now();
  const r = await send(['--device', 'sim-9999', '--action', 'ping', '--key', centre], 2);
  assert.equal(r.code, 3, r.stderr);
  assert.ok(Date.now() - t0 < 30_000);
  assert.match(r.stderr, /no result for command [0-9a-f-]{36} from sim-9999 within 2 s: no status is retained for it/);
  const g = await send(['--group', 'nobody-here', '--action', 'ping', '--key', centre], 2);
  assert.equal(g.code, 3);
  assert.match(g.stderr, /no box of group nobody-here answered/);
});

test('a group command: one result per box, counted against the online members of the group', async () => {
  const r = await send(['--group', 'c26734', '--action', 'selftest', '--key', centre]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  for (const id of ['sim-0001', 'sim-0002', 'sim-0003'])
    assert.ok(
      lines.some((l) => l.startsWith(`${id}: ok in `)),
      `${id} answered:\n${r.stdout}`,
    );
  assert.equal(lines.at(-1), 'group c26734: 3 answered (3 ok, 0 refused); 3 online members known from births');
});

test('Ctrl-C on simulate publishes each box’s clean death with its bootId', async () => {
  const w = await Watcher.connect(broker.url, [fleetFilter(ROOT, 'status')]);
  const births = await w.waitUntil(
    () => (w.messages.length >= 3 ? w.messages.map((m) => m.json<{ bootId: string; deviceId: string }>()) : undefined),
    5000,
    'three retained births',
  );
  assert.equal(await sim.stop(), 0);
  const deaths = await w.waitUntil(
    () => {
      const d = w.messages.filter((m) => m.json().online === false);
      return d.length >= 3 ? d : undefined;
    },
    10_000,
    'three deaths',
  );
  for (const d of deaths) {
    const box = d.topic.split('/')[3];
    const body = d.json<{ bootId: string; reason: string }>();
    assert.equal(body.reason, 'shutdown');
    assert.equal(body.bootId, births.find((b) => b.deviceId === box)?.bootId);
  }
  await w.close();
});
