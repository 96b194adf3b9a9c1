// What every archive adapter must do (noc/archive-port.ts): the collector and the export
// rely on exactly this. Run against the SQLite archive (test/unit/noc-archive-sqlite.test.ts)
// and against PostgreSQL (test/integration/noc-archive-pg.test.ts), so the two cannot
// drift (STYLE habit 9). Events enter through the same intake as in `noc events`.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { intake } from '../../noc/archive-intake.js';
import { emptyBatch, type ArchiveBatch, type DeviceEvents, type EventArchive } from '../../noc/archive-port.js';

export type MakeArchive = () => Promise<EventArchive>;

const ROOT = 'loa/v1';

/** A batch made of MQTT messages, as the collector makes it. */
export function batchOf(
  msgs: { device: string; leaf?: 'events' | 'status'; body: unknown }[],
  now: number,
): ArchiveBatch {
  const b = emptyBatch();
  for (const m of msgs) {
    const payload = Buffer.from(typeof m.body === 'string' ? m.body : JSON.stringify(m.body));
    const r = intake(ROOT, `${ROOT}/d/${m.device}/${m.leaf ?? 'events'}`, payload, now);
    if (r.kind === 'event') b.events.push(r.row);
    else if (r.kind === 'birth') b.births.push(r.row);
    else if (r.kind === 'quarantine') b.quarantine.push(r.row);
  }
  return b;
}

async function all(it: AsyncIterable<DeviceEvents>): Promise<DeviceEvents[]> {
  const out: DeviceEvents[] = [];
  for await (const d of it) out.push(d);
  return out;
}

export function archiveContract(name: string, make: MakeArchive): void {
  // Dates from the run's clock: yesterday's noon (UTC), so any adapter files them under a recent month.
  const day = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000;
  const at = (min: number) => new Date(day + 12 * 3_600_000 + min * 60_000).toISOString();
  const play = (epoch: string, seq: number, type: string, occMin: number, extra: Record<string, unknown> = {}) => ({
    epoch,
    seq,
    ts: at(occMin + seq / 10),
    type,
    itemId: 'news',
    docId: 'daily',
    occurrence: at(occMin),
    priority: 50,
    ...extra,
  });

  describe(`archive contract: ${name}`, () => {
    test('each (device, epoch, seq) stored once, within a batch and across batches', { timeout: 30_000 }, async () => {
      const a = await make();
      try {
        const e1 = play('E1', 1, 'play.started', 0);
        const r1 = await a.write(
          batchOf(
            [
              { device: 'b1', body: e1 },
              { device: 'b1', body: e1 },
              { device: 'b2', body: e1 },
              { device: 'b1', body: { ...e1, epoch: 'E2' } },
            ],
            day,
          ),
        );
        assert.deepEqual(r1, { stored: 3, duplicate: 1, births: 0, quarantined: 0 });
        const r2 = await a.write(batchOf([{ device: 'b1', body: e1 }], day));
        assert.deepEqual(r2, { stored: 0, duplicate: 1, births: 0, quarantined: 0 });
        assert.equal(await a.countEvents(), 3);
      } finally {
        await a.close();
      }
    });

    test(
      'births: the newest by ts wins, in one batch or across batches; deaths are not stored',
      { timeout: 30_000 },
      async () => {
        const a = await make();
        try {
          const birth = (ts: string, groups: string[]) => ({ online: true, ts, bootId: ts, groups });
          await a.write(
            batchOf(
              [
                { device: 'b1', leaf: 'status', body: birth(at(10), ['all', 'c1', 'p1']) },
                { device: 'b1', leaf: 'status', body: birth(at(5), ['old']) },
                { device: 'b2', leaf: 'status', body: birth(at(5), ['all']) },
                { device: 'b2', leaf: 'status', body: { online: false, ts: at(20) } },
              ],
              day,
            ),
          );
          const r = await a.write(batchOf([{ device: 'b1', leaf: 'status', body: birth(at(1), ['older']) }], day));
          assert.equal(r.births, 0);
          const b = await a.births();
          assert.deepEqual(b.get('b1'), { groups: ['all', 'c1', 'p1'], tsMs: Date.parse(at(10)) });
          assert.deepEqual(b.get('b2')?.groups, ['all']);
        } finally {
          await a.close();
        }
      },
    );

    test(
      'a malformed event is quarantined whole, with its topic and reason, beside good ones',
      { timeout: 30_000 },
      async () => {
        const a = await make();
        try {
          const bad = [
            'not json {',
            '[1,2]',
            JSON.stringify({ seq: 1, ts: at(0), type: 'x' }),
            JSON.stringify({ epoch: 'E', seq: 0, ts: at(0), type: 'x' }),
            JSON.stringify({ epoch: 'E', seq: 1, ts: 'yesterday', type: 'x' }),
            JSON.stringify({ epoch: 'E', seq: 1, ts: at(0), type: 'x', message: 'nul \u0000 here' }),
            JSON.stringify({ epoch: 'E', seq: 1, ts: at(0), type: 'x', message: 'lone \ud800 surrogate' }),
          ];
          const r = await a.write(
            batchOf(
              [...bad.map((body) => ({ device: 'q1', body })), { device: 'q1', body: play('E', 9, 'play.started', 0) }],
              day,
            ),
          );
          assert.deepEqual(r, { stored: 1, duplicate: 0, births: 0, quarantined: bad.length });
          const q = await a.quarantined();
          assert.deepEqual(
            q.map((x) => x.reason),
            ['not-json', 'not-object', 'epoch', 'seq', 'ts', 'text', 'text'],
          );
          assert.deepEqual(
            q.map((x) => x.payload.toString('utf8')),
            bad.map((s) => Buffer.from(s).toString('utf8')),
          );
          assert.ok(q.every((x) => x.topic === `${ROOT}/d/q1/events` && x.deviceId === 'q1' && x.receivedAt === day));
        } finally {
          await a.close();
        }
      },
    );

    test(
      'playEvents: the range, devices in order, each by epoch and seq, the device filter',
      { timeout: 30_000 },
      async () => {
        const a = await make();
        try {
          await a.write(
            batchOf(
              [
                { device: 'd-b', body: play('E', 2, 'play.finished', 60, { playedMs: 1000 }) },
                { device: 'd-b', body: play('E', 1, 'play.started', 60) },
                { device: 'd-a', body: play('E', 1, 'play.skipped', 0, { reason: 'busy' }) },
                { device: 'd-a', body: play('E', 2, 'play.skipped', 120, { reason: 'busy' }) }, // outside the range
                { device: 'd-c', body: { epoch: 'E', seq: 1, ts: at(30), type: 'hw.fault', component: 'amp' } },
                { device: 'd-0', body: play('E', 1, 'play.failed', -1, { reason: 'x' }) }, // before the range
              ],
              day,
            ),
          );
          const from = Date.parse(at(0));
          const to = Date.parse(at(120));
          const got = await all(a.playEvents(from, to));
          assert.deepEqual(
            got.map((d) => [d.deviceId, d.events.map((e) => `${e.epoch}/${e.seq}/${String(e.body.type)}`)]),
            [
              ['d-a', ['E/1/play.skipped']],
              ['d-b', ['E/1/play.started', 'E/2/play.finished']],
            ],
          );
          assert.equal(got[1]!.events[1]!.body.playedMs, 1000);
          const only = await all(a.playEvents(from, to, ['d-b', 'nobody']));
          assert.deepEqual(
            only.map((d) => d.deviceId),
            ['d-b'],
          );
          assert.deepEqual(await all(a.playEvents(from, to, [])), []);
        } finally {
          await a.close();
        }
      },
    );

    test('an event years away from now (a wrong clock) is stored and read back', { timeout: 30_000 }, async () => {
      const a = await make();
      try {
        const old = '2001-02-03T04:05:06.000Z';
        const far = '2101-02-03T04:05:06.000Z';
        const r = await a.write(
          batchOf(
            [
              {
                device: 'w',
                body: { epoch: 'E', seq: 1, ts: old, type: 'play.skipped', itemId: 'x', occurrence: old },
              },
              {
                device: 'w',
                body: { epoch: 'E', seq: 2, ts: far, type: 'play.skipped', itemId: 'x', occurrence: far },
              },
            ],
            day,
          ),
        );
        assert.equal(r.stored, 2);
        const got = await all(a.playEvents(Date.parse(old), Date.parse(far) + 1));
        assert.equal(got[0]?.events.length, 2);
      } finally {
        await a.close();
      }
    });
  });
}
