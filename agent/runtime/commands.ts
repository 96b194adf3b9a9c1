// Signed commands (contract §4): taken off the device and group command topics,
// verified (contract/command-doc.ts), recorded, executed at most once, and answered with
// exactly one message on {root}/d/{id}/cmd/result for every command received.
//
// - Verification and recording run one message at a time, in arrival order; execution
//   does not block the queue (a `play` waiting for audio must not delay a `stop`).
// - The id is recorded before the command runs, and the result is stored before it is
//   published; a result not acknowledged by the broker is sent again on the next
//   connection, and one interrupted by a restart is answered after it.
// - A refused command whose payload names an id gets a result with that id (the id is
//   read from the unverified payload only to address the answer); a message with no
//   readable id is reported as a `cmd.rejected` event. Refusals share the box's
//   rejection budget (contract v1.1 §7): beyond it they are only counted.
// - Verification is synchronous, on arrival: a forged message never waits in a queue
//   in front of a signed one, and a signed command is never dropped to make room.
// - Executed ids are also kept in the replay state beside the database, so losing the
//   database never lets an unexpired command run twice; while the disk refuses writes
//   (full), ids and results are kept in memory and the command still runs.
// - `restart` and `reboot` run only after their result was acknowledged.
import type { CommandStore } from '../adapters/command-store.js';
import type { TimerHandle } from '../adapters/clock.js';
import { within } from '../domain/waitress.js';
import type { SignedTopicDeps } from './schedule-intake.js';
import { PUBLISH_OPTS, type CommandResult } from '../../contract/topics.js';
import { redact } from '../domain/redact.js';
import { claimedId, verifyCommand, type CommandDoc, type CommandErrorCode } from '../../contract/command-doc.js';

export type CommandOutcome =
  { ok: true; result: Record<string, unknown> } | { ok: false; code: CommandErrorCode | string; message: string };

/** The `cmd/result` message: the contract module's type (contract/topics.ts). */
export type ResultMessage = CommandResult;

/** The same signed-topic context as the schedule intake, plus what commands need. */
export interface CommandDeps extends SignedTopicDeps {
  store: CommandStore;
  resultTopic: string;
  execute(doc: CommandDoc): Promise<CommandOutcome>;
  /** Called once the result of a `restart` or `reboot` was acknowledged (or could not be). */
  lifecycle(action: 'restart' | 'reboot'): void;
}

const ACK_WAIT_MS = 5000;

export class CommandService {
  private running = false;
  private subscribed = false;
  private readonly inflight = new Set<Promise<void>>();
  private readonly onUp = () => void this.resendUnsent();
  private pruneTimer: TimerHandle | undefined;
  /** Ids and unsent results the database could not take (a full disk); memory is authoritative meanwhile. */
  private readonly memIds = new Set<string>();
  private readonly memResults = new Map<string, string>();

  constructor(private readonly d: CommandDeps) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    const { store, clock, log } = this.d;
    store.prune(clock.now());
    // Commands the last run did not finish: answer them now, never run them again.
    for (const c of store.interrupted()) {
      const outcome: CommandOutcome =
        c.action === 'restart' || c.action === 'reboot'
          ? { ok: true, result: { action: c.action, done: true } }
          : {
              ok: false,
              code: 'failed',
              message: 'the agent restarted before the command finished; it was not run again',
            };
      store.finish(c.id, JSON.stringify(this.message(c.id, outcome)));
      log.warn({ cmdId: c.id, action: c.action }, 'command interrupted by a restart');
    }
    this.d.replay.prune(clock.now());
    this.pruneTimer = clock.setInterval(
      () => {
        try {
          store.prune(clock.now());
        } catch (err) {
          log.warn({ code: 'STORE_WRITE', err: (err as Error).message }, 'command ids not pruned');
        }
        this.d.replay.prune(clock.now());
        this.d.replay.save();
      },
      3_600_000,
      { unref: true },
    );
    this.d.link.on('up', this.onUp);
    if (this.d.link.connected) void this.resendUnsent();
    if (this.subscribed) return;
    this.subscribed = true;
    this.d.link.subscribe([...this.d.bindings.keys()], (topic, payload) => {
      if (!this.running) return false; // stopping: the broker delivers it again after the restart
      try {
        this.receive(topic, payload);
      } catch (err) {
        log.error({ code: 'INTERNAL', err, topic }, 'command intake failed');
      }
    });
  }

  stop(): void {
    this.running = false;
    this.d.clock.clearInterval(this.pruneTimer);
    this.pruneTimer = undefined;
    this.d.link.off('up', this.onUp);
  }

  /** Resolves when every command received so far has finished (tests). */
  async idle(): Promise<void> {
    await Promise.all([...this.inflight]);
  }

  receive(topic: string, payload: Buffer): void {
    const d = this.d;
    if (payload.length === 0) return; // nothing is retained on command topics; ignore a stray clear
    const binding = d.bindings.get(topic);
    if (!binding) return;
    const received = d.clock.now();
    const v = verifyCommand(payload, d.keys, {
      deviceId: d.deviceId,
      groups: d.groups,
      now: d.provableNow?.() ?? received,
      ...(d.vouchedNow ? { vouchedNow: d.vouchedNow() } : {}),
      maxBytes: d.maxBytes,
      binding,
      maxLifetimeMs: d.maxLifetimeMs,
      ...(d.minRepeatS !== undefined ? { minRepeatS: d.minRepeatS } : {}),
      ...(d.clockSynced() === false ? { clockSynced: false } : {}),
      seen: (id) => this.seen(id),
    });
    if (!v.ok) {
      d.rejections.report(topic, v.code, () => {
        const cmdId = v.unverified ? claimedId(payload) : v.cmdId;
        d.log.warn({ code: 'COMMAND_REJECTED', topic, cmdId, reason: v.code, message: v.message }, 'command refused');
        if (cmdId === null) {
          d.events.emit('cmd.rejected', { topic, reason: v.code, message: v.message.slice(0, 500) });
          return;
        }
        // Not stored: an id from a refused message must not reserve anything.
        void this.publish(this.message(cmdId, { ok: false, code: v.code, message: v.message }));
      });
      return;
    }
    const doc = v.doc;
    if (!this.begin(doc, received)) {
      void this.publish(
        this.message(doc.id, {
          ok: false,
          code: 'duplicate',
          message: `command ${doc.id} was already received; a command runs at most once`,
        }),
      );
      return;
    }
    d.log.info({ cmdId: doc.id, action: doc.action, kid: v.kid, topic }, 'command accepted');
    // The `clock` command mends the bound: its own issuedAt is no evidence (contract v1.2 §2.2).
    if (doc.action !== 'clock') d.clockEvidence?.(`command:${doc.id}`, Date.parse(doc.issuedAt));
    const job = this.run(doc).finally(() => this.inflight.delete(job));
    this.inflight.add(job);
  }

  private seen(id: string): boolean {
    if (this.memIds.has(id) || this.d.replay.commandSeen(id)) return true;
    try {
      return this.d.store.seen(id);
    } catch {
      return false; // an unreadable database: memory and the replay state decide
    }
  }

  /** Record the id before the command runs: replay state, then the database (or memory if it refuses). */
  private begin(doc: CommandDoc, received: number): boolean {
    const d = this.d;
    if (this.memIds.has(doc.id)) return false;
    d.replay.absorbCommand(doc.id, Date.parse(doc.expiresAt));
    d.replay.save();
    try {
      return d.store.begin(doc.id, doc.action, doc.expiresAt, received);
    } catch (err) {
      d.log.error(
        { code: 'STORE_WRITE', err: (err as Error).message, cmdId: doc.id },
        'command id not written to the database; kept in memory, the command runs',
      );
      this.memIds.add(doc.id);
      return true;
    }
  }

  private async run(doc: CommandDoc): Promise<void> {
    const d = this.d;
    let outcome: CommandOutcome;
    try {
      outcome = await d.execute(doc);
    } catch (err) {
      d.log.error({ code: 'COMMAND_FAILED', err, cmdId: doc.id }, 'command failed');
      outcome = { ok: false, code: 'failed', message: (err as Error).message.slice(0, 500) };
    }
    const msg = this.message(doc.id, outcome);
    const text = JSON.stringify(msg);
    let stored = true;
    try {
      d.store.finish(doc.id, text);
    } catch (err) {
      stored = false;
      this.memResults.set(doc.id, text);
      d.log.error(
        { code: 'STORE_WRITE', err: (err as Error).message, cmdId: doc.id },
        'command result not written to the database; kept in memory until sent',
      );
    }
    const acked = await this.publish(msg);
    if (acked) {
      this.memResults.delete(doc.id);
      if (stored) this.markSent(doc.id);
    }
    d.log.info(
      { cmdId: doc.id, action: doc.action, ok: outcome.ok, ...(outcome.ok ? {} : { error: outcome.code }) },
      'command done',
    );
    if (outcome.ok && (doc.action === 'restart' || doc.action === 'reboot')) d.lifecycle(doc.action);
  }

  private message(cmdId: string, o: CommandOutcome): ResultMessage {
    const ts = new Date(this.d.clock.now()).toISOString();
    return o.ok
      ? { cmdId, ok: true, ts, result: o.result }
      : { cmdId, ok: false, ts, error: { code: o.code, message: redact(o.message).slice(0, 500) } };
  }

  /** True once the broker acknowledged; false if offline (a stored result is sent again on the next connection). */
  private async publish(msg: ResultMessage): Promise<boolean> {
    try {
      await within(
        this.d.clock,
        this.d.link.publish(this.d.resultTopic, JSON.stringify(msg), PUBLISH_OPTS.cmdResult),
        ACK_WAIT_MS,
        `the broker's acknowledgement of the result of command ${msg.cmdId}`,
      );
      return true;
    } catch (err) {
      this.d.log.warn({ code: 'MQTT_PUBLISH', err, cmdId: msg.cmdId }, 'command result not acknowledged; will resend');
      return false;
    }
  }

  private markSent(id: string): void {
    try {
      this.d.store.markSent(id);
    } catch (err) {
      this.d.log.warn(
        { code: 'STORE_WRITE', err: (err as Error).message, cmdId: id },
        'result acknowledged but not marked sent; it may be sent again',
      );
    }
  }

  private async resendUnsent(): Promise<void> {
    let fromDb: { id: string; result: string }[] = [];
    try {
      fromDb = this.d.store.unsent();
    } catch (err) {
      this.d.log.warn({ code: 'STORE_WRITE', err: (err as Error).message }, 'unsent results not readable');
    }
    const pending = [...fromDb, ...[...this.memResults].map(([id, result]) => ({ id, result, mem: true }))];
    for (const r of pending) {
      if (!this.d.link.connected) return;
      try {
        await this.d.link.publish(this.d.resultTopic, r.result, PUBLISH_OPTS.cmdResult);
        if ('mem' in r) this.memResults.delete(r.id);
        else this.markSent(r.id);
      } catch {
        return;
      }
    }
  }
}
