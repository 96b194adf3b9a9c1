// `--db` names the archive: a postgres:// URL is PostgreSQL (events-pg.ts), anything else
// a SQLite file (events-store.ts).
import type { EventArchive } from './archive-port.js';
import { isPostgresUrl, PgArchive } from './events-pg.js';
import { EventStore } from './events-store.js';

export interface OpenOptions {
  /** Only read (export): SQLite opens the file read-only, PostgreSQL requires the current schema. */
  readonly?: boolean;
  synchronous?: 'normal' | 'full';
}

export async function openArchive(db: string, o: OpenOptions = {}): Promise<EventArchive> {
  if (isPostgresUrl(db)) return PgArchive.open(db, { migrate: !o.readonly });
  return new EventStore(db, {
    ...(o.readonly ? { readonly: true } : {}),
    ...(o.synchronous ? { synchronous: o.synchronous } : {}),
  });
}
