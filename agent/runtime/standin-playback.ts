// A playback that makes no sound: it holds each occurrence's slot for its duration and
// keeps the proof of play (ledger + play.* events) as the real player will. It exists
// so the scheduler can run end to end before the audio player and the board land
// (issue [3/6]); the agent logs loudly that it is in use.
import type { Clock } from '../adapters/clock.js';
import type { LedgerStore } from '../adapters/ledger-store.js';
import type { EventSink, EventFields } from '../domain/events.js';
import type { Occurrence } from '../domain/occurrences.js';
import type { Playing } from '../domain/telemetry.js';
import type { Logger } from '../log.js';
import type { Playback } from './scheduler.js';

interface Current {
  occ: Occurrence;
  startedAt: number;
  lateMs: number;
  timer: NodeJS.Timeout;
}

export interface StandInDeps {
  clock: Clock;
  ledger: LedgerStore;
  events: EventSink;
  log: Logger;
  onChange?: () => void;
}

export class StandInPlayback implements Playback {
  private current: Current | undefined;
  /** Warm-ups signalled, for tests and the demo: [itemId, at]. */
  readonly warmUps: { itemId: string; at: number }[] = [];

  constructor(private readonly d: StandInDeps) {}

  prepare(occ: Occurrence): void {
    this.warmUps.push({ itemId: occ.itemId, at: this.d.clock.now() });
    if (this.warmUps.length > 100) this.warmUps.shift();
    this.d.log.debug({ itemId: occ.itemId, startsAt: new Date(occ.start).toISOString() }, 'amplifier warm-up (stand-in)');
  }

  fire(occ: Occurrence, lateMs: number): void {
    const now = this.d.clock.now();
    const cur = this.current;
    if (cur && occ.priority <= cur.occ.priority) {
      const occurrence = new Date(occ.start).toISOString();
      this.d.ledger.set({ key: occ.key, docId: occ.docId, itemId: occ.itemId, occurrence, state: 'skipped', detail: 'busy' }, now);
      this.d.events.emit('play.skipped', { itemId: occ.itemId, docId: occ.docId, occurrence, reason: 'busy' });
      return;
    }
    if (cur) this.end('interrupted', 'preempted');
    const holdMs = occ.end === null ? 0 : occ.source.kind === 'file' ? occ.end - occ.start : Math.max(0, occ.end - now);
    if (occ.end === null) this.d.log.warn({ itemId: occ.itemId }, 'duration unknown: stand-in playback ends at once');
    const base = this.fields(occ, lateMs);
    this.d.ledger.set(
      { key: occ.key, docId: occ.docId, itemId: occ.itemId, occurrence: base.occurrence, state: 'started', detail: JSON.stringify({ startedAt: now, lateMs, docVersion: occ.docVersion, source: occ.source.kind, priority: occ.priority }) },
      now,
    );
    this.d.events.emit('play.started', base);
    this.current = { occ, startedAt: now, lateMs, timer: setTimeout(() => this.end('finished'), holdMs) };
    this.d.onChange?.();
  }

  /** What plays now (heartbeat `playing`). */
  playing(): Playing | null {
    const c = this.current;
    return c ? { itemId: c.occ.itemId, docId: c.occ.docId, source: c.occ.source.kind, startedAt: new Date(c.startedAt).toISOString(), priority: c.occ.priority } : null;
  }

  /** Stop what plays (agent shutdown, or a `stop` command later). */
  stop(reason: 'stopped' | 'agent-restart' = 'stopped'): void {
    if (this.current) this.end('interrupted', reason);
  }

  private end(how: 'finished' | 'interrupted', reason?: 'preempted' | 'stopped' | 'agent-restart'): void {
    const c = this.current;
    if (!c) return;
    clearTimeout(c.timer);
    this.current = undefined;
    const now = this.d.clock.now();
    const base = this.fields(c.occ, c.lateMs);
    const playedMs = now - c.startedAt;
    this.d.ledger.set({ key: c.occ.key, docId: c.occ.docId, itemId: c.occ.itemId, occurrence: base.occurrence, state: how, detail: reason ?? null }, now);
    if (how === 'finished') this.d.events.emit('play.finished', { ...base, playedMs });
    else this.d.events.emit('play.interrupted', { ...base, playedMs, reason: reason ?? 'stopped' });
    this.d.onChange?.();
  }

  private fields(occ: Occurrence, lateMs: number): EventFields['play.started'] {
    return {
      itemId: occ.itemId,
      docId: occ.docId,
      docVersion: occ.docVersion,
      occurrence: new Date(occ.start).toISOString(),
      lateMs,
      source: occ.source.kind,
      priority: occ.priority,
    };
  }
}
