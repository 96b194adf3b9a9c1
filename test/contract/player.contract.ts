// What every Player must do, whatever makes the sound: the coordinator relies on exactly
// this (STYLE habit 9). Run against the real mpg123 adapter, the stand-in and the fake, so
// neither the fake nor the stand-in can drift from the real thing.
//
// `goodFile` must play for 0.3–3 s. `badFile` is what the player cannot play: a corrupt MP3
// for mpg123; the stand-in decodes nothing, so it gets a missing file instead (omit it to
// skip the case). Timings are generous: CI is a shared, noisy 2-core machine.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Player, PlayerSession, PlayEnd } from '../../agent/adapters/player.js';

export interface ContractMedia {
  goodFile: string;
  badFile?: string;
  streamUrl?: () => string;
}

const STOP_BUDGET_MS = 1000; // the target is 200 ms; bench/player.ts measures it
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `ended`, or a clear failure instead of a hung test. */
async function endedWithin(s: PlayerSession, ms: number): Promise<PlayEnd> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, rej) => (t = setTimeout(() => rej(new Error(`ended did not resolve within ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([s.ended, timeout]);
  } finally {
    clearTimeout(t);
  }
}

/** Settles `started` without throwing: the time, or the error. */
const outcome = (p: Promise<number>) =>
  p.then(
    (at) => ({ at }),
    (err: unknown) => ({ err }),
  );

export function playerContract(name: string, make: () => Player, media: ContractMedia): void {
  describe(`Player contract: ${name}`, () => {
    test('a file plays: started resolves (audio out), then ended with reason end', async () => {
      const before = Date.now();
      const s = make().play({ source: { kind: 'file', paths: [media.goodFile] }, volume: 50 });
      const startedAt = await s.started;
      const end = await endedWithin(s, 10_000);
      assert.equal(end.reason, 'end', end.message);
      assert.ok(
        startedAt >= before - 5 && startedAt <= end.at,
        `started ${startedAt - before} ms, ended ${end.at - before} ms`,
      );
      assert.equal(typeof end.message, 'string');
      assert.equal(typeof end.stderrTail, 'string');
    });

    test('stop() ends a playing session promptly with reason stopped; stop() is idempotent', async () => {
      const s = make().play({ source: { kind: 'file', paths: [media.goodFile] }, volume: 50 });
      await s.started;
      const t0 = performance.now();
      await s.stop();
      const stopMs = performance.now() - t0;
      assert.ok(stopMs < STOP_BUDGET_MS, `stop took ${stopMs.toFixed(0)} ms`);
      const end = await endedWithin(s, 2000);
      assert.equal(end.reason, 'stopped');
      await s.stop();
      assert.equal((await s.ended).reason, 'stopped');
    });

    test('stop() before any audio: ended says stopped, started settles', async () => {
      const s = make().play({ source: { kind: 'file', paths: [media.goodFile] }, volume: 50 });
      await s.stop();
      const end = await endedWithin(s, 2000);
      assert.equal(end.reason, 'stopped');
      await outcome(s.started); // resolves or rejects, never hangs
    });

    if (media.badFile !== undefined) {
      const bad = media.badFile;
      test('a file it cannot play: started rejects, ended resolves (never rejects) with failed and a message', async () => {
        const s = make().play({ source: { kind: 'file', paths: [bad] }, volume: 50 });
        const end = await endedWithin(s, 10_000);
        assert.equal(end.reason, 'failed');
        assert.ok(end.message.length > 0);
        const st = await outcome(s.started);
        assert.ok('err' in st, 'started must reject when no audio came out');
        assert.ok(st.err instanceof Error);
      });
    }

    if (media.streamUrl !== undefined) {
      const url = media.streamUrl;
      test('a stream plays until stop()', async () => {
        const s = make().play({ source: { kind: 'stream', url: url() }, volume: 50 });
        await s.started;
        let ended = false;
        void s.ended.then(() => (ended = true));
        await sleep(700);
        assert.equal(ended, false, 'a live stream must not end by itself');
        await s.stop();
        assert.equal((await endedWithin(s, 2000)).reason, 'stopped');
      });
    }

    test('sessions are independent: a second play after the first ended works', async () => {
      const player = make();
      const a = player.play({ source: { kind: 'file', paths: [media.goodFile] }, volume: 50 });
      await a.started;
      await a.stop();
      const b = player.play({ source: { kind: 'file', paths: [media.goodFile] }, volume: 50 });
      await b.started;
      await b.stop();
      assert.equal((await a.ended).reason, 'stopped');
      assert.equal((await b.ended).reason, 'stopped');
    });
  });
}
