// Contract v1.1 (§2.1, §3) through a real broker: each hole found by trying the box as an
// attacker with publish rights and no key is now refused with its reason, and nothing
// changes in what plays; the legitimate replacements are still accepted; the densest
// legal document is planned without blocking the event loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DEFAULT_ROOT, deviceTopic, groupTopic, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { commandDoc, publishOnce } from '../helpers/box.js';
import { brokerForFile } from '../helpers/file-broker.js';
import { makeKey, sign, scheduleDoc } from '../helpers/signer.js';
import { parseConfig } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import { Agent } from '../../agent/compose/agent.js';
import { createSystemStats, type SystemStats } from '../../agent/adapters/system-stats.js';
import { spawn } from 'node:child_process';
import { MAX_URL_LENGTH } from '../../contract/schedule-doc.js';
import { audioTools } from '../helpers/audio.js';

const key = makeKey('centre-2026');
const files = brokerForFile();

let n = 0;
const HOUR = 3_600_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

const publish = (topic: string, payload: string, retain = true) =>
  publishOnce(files.broker.url, topic, payload, retain);

async function rig(t: { after: (fn: () => Promise<void>) => void }, clockSynced: boolean | null = true) {
  const deviceId = `v11-box-${++n}`;
  const group = `c2673${n}`;
  const dir = tempDir('v11');
  const input = {
    deviceId,
    groups: ['all', group],
    mqtt: { url: files.broker.url, version: files.broker.supportsV5 ? 5 : '3.1.1', reconnect: { minS: 1, maxS: 2 } },
    trustedKeys: [{ kid: key.kid, publicKey: key.publicKey }],
    stateDir: join(dir, 'state'),
    cacheDir: join(dir, 'cache'),
    audio: { player: 'stand-in' as const },
  };
  const config = parseConfig(input);
  // The box's time service, as systemd-timesyncd would report it (the rest of the stats are real).
  const real = createSystemStats({ diskPath: input.stateDir });
  const stats: SystemStats = { sys: () => real.sys(), clockSynced: async () => clockSynced };
  const agent = new Agent({ config, stats, log: createLogger({ level: 'silent', pretty: false }) });
  const root = DEFAULT_ROOT;
  const topics = {
    device: deviceTopic(root, deviceId, 'schedule'),
    group: groupTopic(root, group, 'schedule'),
    all: groupTopic(root, 'all', 'schedule'),
    cmd: deviceTopic(root, deviceId, 'cmd'),
    events: deviceTopic(root, deviceId, 'events'),
    result: deviceTopic(root, deviceId, 'cmd/result'),
  };
  const w = await Watcher.connect(files.broker.url, [topics.events, topics.result]);
  await agent.start();
  await w.waitUntil(() => (agent.link.connected ? true : undefined), 10_000, 'connected');
  t.after(async () => {
    await agent.stop();
    for (const tp of [topics.device, topics.group, topics.all]) await publish(tp, '');
    await w.close();
  });
  const events = (type: string) =>
    w.messages
      .filter((m) => m.topic === topics.events && m.json().type === type)
      .map((m) => m.json() as Record<string, unknown>);
  /** Publish and wait for the next verdict (accepted or rejected) on this document. */
  const offer = async (
    topic: string,
    doc: Record<string, unknown>,
    jws?: string,
  ): Promise<{ accepted: Record<string, unknown> } | { rejected: Record<string, unknown> }> => {
    const isVerdict = (m: { topic: string; json: () => unknown }) => {
      const e = m.json() as Record<string, unknown>;
      return (
        m.topic === topics.events &&
        (e.type === 'schedule.accepted' || e.type === 'schedule.rejected') &&
        (e.docId === doc.id || (jws !== undefined && e.docId === null))
      ); // a JWS-level refusal names no document
    };
    const before = w.messages.filter(isVerdict).length;
    await publish(topic, jws ?? (await sign(doc, key)));
    const m = await w.waitUntil(() => w.messages.filter(isVerdict)[before], 10_000, `verdict on ${String(doc.id)}`);
    const e = m.json() as Record<string, unknown>;
    return e.type === 'schedule.accepted' ? { accepted: e } : { rejected: e };
  };
  return { input, agent, deviceId, group, topics, w, events, offer };
}

test('an old group document republished on the device topic is refused (target), and the device plan stays', async (t) => {
  const r = await rig(t);
  const evening = scheduleDoc({
    id: 'evening',
    version: 3,
    issuedAt: ago(HOUR),
    target: { devices: [r.deviceId] },
    items: [
      { id: 'bulletin', source: { kind: 'line' }, at: new Date(Date.now() + 6 * HOUR).toISOString(), durationS: 60 },
    ],
  });
  assert.ok('accepted' in (await r.offer(r.topics.device, evening)));
  const oldGroupDoc = scheduleDoc({
    id: 'all-clear',
    version: 1,
    issuedAt: ago(60_000),
    target: { groups: ['all'] },
    items: [],
  });
  const v = await r.offer(r.topics.device, oldGroupDoc);
  assert.ok('rejected' in v, 'refused');
  assert.equal(v.rejected.reason, 'target');
  assert.match(String(v.rejected.message), /does not list the device/);
  assert.deepEqual(r.agent.docRefs(), [{ id: 'evening', version: 3 }]);
  assert.equal(r.agent.scheduler.next()?.itemId, 'bulletin');
  // The same document on the group topic it names is fine.
  assert.ok('accepted' in (await r.offer(r.topics.all, oldGroupDoc)));
});

test('per-topic replay: an older routine document with another id cannot displace the warning in force; a later one can', async (t) => {
  const r = await rig(t);
  const routine = scheduleDoc({
    id: 'routine',
    version: 7,
    issuedAt: ago(5 * HOUR),
    target: { groups: [r.group] },
    items: [],
  });
  const warning = scheduleDoc({
    id: 'typhoon',
    version: 1,
    issuedAt: ago(HOUR),
    target: { groups: [r.group] },
    items: [
      {
        id: 'warn',
        source: { kind: 'line' },
        at: new Date(Date.now() + 2 * HOUR).toISOString(),
        durationS: 60,
        priority: 100,
      },
    ],
  });
  assert.ok('accepted' in (await r.offer(r.topics.group, routine)));
  assert.ok('accepted' in (await r.offer(r.topics.group, warning)));
  // The routine document again (an attacker can only republish what was signed): the box
  // accepted this id and version before, so it is a no-op (contract §3), not a change.
  await publish(r.topics.group, await sign(routine, key));
  await new Promise((res) => setTimeout(res, 500));
  assert.deepEqual(r.agent.docRefs(), [{ id: 'typhoon', version: 1 }]);
  const otherOld = scheduleDoc({
    id: 'routine-b',
    version: 1,
    issuedAt: ago(2 * HOUR),
    target: { groups: [r.group] },
    items: [],
  });
  const v = await r.offer(r.topics.group, otherOld);
  assert.ok('rejected' in v);
  assert.equal(v.rejected.reason, 'replay');
  assert.match(String(v.rejected.message), /not after typhoon v1/);
  assert.deepEqual(r.agent.docRefs(), [{ id: 'typhoon', version: 1 }]);
  // Legitimate replacements: the same id with a higher version; a new id issued later.
  assert.ok('accepted' in (await r.offer(r.topics.group, { ...warning, version: 2 })));
  const allClear = scheduleDoc({
    id: 'all-clear',
    version: 1,
    issuedAt: ago(60_000),
    target: { groups: [r.group] },
    items: [],
  });
  assert.ok('accepted' in (await r.offer(r.topics.group, allClear)));
  assert.deepEqual(r.agent.docRefs(), [{ id: 'all-clear', version: 1 }]);
});

test('strict forms and bounds: spare base64url bits, 30 February, a 4 KB URL, a lifetime over the limit, issuedAt in the future, a cron bomb', async (t) => {
  const r = await rig(t);
  const base = { target: { devices: [r.deviceId] }, issuedAt: ago(60_000) };
  const good = scheduleDoc({ ...base, id: 'good', items: [] });
  const jws = await sign(good, key);
  // The signature's last character carries 4 spare bits; setting one keeps the bytes.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = jws.at(-1)!;
  const flipped = jws.slice(0, -1) + alphabet[alphabet.indexOf(last) + 1]!;
  assert.deepEqual(
    Buffer.from(flipped.split('.')[2]!, 'base64url'),
    Buffer.from(jws.split('.')[2]!, 'base64url'),
    'the same signature bytes',
  );
  const cases: [string, Record<string, unknown>, string | undefined, RegExp][] = [
    ['invalid', good, flipped, /not canonical base64url/],
    [
      'invalid',
      scheduleDoc({
        ...base,
        id: 'feb30',
        items: [{ id: 'x', source: { kind: 'line' }, at: '2026-02-30T10:00:00Z', durationS: 60 }],
      }),
      undefined,
      /items\[0\]\.at: is not a date and time that exists/,
    ],
    [
      'invalid',
      scheduleDoc({
        ...base,
        id: 'long-url',
        items: [
          {
            id: 'x',
            source: { kind: 'stream', url: `https://radio.example.vn/${'a'.repeat(4500)}` },
            cron: '0 5 * * *',
            durationS: 60,
          },
        ],
      }),
      undefined,
      /url: must be at most 2000 characters/,
    ],
    [
      'invalid',
      scheduleDoc({ ...base, id: 'forever', expiresAt: '9999-12-31T00:00:00Z' }),
      undefined,
      /expiresAt: lives .* longer than this box accepts/,
    ],
    ['invalid', scheduleDoc({ ...base, id: 'no-expiry', expiresAt: undefined }), undefined, /expiresAt: is required/],
    [
      'invalid',
      scheduleDoc({
        ...base,
        id: 'future',
        issuedAt: new Date(Date.now() + HOUR).toISOString(),
        expiresAt: new Date(Date.now() + 2 * HOUR).toISOString(),
      }),
      undefined,
      /issuedAt: .* ahead of this box's synchronised clock/,
    ],
    [
      'invalid',
      scheduleDoc({
        ...base,
        id: 'bomb',
        items: Array.from({ length: 20 }, (_, i) => ({
          id: `s${i}`,
          source: { kind: 'line' },
          cron: '* * * * * *',
          durationS: 1,
        })),
      }),
      undefined,
      /limit is 1440/,
    ],
  ];
  for (const [reason, doc, raw, message] of cases) {
    const v = await r.offer(r.topics.device, doc, raw);
    assert.ok('rejected' in v, `${String(doc.id)} refused`);
    assert.equal(v.rejected.reason, reason, String(v.rejected.message));
    assert.match(String(v.rejected.message), message);
    assert.deepEqual(r.agent.docRefs(), [], `nothing in force after ${String(doc.id)}`);
  }
  assert.ok('accepted' in (await r.offer(r.topics.device, good)));
});

test('a command living past commands.maxLifetimeH is refused invalid and does not run', async (t) => {
  const r = await rig(t);
  const before = (await r.agent.heartbeat.snapshot()).volume;
  assert.equal(before, 50, 'a new box starts at the safe level (docs/protocol.md §3 "Volume")');
  const cmd = { ...commandDoc(r.deviceId, 'volume', { level: 10 }), expiresAt: '9999-12-31T00:00:00Z' };
  await publish(r.topics.cmd, await sign(cmd, key, { typ: 'loa-command+json' }), false);
  const res = await r.w.waitFor((m) => m.topic === r.topics.result && m.json().cmdId === cmd.id, 10_000, 'result');
  const body = res.json() as { ok: boolean; error: { code: string; message: string } };
  assert.equal(body.ok, false);
  assert.equal(body.error.code, 'invalid');
  assert.match(body.error.message, /expiresAt: lives .* longer than this box accepts for a command \(24 h\)/);
  const hb = await r.agent.heartbeat.snapshot();
  assert.equal(hb.volume, before, 'the volume did not change');
});

test('the densest legal documents on three topics are accepted and planned in slices that never block the loop long', async (t) => {
  const r = await rig(t);
  const dense = (id: string, target: Record<string, unknown>) =>
    scheduleDoc({
      id,
      target,
      issuedAt: ago(60_000),
      items: Array.from({ length: 24 }, (_, h) => ({
        id: `h${h}`,
        source: { kind: 'line' },
        cron: `0-59 ${h} * * *`,
        durationS: 1,
        priority: 10,
      })),
    });
  const t0 = performance.now();
  for (const [topic, doc] of [
    [r.topics.device, dense('dense-d', { devices: [r.deviceId] })],
    [r.topics.group, dense('dense-g', { groups: [r.group] })],
    [r.topics.all, dense('dense-all', { groups: ['all'] })],
  ] as const) {
    assert.ok('accepted' in (await r.offer(topic, doc)), `${String(doc.id)} accepted`);
  }
  await r.agent.scheduler.planned();
  const ms = performance.now() - t0;
  t.diagnostic(
    `3 x 1440 occurrences a day accepted and planned in ${Math.round(ms)} ms; longest planning slice ${r.agent.scheduler.maxPlanSliceMs.toFixed(1)} ms of CPU`,
  );
  assert.ok(r.agent.scheduler.next() !== null);
  // The slice budget is 4 ms of wall time; the contract's bound is 20 ms, measured as the
  // event loop's delay by npm run bench -- planning. Here: CPU time, generous for a shared machine.
  assert.ok(
    r.agent.scheduler.maxPlanSliceMs <= 50,
    `longest planning slice ${r.agent.scheduler.maxPlanSliceMs} ms of CPU`,
  );
});

test('MQTT 5: the box announces a Maximum Packet Size, so the broker drops an oversize payload before it reaches the box', async (t) => {
  if (!files.broker.supportsV5) {
    t.skip(
      'mosquitto not installed: the aedes fallback speaks MQTT 3.1.1 only, which has no Maximum Packet Size (apt-get install mosquitto; under CI=true a missing mosquitto is a failure, not a skip)',
    );
    return;
  }
  const r = await rig(t);
  await publish(r.topics.cmd, 'x'.repeat(300 * 1024), false);
  const ping = commandDoc(r.deviceId, 'ping');
  await publish(r.topics.cmd, await sign(ping, key, { typ: 'loa-command+json' }), false);
  const res = await r.w.waitFor(
    (m) => m.topic === r.topics.result && m.json().cmdId === ping.id,
    10_000,
    'the ping result',
  );
  assert.equal(res.json().ok, true);
  await new Promise((res2) => setTimeout(res2, 300));
  assert.deepEqual(r.events('cmd.rejected'), [], 'the oversize payload never reached the box (no too-large refusal)');
});

test(
  "the longest URL a document may carry fits mpg123's remote-control line",
  { skip: audioTools().mpg123 ? false : 'needs mpg123' },
  async () => {
    const url = `http://127.0.0.1:9/${'a'.repeat(MAX_URL_LENGTH - 'http://127.0.0.1:9/'.length)}`;
    assert.equal(url.length, MAX_URL_LENGTH);
    const p = spawn('mpg123', ['-o', 'dummy', '-R'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stdin.write(`LOAD ${url}\n`);
    await new Promise((r) => setTimeout(r, 700));
    p.stdin.end('QUIT\n');
    await new Promise((r) => p.once('exit', r));
    assert.doesNotMatch(out, /Too long command/, out.slice(0, 300));
    assert.match(out, /@E|@I|@P/, 'mpg123 parsed the LOAD (it fails to connect, which is fine)');
  },
);

test("a box that leaves a group stops playing that group's schedule (the document stays stored, not in force)", async (t) => {
  const r = await rig(t);
  const groupDoc = scheduleDoc({
    id: 'group-day',
    issuedAt: ago(HOUR),
    target: { groups: [r.group] },
    items: [
      { id: 'g-item', source: { kind: 'line' }, at: new Date(Date.now() + 2 * HOUR).toISOString(), durationS: 60 },
    ],
  });
  assert.ok('accepted' in (await r.offer(r.topics.group, groupDoc)));
  assert.deepEqual(r.agent.docRefs(), [{ id: 'group-day', version: 1 }]);
  await r.agent.stop();
  // The same state, a config without the group (the NOC moved the box).
  const config = parseConfig({ ...r.input, groups: ['all'] });
  const moved = new Agent({ config, log: createLogger({ level: 'silent', pretty: false }) });
  await moved.start();
  try {
    assert.deepEqual(moved.docRefs(), []);
    assert.equal(moved.scheduler.next(), null);
  } finally {
    await moved.stop();
  }
});

test('a clock not known to be synchronised (a Pi at boot, a time service that says nothing) never refuses a document issued "in the future"', async (t) => {
  for (const synced of [false, null]) {
    const r = await rig(t, synced);
    const ahead = scheduleDoc({
      id: `ahead-${String(synced)}`,
      target: { devices: [r.deviceId] },
      issuedAt: new Date(Date.now() + HOUR).toISOString(),
      expiresAt: new Date(Date.now() + 2 * HOUR).toISOString(),
      items: [],
    });
    assert.ok('accepted' in (await r.offer(r.topics.device, ahead)), `accepted with clock.synced ${String(synced)}`);
  }
});
