// Live broadcast end to end (contract v1.2 §8, issue [5/8]): a real Mosquitto, two box
// processes with the paced stand-in card recording what each plays (audio.recordDir:
// a WAV and the wall-clock instant of its first frame), and the real `noc live` playing
// a WAV of marker clicks. Each click must leave both cards at its capture instant +
// latency (±5 ms), the two boxes in step; forged, foreign, misaddressed and replayed
// chunks are dropped and counted and nothing of them is heard; a source killed
// mid-sentence ends the session on every box within 10 s, amplifier off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { forge } from '../helpers/signer.js';
import { clickTimes, clicksWav, events, liveArgs, liveRig, onsets, RATE, readRecording } from '../helpers/live-rig.js';
import { spawnNoc } from './noc-cli.js';
import { LATENCY_MS, speakClicks } from './live-clicks.js';
import { signDoc } from '../../contract/index.js';
import { LIVE_TYP } from '../../contract/verify.js';

const CLICKS = clickTimes(5, 0.7);

test(
  'a live session from noc live: every click leaves both boxes at capture + latency (±5 ms), in step; forged, foreign, misaddressed and replayed chunks are dropped, counted and never heard',
  { timeout: 120_000 },
  async () => {
    const r = await liveRig(['live-a', 'live-b']);
    try {
      const wav = join(r.dir, 'clicks.wav');
      clicksWav(wav, 4, CLICKS);
      const archive = join(r.dir, 'archive');
      const noc = spawnNoc(liveArgs(r, { file: wav, latencyMs: LATENCY_MS, extra: ['--operator', 'test'] }));
      // The first genuine chunk names the session; replay it and send forgeries while it runs.
      const first = await r.watcher.waitFor((m) => m.topic.startsWith('loa/v1/live/'), 20_000, 'the first live chunk');
      const topic = first.topic;
      const sessionId = topic.split('/').pop()!;
      const now = Date.now();
      const genuine = JSON.parse(Buffer.from(first.payload.toString().split('.')[1]!, 'base64url').toString()) as {
        f: string[];
      };
      const chunk = (over: Record<string, unknown>) => ({ s: sessionId, n: 100_000, t: now, f: genuine.f, ...over });
      const bad = [
        first.payload, // replayed: n goes backwards
        forge(chunk({}), { alg: 'EdDSA', kid: r.liveKey.kid, typ: LIVE_TYP }), // bad signature
        signDoc(chunk({}), { key: r.cmdKey.privateKey, kid: r.cmdKey.kid }, LIVE_TYP), // a key without the live role
        signDoc(chunk({ s: 'another-session' }), { key: r.liveKey.privateKey, kid: r.liveKey.kid }, LIVE_TYP),
        'not a jws at all',
      ];
      const { mqtt } = await import('../../cli-kit/mqtt-lib.js');
      const c = await mqtt.connectAsync(r.broker.url, { protocolVersion: 4 });
      for (const p of bad) await c.publishAsync(topic, p, { qos: 0 });
      await c.endAsync();
      assert.equal(await noc.exited, 0, noc.stderr());
      assert.match(noc.stdout(), /2 listening, 0 refused/);
      const rec = JSON.parse(readFileSync(join(archive, `${sessionId}.json`), 'utf8')) as {
        captureStartMs: number;
        bytesPublished: number;
        seconds: number;
      };
      // The archive is Ogg Opus any player reads: opus-tools decodes all of it.
      const decoded = spawnSync('opusdec', ['--quiet', join(archive, `${sessionId}.opus`), join(r.dir, 'archive.wav')]);
      assert.equal(decoded.status, 0, String(decoded.stderr));
      const seconds = (readFileSync(join(r.dir, 'archive.wav')).length - 44) / 2 / RATE;
      assert.ok(Math.abs(seconds - rec.seconds) < 0.05, `the archive holds ${seconds} s of ${rec.seconds} s`);
      for (const b of r.boxes)
        await r.watcher
          .waitFor(
            (m) => m.topic === `loa/v1/d/${b.id}/events` && m.json().type === 'live.stats' && m.json().reason === 'end',
            20_000,
            `${b.id}: the session's end`,
          )
          .catch((err: Error) => {
            throw new Error(`${err.message}\n${b.proc.output().slice(-3000)}`);
          });
      const heard: number[][] = [];
      for (const b of r.boxes) {
        const stats = events(r.watcher, b.id, 'live.stats').find((e) => e.reason === 'end')!;
        assert.equal(stats.invalid, 5, `${b.id} dropped the five bad chunks: ${JSON.stringify(stats)}`);
        assert.equal(stats.late, 0, JSON.stringify(stats));
        assert.equal(stats.synced, true);
        // live.stats is sent as the session ends; its play.finished follows it (CI16 saw the gap).
        const fin = (
          await r.watcher.waitFor(
            (m) =>
              m.topic === `loa/v1/d/${b.id}/events` &&
              m.json().type === 'play.finished' &&
              m.json().sessionId === sessionId,
            20_000,
            `${b.id}: play.finished for the session`,
          )
        ).json();
        assert.equal(fin.source, 'live');
        const { pcm, meta } = readRecording(b.rec);
        const at = onsets(pcm).map((i) => meta.firstSampleMs + (i * 1000) / meta.cardRateHz);
        assert.equal(
          at.length,
          CLICKS.length,
          // On a failure, the card's own account: underruns (the agent stalled past its 200 ms) lose audio.
          `${b.id}: ${at.length} clicks heard, ${CLICKS.length} sent (nothing of the bad chunks); heard at ${at.map((ms) => (ms - rec.captureStartMs).toFixed(0)).join(', ')} ms after capture; card ${JSON.stringify(meta)}`,
        );
        at.forEach((ms, k) => {
          const want = rec.captureStartMs + (CLICKS[k]! * 1000) / RATE + LATENCY_MS;
          assert.ok(
            Math.abs(ms - want) <= 5,
            `${b.id} click ${k}: ${(ms - want).toFixed(2)} ms from capture + latency`,
          );
        });
        heard.push(at);
      }
      const skew = heard[0]!.map((ms, k) => Math.abs(ms - heard[1]![k]!));
      assert.ok(Math.max(...skew) <= 5, `skew between the boxes ${skew.map((s) => s.toFixed(2)).join(', ')} ms`);
      process.stdout.write(
        `# live: offsets ${heard.map((h) => h.map((ms, k) => (ms - rec.captureStartMs - (CLICKS[k]! * 1000) / RATE - LATENCY_MS).toFixed(2)).join(' ')).join(' | ')} ms; skew max ${Math.max(...skew).toFixed(3)} ms; ${Math.round((rec.bytesPublished * 8) / rec.seconds / 1000)} kbit/s on the wire\n`,
      );
    } finally {
      await r.close();
    }
  },
);

test(
  'a source killed mid-sentence ends the session on the box within 10 s, amplifier off; a live command naming a key without the live role is refused',
  { timeout: 120_000 },
  async () => {
    const r = await liveRig(['live-c']);
    try {
      const wav = join(r.dir, 'long.wav');
      clicksWav(wav, 30, CLICKS);
      const args = (liveKey: string) => liveArgs(r, { file: wav, latencyMs: LATENCY_MS, device: 'live-c', liveKey });
      // The command key names itself as the session's key: the box refuses to open the session.
      const wrong = spawnNoc(args(r.keyFiles.cmd));
      await wrong.waitFor(/refused unknown-key: key centre-cmd is not trusted for live chunks/, 20_000, 'stderr');
      await wrong.stop();
      const noc = spawnNoc(args(r.keyFiles.live));
      await noc.waitFor(/live-c: listening/, 20_000, 'stderr');
      const started = await r.watcher.waitFor(
        (m) => m.topic === 'loa/v1/d/live-c/events' && m.json().type === 'play.started' && m.json().source === 'live',
        20_000,
        'play.started',
      );
      noc.proc.kill('SIGKILL');
      const killedAt = Date.now();
      const end = await r.watcher.waitFor(
        (m) =>
          m.topic === 'loa/v1/d/live-c/events' &&
          m.json().type === 'play.interrupted' &&
          m.json().sessionId === started.json().sessionId,
        20_000,
        'the session ends',
      );
      assert.equal(end.json().reason, 'timeout');
      // 10 s after the last chunk, which the box had before the kill.
      assert.ok(end.at - killedAt <= 10_000 + 1000, `ended ${end.at - killedAt} ms after the source died`);
      await r.watcher.waitFor(
        (m) =>
          m.topic === 'loa/v1/d/live-c/heartbeat' &&
          m.at > end.at &&
          (m.json().amp as { on: boolean }).on === false &&
          m.json().playing === null,
        10_000,
        'a heartbeat: idle, amplifier off',
      );
      const stats = events(r.watcher, 'live-c', 'live.stats').find((e) => e.reason === 'timeout');
      assert.ok(stats && (stats.received as number) > 0, JSON.stringify(stats));
    } finally {
      await r.close();
    }
  },
);

test(
  "one box's link stalls longer than the latency: its late audio is concealed and counted, the other box is untouched",
  { timeout: 120_000 },
  async () => {
    const r = await liveRig(['live-s', 'live-t'], {}, ['live-s']);
    try {
      const wav = join(r.dir, 'clicks.wav');
      const clicks = clickTimes(8, 0.7);
      clicksWav(wav, 6, clicks);
      const noc = spawnNoc(liveArgs(r, { file: wav, latencyMs: LATENCY_MS }));
      // 1 s into the audio (chunk 5 published), live-s hears nothing for 2.5 s: 1 s more than the latency covers.
      const chunkN = (m: { payload: Buffer }) =>
        (JSON.parse(Buffer.from(m.payload.toString().split('.')[1] ?? '', 'base64url').toString()) as { n: number }).n;
      await r.watcher.waitFor((m) => m.topic.startsWith('loa/v1/live/') && chunkN(m) >= 5, 20_000, 'chunk 5');
      r.proxies.get('live-s')!.stall(2500);
      assert.equal(await noc.exited, 0, noc.stderr());
      const stats: Record<string, Record<string, unknown>> = {};
      for (const id of ['live-s', 'live-t']) {
        const m = await r.watcher.waitFor(
          (x) => x.topic === `loa/v1/d/${id}/events` && x.json().type === 'live.stats' && x.json().reason === 'end',
          20_000,
          `${id}: the end`,
        );
        stats[id] = m.json();
      }
      const s = stats['live-s']!;
      const t = stats['live-t']!;
      assert.ok((s.late as number) > 0 && (s.concealedMs as number) >= 500, `live-s: ${JSON.stringify(s)}`);
      assert.equal(t.late, 0, JSON.stringify(t));
      assert.equal(t.concealedMs, 0, JSON.stringify(t));
      const card = readRecording(r.boxes[1]!.rec);
      assert.equal(
        onsets(card.pcm).length,
        clicks.length,
        `live-t heard every click: card ${JSON.stringify(card.meta)}, onsets at ${onsets(card.pcm)
          .map((i) => ((i * 1000) / card.meta.cardRateHz).toFixed(0))
          .join(', ')} ms into the recording`,
      );
      process.stdout.write(`# live stall: live-s ${JSON.stringify(s)}\n`);
    } finally {
      await r.close();
    }
  },
);

test(
  'priorities (contract §3): an emergency live session preempts a normal one, which resumes after it; a stop command ends a session for good',
  { timeout: 120_000 },
  async () => {
    const r = await liveRig(['live-p']);
    try {
      const speak = (file: string, priority: number) =>
        spawnNoc(
          liveArgs(r, { file, latencyMs: LATENCY_MS, device: 'live-p', extra: ['--priority', String(priority)] }),
        );
      const long = join(r.dir, 'long.wav');
      const short = join(r.dir, 'short.wav');
      clicksWav(long, 20, clickTimes(10, 1.5));
      clicksWav(short, 2, clickTimes(2, 0.6));
      const ev = (type: string, pred: (e: Record<string, unknown>) => boolean, what: string) =>
        r.watcher.waitFor(
          (m) => m.topic === 'loa/v1/d/live-p/events' && m.json().type === type && pred(m.json()),
          30_000,
          what,
        );
      const normal = speak(long, 75);
      const first = (await ev('play.started', (e) => e.source === 'live', 'the normal session plays')).json();
      const emergency = speak(short, 100);
      const pre = await ev('play.interrupted', (e) => e.sessionId === first.sessionId, 'the normal session preempted');
      assert.equal(pre.json().reason, 'preempted');
      const alarm = (await ev('play.started', (e) => e.priority === 100, 'the emergency plays')).json();
      assert.notEqual(alarm.sessionId, first.sessionId);
      assert.equal(await emergency.exited, 0, emergency.stderr());
      await ev('play.finished', (e) => e.sessionId === alarm.sessionId, 'the emergency ends');
      await ev(
        'play.started',
        (e) => e.sessionId === first.sessionId && e.resumed === true,
        'the normal session resumes',
      );
      const stop = spawnNoc([
        'send',
        '--broker',
        r.broker.url,
        '--device',
        'live-p',
        '--action',
        'stop',
        '--key',
        r.keyFiles.cmd,
      ]);
      assert.equal(await stop.exited, 0, stop.stderr());
      const stopped = await ev(
        'play.interrupted',
        (e) => e.sessionId === first.sessionId && e.reason === 'stopped',
        'the normal session stopped',
      );
      // One report of the preemption; resuming is not the session's end (it was, twice, before).
      await ev('live.stats', (e) => e.sessionId === first.sessionId && e.reason === 'stopped', 'the stopped stats');
      assert.deepEqual(
        events(r.watcher, 'live-p', 'live.stats')
          .filter((e) => e.sessionId === first.sessionId)
          .map((e) => e.reason),
        ['preempted', 'stopped'],
      );
      // Its source, ended now, sends its end chunk; nothing of the session plays again.
      await normal.stop();
      await r.watcher.sync();
      assert.ok(
        !r.watcher.messages.some(
          (m) => m.topic === 'loa/v1/d/live-p/events' && m.at > stopped.at && m.json().type === 'play.started',
        ),
        'no play after the stop',
      );
    } finally {
      await r.close();
    }
  },
);

test(
  'a flood of forged chunks on the live topic during a session: all counted, none heard, every click still on time',
  { timeout: 120_000 },
  async () => {
    const r = await liveRig(['live-f']);
    try {
      const { clicks, archive, noc, first, sessionId, chunk: genuine } = await speakClicks(r, 'live-f', 6, 0.7, 5);
      // Well-formed chunks in the session's name with the session's kid and a wrong signature:
      // each costs the box a full Ed25519 verification.
      const FLOOD = 5000;
      const { mqtt } = await import('../../cli-kit/mqtt-lib.js');
      const c = await mqtt.connectAsync(r.broker.url, { protocolVersion: 4 });
      // 2,000 a second for 2.5 s (about 5 Mbit/s: more than a 4G link carries). One burst of
      // all 5,000 at once on this loaded 2-core machine still cost the card an underrun in CI15
      // (a click lost); the note of issue 28 says so.
      for (let i = 0; i < FLOOD; i++) {
        c.publish(
          first.topic,
          forge(
            { s: sessionId, n: 1000 + i, t: Date.now(), f: genuine.f },
            { alg: 'EdDSA', kid: r.liveKey.kid, typ: LIVE_TYP },
          ),
          { qos: 0 },
        );
        if (i % 100 === 99) await new Promise((ok) => setTimeout(ok, 50)); // the flood's rate, not a wait for an event
      }
      await c.endAsync();
      assert.equal(await noc.exited, 0, noc.stderr());
      const stats = (
        await r.watcher.waitFor(
          (m) => m.topic === 'loa/v1/d/live-f/events' && m.json().type === 'live.stats' && m.json().reason === 'end',
          30_000,
          'the end',
        )
      ).json();
      // QoS 0: the broker may drop some of a burst; what reached the box was counted, not played.
      assert.ok((stats.invalid as number) >= FLOOD * 0.9, JSON.stringify(stats));
      assert.equal(stats.late, 0, JSON.stringify(stats));
      const rec = JSON.parse(readFileSync(join(archive, `${sessionId}.json`), 'utf8')) as { captureStartMs: number };
      const { pcm, meta } = readRecording(r.boxes[0]!.rec);
      const heard = onsets(pcm).map((i) => meta.firstSampleMs + (i * 1000) / meta.cardRateHz);
      assert.equal(heard.length, clicks.length);
      heard.forEach((ms, k) => {
        const off = ms - (rec.captureStartMs + (clicks[k]! * 1000) / RATE + LATENCY_MS);
        assert.ok(Math.abs(off) <= 5, `click ${k}: ${off.toFixed(2)} ms off during the flood`);
      });
      process.stdout.write(
        `# live flood: ${String(stats.invalid)} dropped (${JSON.stringify(stats.invalidBy)}), card underruns ${String((meta as { underruns?: number }).underruns)}\n`,
      );
      const warned = r.boxes[0]!.proc.output()
        .split('\n')
        .filter((l) => l.includes('live chunk')).length;
      assert.ok(warned < 5, `${warned} log lines about dropped chunks`);
    } finally {
      await r.close();
    }
  },
);
