// The playback coordinator with the real player (mpg123, paced output: it decodes in
// real time without a sound card), the sim board, and a real ledger and outbox.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { openDb } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { LedgerStore } from '../../agent/adapters/ledger-store.js';
import { SimBoard } from '../../agent/adapters/sim-board.js';
import { systemClock } from '../../agent/adapters/clock.js';
import { createMpg123Player } from '../../agent/adapters/mpg123-player.js';
import { PlaybackCoordinator } from '../../agent/runtime/playback.js';
import type { Occurrence } from '../../agent/domain/occurrences.js';
import type { Source } from '../../contract/schedule-doc.js';
import { createLogger } from '../../agent/log.js';
import { tempDir } from '../helpers/tmp.js';
import { audioTools, makeTone, makeNotAudio } from '../helpers/audio.js';
import { freePort } from '../helpers/broker.js';
import { untilDefined } from '../helpers/wait.js';

const tools = audioTools();
const skip =
  tools.mpg123 && tools.sox && tools.lame ? false : 'needs mpg123, sox and lame (apt-get install mpg123 sox lame)';
if (skip && process.env.CI === 'true') throw new Error(String(skip));

let tone5: string;
let tone1: string;
before(() => {
  if (skip) return;
  tone5 = makeTone({ seconds: 5 });
  tone1 = makeTone({ seconds: 1, freq: 880 });
});

function rig(paths: Record<string, string>) {
  const db = openDb(join(tempDir('playback'), 'loa.db'), { synchronous: 'normal' });
  const outbox = new Outbox(db, { maxEvents: 10_000, clock: systemClock });
  const board = new SimBoard({ clock: systemClock });
  const coordinator = new PlaybackCoordinator({
    clock: systemClock,
    board,
    player: createMpg123Player({ output: { kind: 'paced' }, startTimeoutMs: 3000, stallTimeoutMs: 1500 }),
    ledger: new LedgerStore(db),
    events: outbox,
    log: createLogger({ level: 'silent', pretty: false }),
    warmUpMs: 300,
    holdMs: 500,
    volumeFor: () => 100,
    mediaPath: (sha) => paths[sha] ?? null,
  });
  const events = () => outbox.peekAfter(0, 1000).map((r) => JSON.parse(r.body) as Record<string, unknown>);
  const until = <T>(check: () => T | undefined, ms: number, what: string): Promise<T> =>
    untilDefined(check, ms, what).catch((err: Error) => {
      throw new Error(
        `${err.message}: ${JSON.stringify(events().map((e) => `${String(e.type)} ${String(e.itemId)}`))}`,
      );
    });
  return { board, coordinator, events, until, init: () => board.init(), close: () => db.close() };
}

function occ(itemId: string, source: Source, over: Partial<Occurrence> = {}): Occurrence {
  const start = Date.now();
  return {
    key: `doc/${itemId}/${new Date(start).toISOString()}`,
    docId: 'doc',
    docVersion: 1,
    topic: 't',
    itemId,
    start,
    end: null,
    durationMs: null,
    priority: 50,
    volume: undefined,
    source,
    media: [],
    ...over,
  };
}
const media = (id: string) => ({ id, url: `https://cdn.example.vn/${id}.mp3`, sha256: id.padEnd(64, '0'), bytes: 1 });

test('a file plays to its end: started when audio comes out, finished with honest playedMs', { skip }, async () => {
  const r = rig({ [media('a').sha256]: tone1 });
  await r.init();
  const o = occ('news', { kind: 'file', media: ['a'] }, { media: [media('a')] });
  r.coordinator.prepare(o);
  await new Promise((res) => setTimeout(res, 300));
  r.coordinator.fire({ ...o, start: Date.now() }, 0);
  const st = await r.until(() => r.events().find((e) => e.type === 'play.started'), 5000, 'started');
  assert.ok(Number(st.lateMs) < 500, `lateMs ${String(st.lateMs)}`);
  const fin = await r.until(() => r.events().find((e) => e.type === 'play.finished'), 5000, 'finished');
  assert.ok(Number(fin.playedMs) > 800 && Number(fin.playedMs) < 1800, `playedMs ${String(fin.playedMs)}`);
  assert.deepEqual(fin.output, { measured: false }, 'a board that cannot measure says so (contract v1.2 §9)');
  await r.until(() => (r.board.state().amp ? undefined : true), 3000, 'amp off after the hold');
  r.close();
});

test(
  'an emergency preempts a file that plays: the lower one is interrupted, the emergency starts promptly',
  { skip },
  async () => {
    const r = rig({ [media('long').sha256]: tone5, [media('alarm').sha256]: tone1 });
    await r.init();
    r.coordinator.fire(occ('bulletin', { kind: 'file', media: ['long'] }, { media: [media('long')] }), 0);
    await r.until(() => r.events().find((e) => e.type === 'play.started'), 5000, 'bulletin started');
    await new Promise((res) => setTimeout(res, 500));
    const t0 = Date.now();
    r.coordinator.fire(
      occ('typhoon', { kind: 'file', media: ['alarm'] }, { media: [media('alarm')], priority: 100 }),
      0,
    );
    const intr = await r.until(() => r.events().find((e) => e.type === 'play.interrupted'), 3000, 'interrupted');
    assert.equal(intr.itemId, 'bulletin');
    assert.equal(intr.reason, 'preempted');
    const st = await r.until(
      () => r.events().find((e) => e.type === 'play.started' && e.itemId === 'typhoon'),
      3000,
      'emergency started',
    );
    const ms = Date.parse(String(st.ts)) - t0;
    assert.ok(ms < 1000, `emergency audio ${ms} ms after it was fired`);
    await r.until(
      () => r.events().find((e) => e.type === 'play.finished' && e.itemId === 'typhoon'),
      5000,
      'emergency finished',
    );
    assert.equal(
      r.events().filter((e) => e.itemId === 'bulletin' && e.type === 'play.started').length,
      1,
      'a preempted file does not restart',
    );
    r.close();
  },
);

test('a dead stream URL fails over to the live one, and the switch is an event', { skip }, async () => {
  const body = readFileSync(tone5);
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg' });
    res.end(body);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const live = `http://127.0.0.1:${(server.address() as { port: number }).port}/live.mp3`;
  const dead = `http://127.0.0.1:${await freePort()}/dead.mp3`;
  const r = rig({});
  await r.init();
  const start = Date.now();
  r.coordinator.fire(occ('relay', { kind: 'stream', urls: [dead, live] }, { end: start + 3000, durationMs: 3000 }), 0);
  const fo = await r.until(() => r.events().find((e) => e.type === 'play.failover'), 5000, 'failover');
  assert.deepEqual({ from: fo.from, to: fo.to }, { from: dead, to: live });
  const st = await r.until(() => r.events().find((e) => e.type === 'play.started'), 5000, 'started');
  assert.equal(st.source, 'stream');
  const fin = await r.until(() => r.events().find((e) => e.type === 'play.finished'), 6000, 'finished at the slot end');
  assert.ok(Math.abs(Date.parse(String(fin.ts)) - (start + 3000)) < 500, 'ends with its slot');
  server.close();
  r.close();
});

test("a corrupt media file gives play.failed with the player's reason, and nothing else", { skip }, async () => {
  const r = rig({ [media('bad').sha256]: makeNotAudio() });
  await r.init();
  r.coordinator.fire(occ('broken', { kind: 'file', media: ['bad'] }, { media: [media('bad')] }), 0);
  const f = await r.until(() => r.events().find((e) => e.type === 'play.failed'), 6000, 'failed');
  assert.equal(f.itemId, 'broken');
  assert.equal(typeof f.message, 'string');
  assert.ok(String(f.message).length > 0);
  assert.equal(r.events().filter((e) => e.type === 'play.started').length, 0);
  r.close();
});
