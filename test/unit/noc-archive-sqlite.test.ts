// The archive contract (test/contract/archive.contract.ts) against the SQLite adapter; its
// PostgreSQL twin is test/integration/noc-archive-pg.test.ts.
import { join } from 'node:path';
import { EventStore } from '../../noc/events-store.js';
import { tempDir } from '../helpers/tmp.js';
import { archiveContract } from '../contract/archive.contract.js';

let n = 0;
archiveContract('SQLite', () => Promise.resolve(new EventStore(join(tempDir('archive'), `a${n++}.sqlite`))));
