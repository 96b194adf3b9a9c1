// The signed-topic context of the schedule intake and the command service, for
// millisecond unit tests: the fake link, a manual clock, real SQLite and replay state in
// a temp dir, the box's one rejection budget, and a centre key to sign with.
import { join } from 'node:path';
import { openDb, type Db } from '../../agent/adapters/sqlite-db.js';
import { Outbox } from '../../agent/adapters/outbox-store.js';
import { ReplayState } from '../../agent/adapters/replay-state.js';
import { Rejections } from '../../agent/runtime/rejections.js';
import { KeyRing } from '../../contract/verify.js';
import { bindingsFor } from '../../contract/topics.js';
import type { SignedTopicDeps } from '../../agent/runtime/schedule-intake.js';
import { createLogger } from '../../agent/log.js';
import { FakeLink } from '../fakes/fake-link.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { makeKey, sign, type TestKey } from './signer.js';
import { tempDir } from './tmp.js';

export const DEVICE = 'box-1';
export const GROUP = 'c26734';
export const ROOT = 'loa/v1';
const key = makeKey('centre-2026');

export interface SignedRig {
  clock: ManualClock;
  link: FakeLink;
  db: Db;
  outbox: Outbox;
  replay: ReplayState;
  rejections: Rejections;
  key: TestKey;
  /** The issuedAt (ms) of each document the service verified and took: the clock's evidence. */
  evidence: number[];
  /** The deps both services share; spread them and add the service's own. */
  signed: Omit<SignedTopicDeps, 'bindings' | 'maxLifetimeMs'>;
  bindings(kind: 'schedule' | 'cmd'): ReturnType<typeof bindingsFor>;
  /** Events in the outbox, parsed, oldest first. */
  events(type?: string): Record<string, unknown>[];
  /** ISO time `ms` from the manual clock's now. */
  iso(ms?: number): string;
  sign(doc: unknown, typ: 'loa-schedule+json' | 'loa-command+json'): Promise<string>;
  close(): void;
}

export function signedRig(): SignedRig {
  const clock = new ManualClock({ now: Date.parse('2026-11-26T06:00:00+07:00') });
  const link = new FakeLink();
  const dir = tempDir('signed');
  const log = createLogger({ level: 'silent', pretty: false });
  const db = openDb(join(dir, 'loa.db'));
  const outbox = new Outbox(db, { maxEvents: 10_000, clock });
  const replay = new ReplayState(join(dir, 'replay.json'), log);
  const rejections = new Rejections({ clock, events: outbox, log });
  const evidence: number[] = [];
  return {
    clock,
    link,
    db,
    outbox,
    replay,
    rejections,
    key,
    evidence,
    signed: {
      link,
      keys: new KeyRing([{ kid: key.kid, publicKey: key.publicKey }]),
      events: outbox,
      clock,
      log,
      deviceId: DEVICE,
      groups: [GROUP],
      maxBytes: 65_536,
      clockSynced: () => undefined,
      clockEvidence: (_id, ms) => evidence.push(ms),
      replay,
      rejections,
    },
    bindings: (kind) => bindingsFor(ROOT, DEVICE, [GROUP], kind),
    events: (type) =>
      outbox
        .peekAfter(0, 10_000)
        .map((r) => JSON.parse(r.body) as Record<string, unknown>)
        .filter((e) => type === undefined || e.type === type),
    iso: (ms = 0) => new Date(clock.now() + ms).toISOString(),
    sign: (doc, typ) => sign(doc, key, { typ }),
    close: () => {
      rejections.stop();
      outbox.close();
      db.close();
    },
  };
}
