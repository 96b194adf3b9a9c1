// record(): the one place a play's ledger row and its `play.*` event are written, the
// row first (the fate that stops a replay), then the event (the outbox sends it). The
// records themselves are built, pure, by domain/play-records.ts.
import type { LedgerStore } from '../adapters/ledger-store.js';
import type { EventSink } from '../../contract/events.js';
import type { PlayRecord } from '../domain/play-records.js';

export interface RecordSink {
  ledger: LedgerStore;
  events: EventSink;
}

export function record(d: RecordSink, rec: PlayRecord, now: number): void {
  d.ledger.set(rec.row, now);
  d.events.emit(rec.event.type, rec.event.fields);
}
