// The scheduler alone on the manual clock (test/fakes/manual-clock.ts), with a real
// ledger and outbox in SQLite: what it told the playback (prepare/fire, with how late),
// and the events it emitted. `ledgerOnFire` records a firing in the ledger as the real
// playback does when audio starts, so "never twice" is tested against the real store.
import { join } from 'node:path';
import { openDb } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { LedgerStore } from '../../agent/adapters/ledger-store.js';
import { Scheduler, type SchedulerDeps } from '../../agent/runtime/scheduler.js';
import type { Occurrence, DocInForce } from '../../agent/domain/occurrences.js';
import { createLogger } from '../../agent/log.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { tempDir } from './tmp.js';
import { threadCpuClock } from '../../agent/adapters/thread-cpu.js';

export function manualRig(
  docs: DocInForce[],
  o: { now?: number; ledgerOnFire?: boolean; over?: Partial<SchedulerDeps> } = {},
) {
  const clock = new ManualClock(o.now === undefined ? {} : { now: o.now });
  const db = openDb(join(tempDir('sched-manual'), 'loa.db'));
  const outbox = new Outbox(db, { maxEvents: 10_000, clock });
  const ledger = new LedgerStore(db);
  const told: [string, string, number][] = [];
  let checked: number | undefined;
  const scheduler = new Scheduler({
    clock,
    log: createLogger({ level: 'silent', pretty: false }),
    docs: () => docs,
    cpuMs: threadCpuClock(),
    ledger,
    events: outbox,
    playback: {
      prepare: (occ: Occurrence) => told.push(['prepare', occ.itemId, clock.now() - occ.start]),
      fire: (occ: Occurrence, lateMs: number) => {
        told.push(['fire', occ.itemId, lateMs]);
        if (o.ledgerOnFire)
          ledger.set(
            {
              key: occ.key,
              docId: occ.docId,
              itemId: occ.itemId,
              occurrence: new Date(occ.start).toISOString(),
              state: 'started',
            },
            clock.now(),
          );
      },
    },
    mediaReady: () => true,
    checkpoint: { get: () => checked, set: (ms) => (checked = ms) },
    warmUpMs: 2000,
    graceMs: 120_000,
    ...o.over,
  });
  const events = () => outbox.peekAfter(0, 1000).map((r) => JSON.parse(r.body) as Record<string, unknown>);
  return { clock, scheduler, told, events, db, checked: () => checked };
}
