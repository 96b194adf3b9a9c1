// The dashboard's proof-of-play panels (noc/grafana/loa-fleet.json, the PostgreSQL archive
// as data source) checked as the Prometheus ones are: every SQL query, its variables at
// their defaults, run against a test database holding today's plays of a few boxes, with
// the rows each panel must show.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PgArchive } from '../../noc/events-pg.js';
import { dashboardSql } from '../helpers/dashboard.js';
import { postgresSkip, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { batchOf } from '../contract/archive.contract.js';

const skip = postgresSkip();
let pg: TestPostgres | undefined;
before(async () => {
  if (!skip) pg = await startPostgres();
});
after(() => pg?.close());

test(
  'the proof-of-play panels: plays and misses per province today, the emergencies that did not sound',
  { skip, timeout: 60_000 },
  async () => {
    const now = Date.now();
    // Today in Asia/Ho_Chi_Minh (UTC+7, no daylight saving) from the run's clock; plays at its start.
    const today = Math.floor((now + 7 * 3_600_000) / 86_400_000) * 86_400_000 - 7 * 3_600_000;
    const iso = (ms: number) => new Date(ms).toISOString();
    const seqs = new Map<string, number>();
    type Msg = Parameters<typeof batchOf>[0][number];
    const ev = (device: string, type: string, occMin: number, f: Record<string, unknown> = {}): Msg => {
      const seq = (seqs.get(device) ?? 0) + 1;
      seqs.set(device, seq);
      const occ = today + occMin * 60_000;
      return {
        device,
        body: {
          epoch: 'E',
          seq,
          ts: iso(occ + 1000),
          type,
          itemId: `i${occMin}`,
          occurrence: iso(occ),
          priority: 50,
          ...f,
        },
      };
    };
    const birth = (device: string, groups: string[]): Msg => ({
      device,
      leaf: 'status',
      body: { online: true, ts: iso(today - 86_400_000), bootId: device, groups },
    });
    const sounded = { playedMs: 60_000, output: { measured: true, levelDb: -6, silentMs: 0 } };
    const silent = { playedMs: 60_000, output: { measured: true, levelDb: -60, silentMs: 60_000 } };
    const msgs: Msg[] = [
      birth('b1', ['all', 'p01', 'c01']),
      birth('b2', ['all', 'p01', 'c02']),
      birth('b3', ['all', 'p02', 'c03']),
      birth('b4', ['all']),
      ev('b1', 'play.finished', 1, sounded),
      ev('b1', 'play.finished', 2, { playedMs: 1000 }),
      ev('b1', 'play.failed', 3, { reason: 'decode' }),
      ev('b1', 'play.finished', -60, sounded), // yesterday: not counted
      ev('b2', 'play.skipped', 1, { reason: 'busy' }),
      ev('b2', 'play.finished', 2, sounded),
      ev('b3', 'play.interrupted', 1, { playedMs: 500, reason: 'preempted' }),
      ev('b4', 'play.finished', 1, sounded), // in no province
      // Emergencies: b1 failed on every path, b2 measured silent, b3 sounded, b3 skipped, b2 still playing.
      ev('b1', 'play.started', 10, { priority: 100, capId: 'CAP-1' }),
      ev('b1', 'play.failed', 10, { priority: 100, capId: 'CAP-1', reason: 'no-output' }),
      ev('b2', 'play.finished', 11, { priority: 100, capId: 'CAP-2', ...silent }),
      ev('b3', 'play.finished', 12, { priority: 100, capId: 'CAP-3', ...sounded }),
      ev('b3', 'play.skipped', 13, { priority: 100, capId: 'CAP-4', reason: 'missed' }),
      {
        device: 'b2',
        body: {
          epoch: 'E',
          seq: 99,
          ts: iso(now - 10_000),
          type: 'play.started',
          itemId: 'now',
          occurrence: iso(now - 10_000),
          priority: 100,
        },
      },
    ];
    const a = await PgArchive.open(pg!.url, { migrate: true });
    try {
      await a.write(batchOf(msgs, now));
      const queries = dashboardSql();
      assert.deepEqual(
        queries.map((q) => q.panel),
        ['Plays and misses per province today', 'Emergencies that did not sound today'],
      );
      const [plays, emergencies] = await Promise.all(queries.map((q) => a.sql.unsafe(q.sql)));
      assert.deepEqual(
        plays!.map((r) => ({ ...r })),
        [
          { province: 'p01', boxes: '2', finished: '4', interrupted: '0', failed: '2', skipped: '1' },
          { province: 'p02', boxes: '1', finished: '1', interrupted: '1', failed: '0', skipped: '1' },
        ],
      );
      assert.deepEqual(
        emergencies!.map((r) => [r.device, r.groups, r.cap, r.events, r.reasons]),
        [
          ['b1', 'p01 c01', 'CAP-1', 'play.failed play.started', 'no-output'],
          ['b2', 'p01 c02', 'CAP-2', 'play.finished', null],
          ['b3', 'p02 c03', 'CAP-4', 'play.skipped', 'missed'],
        ],
      );
      assert.equal((emergencies![0]!.occurrence as Date).getTime(), today + 10 * 60_000);
    } finally {
      await a.close();
    }
  },
);
