// At start, the replay state in the file beside the database and the one in the
// database are merged (the newest mark of each topic wins, the highest version of each
// id, every unexpired command id), and a document in force that the database lost (a
// rebuilt or older database) is restored from the file, after its signature is verified
// again with today's keys. So losing either copy loses no replay protection and, where
// the file survived, no plan.
import type { ReplayState, LoadResult } from '../adapters/replay-state.js';
import type { ScheduleStore } from '../adapters/schedule-store.js';
import type { CommandStore } from '../adapters/command-store.js';
import type { Logger } from '../log.js';
import { SCHEDULE_TYP, verifyJws, type KeyRing } from '../../contract/verify.js';
import { validateSchedule } from '../../contract/schedule-doc.js';

export interface RestoreDeps {
  replay: ReplayState;
  replayFile: LoadResult;
  schedules: ScheduleStore;
  commands: CommandStore;
  keys: KeyRing;
  log: Logger;
  now?: number;
}

export function restoreReplayState(d: RestoreDeps): { restored: string[] } {
  const { replay, schedules } = d;
  const dbMarks = new Map(schedules.marks().map((m) => [m.topic, m]));
  for (const v of schedules.versions()) replay.absorbVersion(v.docId, v.version);
  for (const m of dbMarks.values()) replay.absorbTopic(m.topic, m);
  for (const c of d.commands.ids()) replay.absorbCommand(c.id, c.expiresAt);
  const restored: string[] = [];
  for (const [topic, e] of replay.topics()) {
    const inDb = dbMarks.get(topic);
    if (inDb && inDb.id === e.id && inDb.version === e.version) continue;
    // The file knows a newer document for this topic than the database: restore it.
    const j = verifyJws(e.jws, d.keys, SCHEDULE_TYP, Number.MAX_SAFE_INTEGER);
    const v = j.ok ? validateSchedule(j.raw, { stored: true }) : null;
    if (!j.ok || !v || !v.ok || v.doc.id !== e.id || v.doc.version !== e.version) {
      d.log.warn(
        { code: 'STORE_REPLAY', topic, docId: e.id, version: e.version, why: j.ok ? 'does not validate' : j.message },
        'document in the replay state not restored; its mark still refuses older documents',
      );
      continue;
    }
    schedules.put(topic, v.doc, e.jws, d.now ?? Date.now());
    restored.push(`${topic}:${e.id}@${e.version}`);
  }
  if (restored.length > 0)
    d.log.warn({ code: 'STORE_REPLAY', restored }, 'documents in force restored from the replay state');
  replay.save();
  return { restored };
}
