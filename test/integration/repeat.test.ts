// Repeat until cancelled (issue 16 item 1) with real agent processes on Mosquitto: a
// `play` command with `repeat` and `capRef` (the form `noc cap` emits) keeps its cadence,
// measured; a schedule series and a command series survive a kill -9 mid-series and go
// on at their cadence; `cancel` stops both at once, and a restart does not bring them back.
// A real short cadence needs config schedule.minRepeatS (5 s here; the contract's is 60 s).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { DEFAULT_ROOT, topicsFor, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { makeKey, sign, scheduleDoc } from '../helpers/signer.js';
import { spawnAgent, writeConfig, type AgentProcess } from '../helpers/agent-process.js';
import { boxConfig, commandDoc, publishOnce } from '../helpers/box.js';
import { brokerForFile } from '../helpers/file-broker.js';

const key = makeKey('centre-2026');
const files = brokerForFile();
const EVERY_S = 5;
const capRef = (identifier: string) => ({
  identifier,
  sender: 'canhbao@kttv.gov.vn',
  sent: new Date().toISOString(),
  msgType: 'Alert',
});

async function box(name: string) {
  const deviceId = `repeat-${name}`;
  const topics = topicsFor(DEFAULT_ROOT, deviceId, []);
  const dir = tempDir(`repeat-${name}`);
  const cfg = writeConfig(
    dir,
    boxConfig(files.broker, key, deviceId, dir, {
      schedule: { minRepeatS: EVERY_S, graceS: 1 },
      hardware: { ampWarmUpMs: 300, ampHoldMs: 100 },
    }),
  );
  const w = await Watcher.connect(files.broker.url, [topics.events, topics.status, topics.cmdResult]);
  let agent: AgentProcess | undefined;
  const events = (type: string, itemId: string) =>
    w.messages
      .filter((m) => m.topic === topics.events)
      .map((m) => m.json() as Record<string, unknown>)
      .filter((e) => e.type === type && e.itemId === itemId);
  return {
    deviceId,
    topics,
    w,
    events,
    async start() {
      const since = w.messages.length;
      agent = spawnAgent(['--config', cfg]);
      await w.waitUntil(
        () => w.messages.slice(since).find((m) => m.topic.endsWith('/status') && m.json().online === true),
        30_000,
        'birth',
      );
      return agent;
    },
    async command(doc: Record<string, unknown> & { id: string }) {
      await publishOnce(files.broker.url, topics.deviceCmd, await sign(doc, key, { typ: 'loa-command+json' }));
      return (
        await w.waitFor(
          (m) => m.topic === topics.cmdResult && m.json().cmdId === doc.id,
          20_000,
          `result of ${doc.action}`,
        )
      ).json() as Record<string, unknown>;
    },
    waitPlays: (itemId: string, n: number, ms: number) =>
      w.waitUntil(() => (events('play.started', itemId).length >= n ? true : undefined), ms, `${n} plays of ${itemId}`),
    async close() {
      if (agent) assert.equal(await agent.term(), 0);
      await w.close();
    },
  };
}

// A media file the boxes fetch, verify and keep (the stand-in player times it by durationMs).
const MEDIA = randomBytes(4096);
let server: Server;
let mediaUrl = '';
let fetches = 0;
before(async () => {
  server = createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': MEDIA.length });
    res.end(MEDIA);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  mediaUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/alert.mp3`;
});
after(() => server.close());

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

test(
  'a play command with repeat {everyS 5, count 8} and capRef plays 8 times on its cadence, numbered, naming the CAP alert',
  { timeout: 120_000 },
  async (t) => {
    const b = await box('cadence');
    try {
      await b.start();
      const cmd = {
        ...commandDoc(b.deviceId, 'play', {
          source: { kind: 'line' },
          durationS: 1,
          priority: 100,
          repeat: { everyS: EVERY_S, count: 8 },
        }),
        capRef: capRef('VN-TEST-1'),
      };
      const res = await b.command(cmd);
      assert.equal(res.ok, true, JSON.stringify(res));
      assert.equal((res.result as { repeat: { everyS: number } }).repeat.everyS, EVERY_S);
      await b.waitPlays(cmd.id, 8, 60_000);
      await new Promise((r) => setTimeout(r, EVERY_S * 1000 + 1500)); // and no 9th
      const plays = b.events('play.started', cmd.id);
      assert.equal(plays.length, 8);
      assert.deepEqual(
        plays.map((p) => p.repeat),
        [1, 2, 3, 4, 5, 6, 7, 8],
      );
      assert.ok(plays.every((p) => p.capId === 'VN-TEST-1' && p.cmdId === cmd.id));
      // Audio out of play n is occurrence_n + lateMs_n; occurrence_n = first + (n-1) x everyS exactly.
      const first = Date.parse(String(plays[0]!.occurrence));
      plays.forEach((p, k) => assert.equal(Date.parse(String(p.occurrence)) - first, k * EVERY_S * 1000));
      const errs = plays.slice(1).map((p) => Math.abs(Number(p.lateMs) - Number(plays[0]!.lateMs)));
      t.diagnostic(
        `cadence error over ${errs.length} repeats (everyS ${EVERY_S}): p50 ${quantile(errs, 0.5)} ms, max ${Math.max(...errs)} ms`,
      );
      assert.ok(Math.max(...errs) <= 5000, `within ±5 s: ${errs.join(', ')}`);
      assert.equal(b.events('play.finished', cmd.id).length, 8);
    } finally {
      await b.close();
    }
  },
);

test(
  'kill -9 mid-series: both series go on at their cadence; cancel stops them at once and a restart does not bring them back',
  { timeout: 180_000 },
  async (t) => {
    const b = await box('restart');
    try {
      let agent = await b.start();
      const at = new Date(Math.ceil((Date.now() + 4000) / 1000) * 1000 + 2500).toISOString();
      const doc = scheduleDoc({
        id: 'warn',
        target: { devices: [b.deviceId] },
        items: [
          {
            id: 'siren',
            source: { kind: 'line' },
            at,
            durationS: 1,
            priority: 90,
            repeat: { everyS: EVERY_S, count: 60 },
            capRef: capRef('VN-TEST-S'),
          },
        ],
      });
      await publishOnce(files.broker.url, b.topics.deviceSchedule, await sign(doc, key), true);
      const cmd = {
        ...commandDoc(b.deviceId, 'play', {
          source: { kind: 'line' },
          durationS: 1,
          priority: 100,
          repeat: { everyS: EVERY_S, count: 60 },
        }),
        capRef: capRef('VN-TEST-C'),
      };
      assert.equal((await b.command(cmd)).ok, true);
      await b.waitPlays('siren', 2, 30_000);
      await b.waitPlays(cmd.id, 2, 30_000);
      await agent.kill9();
      const down = Date.now();
      await new Promise((r) => setTimeout(r, 2 * EVERY_S * 1000)); // two repeats of each fall in the downtime
      agent = await b.start();
      t.diagnostic(`down ${Date.now() - down} ms`);
      const before = { siren: b.events('play.started', 'siren').length, cmd: b.events('play.started', cmd.id).length };
      await b.waitPlays('siren', before.siren + 2, 30_000);
      await b.waitPlays(cmd.id, before.cmd + 2, 30_000);
      for (const itemId of ['siren', cmd.id]) {
        const plays = b.events('play.started', itemId);
        // Numbered from the first play seen: on a loaded machine the two series' first
        // occurrences may meet and one yield (reported, not started), so that one is not
        // always number 1; each play's number still follows from its instant.
        const first = Date.parse(String(plays[0]!.occurrence));
        const firstNo = Number(plays[0]!.repeat);
        for (const p of plays) {
          const offset = Date.parse(String(p.occurrence)) - first;
          assert.equal(offset % (EVERY_S * 1000), 0, `${itemId} play ${String(p.repeat)} on the cadence`);
          assert.equal(p.repeat, offset / (EVERY_S * 1000) + firstNo);
          assert.ok(Number(p.lateMs) < 5000, `late ${String(p.lateMs)} ms`);
        }
        const numbers = plays.map((p) => Number(p.repeat));
        assert.ok(
          numbers[before[itemId === 'siren' ? 'siren' : 'cmd']]! - numbers[0]! >= 3,
          `a gap after the restart: ${numbers.join(',')}`,
        );
        const skipped = b.events('play.skipped', itemId);
        const missed = skipped.map((e) => e.reason);
        assert.ok(
          missed.includes('missed') && missed.every((r) => r === 'missed' || r === 'busy'),
          `the downtime's repeats are missed: ${missed.join(',')}`,
        );
        // Each occurrence before the first play is accounted for as skipped (yielded or late).
        const before1 = new Set(skipped.map((e) => Number(e.repeat)).filter((n) => n < firstNo));
        assert.equal(before1.size, firstNo - 1, JSON.stringify(skipped));
      }
      const c1 = await b.command(commandDoc(b.deviceId, 'cancel', { capId: 'VN-TEST-C' }));
      const c2 = await b.command(commandDoc(b.deviceId, 'cancel', { docId: 'warn', itemId: 'siren' }));
      assert.deepEqual([c1.ok, (c1.result as { cancelled: number }).cancelled], [true, 1]);
      assert.deepEqual([c2.ok, (c2.result as { cancelled: number }).cancelled], [true, 1]);
      const after = { siren: b.events('play.started', 'siren').length, cmd: b.events('play.started', cmd.id).length };
      await new Promise((r) => setTimeout(r, 2 * EVERY_S * 1000 + 1000));
      assert.deepEqual(
        { siren: b.events('play.started', 'siren').length, cmd: b.events('play.started', cmd.id).length },
        after,
        'nothing after the cancels',
      );
      assert.equal(await agent.term(), 0);
      await b.start();
      await new Promise((r) => setTimeout(r, 2 * EVERY_S * 1000 + 1000));
      assert.deepEqual(
        { siren: b.events('play.started', 'siren').length, cmd: b.events('play.started', cmd.id).length },
        after,
        'nor after a restart',
      );
    } finally {
      await b.close();
    }
  },
);

test(
  'a file warning (the form noc cap sends): fetched and verified once, each repeat plays it in full, and after a restart the cached file plays on',
  { timeout: 120_000 },
  async () => {
    const b = await box('file');
    try {
      let agent = await b.start();
      const media = {
        id: 'cap-alert',
        url: mediaUrl,
        sha256: createHash('sha256').update(MEDIA).digest('hex'),
        bytes: MEDIA.length,
        durationMs: 1500,
      };
      const cmd = {
        ...commandDoc(b.deviceId, 'play', {
          source: { kind: 'file', media: ['cap-alert'] },
          media: [media],
          priority: 100,
          repeat: { everyS: EVERY_S, count: 5 },
        }),
        capRef: capRef('VN-TEST-F'),
      };
      assert.equal((await b.command(cmd)).ok, true);
      const finished = (n: number) =>
        b.w.waitUntil(
          () => b.events('play.finished', cmd.id).find((e) => e.repeat === n),
          30_000,
          `play ${n} finished`,
        );
      await finished(2);
      // Play n is due at the first start + (n - 1) x everyS (agent/domain/repeat.ts).
      const first = Date.parse(String(b.events('play.started', cmd.id).find((e) => e.repeat === 1)!.ts));
      const due = (n: number) => first + (n - 1) * EVERY_S * 1000;
      const down = Date.now();
      assert.equal(await agent.term(), 0);
      agent = await b.start();
      const up = Date.now();
      await finished(5);
      const fin = b.events('play.finished', cmd.id);
      // A play due while the box was down (from its stop to its birth, and the second after
      // it) may be missed, however many a loaded machine makes that (CI49's year-ahead run:
      // plays 3 and 4); every other plays in full.
      const owed = [1, 2, 3, 4, 5].filter((n) => due(n) < down || due(n) >= up + 1000);
      assert.ok(
        owed.every((n) => fin.some((e) => Number(e.repeat) === n)),
        `finished ${fin.map((e) => e.repeat).join(',')}; owed ${owed.join(',')} (down ${down - first} to ${up - first} ms after the first start)`,
      );
      assert.deepEqual(
        fin.map((e) => e.repeat),
        [...fin.map((e) => Number(e.repeat))].sort((x, y) => x - y),
      );
      assert.ok(
        fin.every((e) => Number(e.playedMs) >= 1400 && Number(e.playedMs) < 2500 && e.capId === 'VN-TEST-F'),
        fin.map((e) => e.playedMs).join(', '),
      );
      assert.equal(fetches, 1, 'fetched once, kept in the cache across the restart');
    } finally {
      await b.close();
    }
  },
);
