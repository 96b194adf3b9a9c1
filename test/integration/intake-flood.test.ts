// An attacker with broker publish rights and no key floods the box's command topic
// (contract v1.1 §7), against the real agent process and a real Mosquitto: a scheduled
// item playing through the flood ends on time and is reported; a signed emergency sent
// mid-flood starts promptly; heartbeats keep their period; the flood costs at most 20
// individual rejection events plus its `intake.flood` summary.
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { DEFAULT_ROOT, topicsFor, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { makeKey, sign, scheduleDoc } from '../helpers/signer.js';
import { spawnAgent, writeConfig } from '../helpers/agent-process.js';
import { boxConfig, commandDoc, publishOnce } from '../helpers/box.js';
import { brokerForFile } from '../helpers/file-broker.js';
import { startFlood } from '../helpers/flood.js';

const key = makeKey('centre-2026');
const files = brokerForFile();

const DEVICE = 'flood-box-01';
const T = topicsFor(DEFAULT_ROOT, DEVICE, []);

const publish = (topic: string, payload: string, retain = false) =>
  publishOnce(files.broker.url, topic, payload, retain);

test(
  'an unsigned flood on the command topic: the playing item ends on time, a signed emergency starts at once, heartbeats keep time',
  { timeout: 120_000 },
  async () => {
    const dir = tempDir('flood');
    const cfg = writeConfig(
      dir,
      boxConfig(files.broker, key, DEVICE, dir, { hardware: { ampWarmUpMs: 500, ampHoldMs: 200 } }),
    );
    const w = await Watcher.connect(files.broker.url, [T.events, T.heartbeat, T.cmdResult, T.status]);
    const agent = spawnAgent(['--config', cfg]);
    // What is measured is the agent under the flood, not under the other test files running
    // beside it: CI's year-ahead pass once started the item 1.8 s late with six files at
    // a time competing for two cores. Ahead of them (as root; a no-op otherwise), it gets
    // the CPU a box gives it, and the flood still competes at its own priority.
    spawnSync('renice', ['-n', '-10', '-p', String(agent.proc.pid)], { stdio: 'ignore' });
    try {
      await w.waitFor((m) => m.topic.endsWith('/status') && m.json().online === true, 30_000, 'birth');
      // A 4 s line item that starts 4 s from now, in the middle of the flood.
      const at = Math.ceil((Date.now() + 4000) / 1000) * 1000;
      const doc = scheduleDoc({
        id: 'flood-day',
        target: { devices: [DEVICE] },
        items: [{ id: 'line-4s', source: { kind: 'line' }, at: new Date(at).toISOString(), durationS: 4 }],
      });
      await publish(T.deviceSchedule, await sign(doc, key), true);
      await w.waitFor((m) => m.json().type === 'schedule.accepted', 10_000, 'schedule accepted');

      // It runs until the emergency has started (stopped below), whatever the load; 60 s is
      // only its bound.
      const flood = await startFlood(files.broker.url, T.deviceCmd, {
        ratePerS: 10_000,
        durationMs: 60_000,
        kid: key.kid,
      });
      const floodStart = Date.now();
      let floodOver = false;
      void flood.done.then(() => (floodOver = true));
      // The item plays and ends during the flood.
      const finished = await w.waitFor(
        (m) => m.json().type === 'play.finished' && m.json().itemId === 'line-4s',
        30_000,
        'play.finished of the line item',
      );
      const started = w.messages.find((m) => m.json().type === 'play.started' && m.json().itemId === 'line-4s')!.json();
      assert.ok(Number(started.lateMs) <= 1000, `started ${String(started.lateMs)} ms late under the flood`);
      const playedMs = Number(finished.json().playedMs);
      assert.ok(playedMs >= 3000 && playedMs <= 5500, `the 4 s slot played ${playedMs} ms`);

      // A signed emergency, mid-flood.
      assert.ok(flood.sent > 0 && !floodOver, 'the flood is still running when the emergency is sent');
      const cmd = commandDoc(DEVICE, 'play', { source: { kind: 'line' }, durationS: 2, priority: 100 });
      const jws = await sign(cmd, key, { typ: 'loa-command+json' });
      const sentAt = Date.now();
      await publish(T.deviceCmd, jws);
      const emergency = await w.waitFor(
        (m) => m.json().type === 'play.started' && m.json().cmdId === cmd.id,
        20_000,
        'the emergency play.started',
      );
      const latency = Date.parse(String(emergency.json().ts)) - sentAt;
      const sentDuring = flood.sent;
      flood.stop();
      const { sent, ms } = await flood.done;
      assert.ok(latency <= 3000, `emergency started ${latency} ms after it was published (the bench holds it to 1 s)`);
      await w.waitFor(
        (m) => m.topic.endsWith('/cmd/result') && m.json().cmdId === cmd.id && m.json().ok === true,
        10_000,
        'the emergency result',
      );

      // Heartbeats kept their period (5 s) through the flood: no gap over 5 + 2 s.
      const beats = w.messages
        .filter((m) => m.topic.endsWith('/heartbeat'))
        .map((m) => m.at)
        .filter((t) => t >= floodStart && t <= floodStart + ms);
      const gaps = beats.slice(1).map((t, i) => t - beats[i]!);
      assert.ok(beats.length >= 2, `heartbeats during the flood: ${beats.length}`);
      assert.ok(Math.max(...gaps) <= 7000, `largest heartbeat gap during the flood ${Math.max(...gaps)} ms`);

      // At most 20 individual rejections went out.
      const rejected = w.messages.filter((m) => m.topic.endsWith('/events') && m.json().type === 'cmd.rejected').length;
      const refusedResults = w.messages.filter((m) => m.topic.endsWith('/cmd/result') && m.json().ok === false).length;
      assert.ok(
        rejected + refusedResults <= 20,
        `${rejected} cmd.rejected events and ${refusedResults} refusals for ${sent} flood messages`,
      );
      assert.ok(sentDuring > 5000, `the flood sent ${sentDuring} messages before the emergency`);
    } finally {
      // The window's summary is written at shutdown (or at the minute) and sent after the restart.
      assert.equal(await agent.term(), 0);
    }
    const again = spawnAgent(['--config', cfg]);
    try {
      const flood = await w.waitFor((m) => m.json().type === 'intake.flood', 30_000, 'intake.flood');
      const f = flood.json() as {
        dropped: number;
        windowS: number;
        byReason: Record<string, number>;
        byTopic: Record<string, number>;
      };
      assert.equal(f.windowS, 60);
      assert.ok(f.dropped > 1000, `dropped ${f.dropped}`);
      assert.ok(
        f.byReason.invalid! > 0 && f.byReason.signature! > 0 && f.byReason['unknown-key']! > 0,
        JSON.stringify(f.byReason),
      );
      assert.deepEqual(Object.keys(f.byTopic), [T.deviceCmd]);
    } finally {
      await again.term();
      await w.close();
    }
  },
);
