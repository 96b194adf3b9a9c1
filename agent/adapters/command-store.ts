// Remembers each verified command id until it expires (contract §4: a command is executed
// at most once, across restarts), and the result message until the broker acknowledged
// it, so a result lost with the connection is sent again on the next one.
//
// The id is recorded BEFORE the command runs: a crash mid-command must not run it twice.
// Refused commands (bad signature, wrong target, expired) are never recorded, so a forged
// message cannot reserve the id of a real command.
import type { Db } from './sqlite-db.js';

export interface CommandRow {
  id: string;
  action: string;
  state: 'running' | 'done';
  result: string | null;
  sent: boolean;
}

/** Ids are kept this long past their expiry, in case the box's clock was behind. */
const KEEP_AFTER_EXPIRY_MS = 24 * 3_600_000;

export class CommandStore {
  private readonly q;

  constructor(private readonly db: Db) {
    this.q = {
      has: db.prepare('SELECT 1 FROM commands WHERE id = ?').pluck(),
      begin: db.prepare(
        `INSERT OR IGNORE INTO commands (id, action, received_at, expires_at, state) VALUES (?, ?, ?, ?, 'running')`,
      ),
      finish: db.prepare(`UPDATE commands SET state = 'done', result = ? WHERE id = ?`),
      sent: db.prepare('UPDATE commands SET sent = 1 WHERE id = ?'),
      unsent: db.prepare(
        `SELECT id, result FROM commands WHERE state = 'done' AND sent = 0 AND result IS NOT NULL ORDER BY received_at`,
      ),
      running: db.prepare(`SELECT id, action FROM commands WHERE state = 'running'`),
      prune: db.prepare('DELETE FROM commands WHERE expires_at < ?'),
    };
  }

  /** Every id held, with its expiry (epoch ms), for the replay state's merge at start. */
  ids(): { id: string; expiresAt: number }[] {
    return (this.db.prepare('SELECT id, expires_at AS e FROM commands').all() as { id: string; e: string }[]).map(
      (r) => ({ id: r.id, expiresAt: Date.parse(r.e) }),
    );
  }

  seen(id: string): boolean {
    return this.q.has.get(id) !== undefined;
  }

  /** Record the id; false if it was already there (a replay that raced the check). */
  begin(id: string, action: string, expiresAt: string, now: number): boolean {
    const r = this.q.begin.run(id, action, new Date(now).toISOString(), new Date(Date.parse(expiresAt)).toISOString());
    return r.changes === 1;
  }

  finish(id: string, result: string): void {
    this.q.finish.run(result, id);
  }

  markSent(id: string): void {
    this.q.sent.run(id);
  }

  /** Results not yet acknowledged by the broker, oldest first. */
  unsent(): { id: string; result: string }[] {
    return this.q.unsent.all() as { id: string; result: string }[];
  }

  /** Commands that were running when the agent stopped (crash, restart, reboot). */
  interrupted(): { id: string; action: string }[] {
    return this.q.running.all() as { id: string; action: string }[];
  }

  prune(now: number): number {
    return this.q.prune.run(new Date(now - KEEP_AFTER_EXPIRY_MS).toISOString()).changes;
  }
}
