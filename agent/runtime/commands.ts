// Signed commands (contract §4): taken off the device and group command topics,
// verified (domain/command-doc.ts), recorded, executed at most once, and answered with
// exactly one message on {root}/d/{id}/cmd/result for every command received.
//
// - Verification and recording run one message at a time, in arrival order; execution
//   does not block the queue (a `play` waiting for audio must not delay a `stop`).
// - The id is recorded before the command runs, and the result is stored before it is
//   published; a result not acknowledged by the broker is sent again on the next
//   connection, and one interrupted by a restart is answered after it.
// - A refused command whose payload names an id gets a result with that id (the id is
//   read from the unverified payload only to address the answer); a message with no
//   readable id is reported as a `cmd.rejected` event.
// - `restart` and `reboot` run only after their result was acknowledged.
import type { CommandStore } from '../adapters/command-store.js';
import type { IntakeDeps } from './schedule-intake.js';
import { PUBLISH_OPTS } from '../domain/topics.js';
import { verifyCommand, type CommandDoc, type CommandErrorCode } from '../domain/command-doc.js';

export type CommandOutcome = { ok: true; result: Record<string, unknown> } | { ok: false; code: CommandErrorCode | string; message: string };

export interface ResultMessage {
  cmdId: string;
  ok: boolean;
  ts: string;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

/** The same signed-topic context as the schedule intake, plus what commands need. */
export interface CommandDeps extends Omit<IntakeDeps, 'store' | 'onAccepted'> {
  store: CommandStore;
  resultTopic: string;
  execute(doc: CommandDoc): Promise<CommandOutcome>;
  /** Called once the result of a `restart` or `reboot` was acknowledged (or could not be). */
  lifecycle(action: 'restart' | 'reboot'): void;
}

const ACK_WAIT_MS = 5000;

export class CommandService {
  private queue: Promise<void> = Promise.resolve();
  private running = false;
  private subscribed = false;
  private readonly inflight = new Set<Promise<void>>();
  private readonly onUp = () => void this.resendUnsent();
  private pruneTimer: NodeJS.Timeout | undefined;

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
          : { ok: false, code: 'failed', message: 'the agent restarted before the command finished; it was not run again' };
      store.finish(c.id, JSON.stringify(this.message(c.id, outcome)));
      log.warn({ cmdId: c.id, action: c.action }, 'command interrupted by a restart');
    }
    this.pruneTimer = setInterval(() => store.prune(clock.now()), 3_600_000);
    this.pruneTimer.unref();
    this.d.link.on('up', this.onUp);
    if (this.d.link.connected) void this.resendUnsent();
    if (this.subscribed) return;
    this.subscribed = true;
    this.d.link.subscribe(this.d.topics, (topic, payload) => {
      if (!this.running) return;
      this.queue = this.queue.then(() => this.receive(topic, payload)).catch((err: unknown) => {
        log.error({ code: 'INTERNAL', err, topic }, 'command intake failed');
      });
    });
  }

  stop(): void {
    this.running = false;
    clearInterval(this.pruneTimer);
    this.d.link.off('up', this.onUp);
  }

  /** Resolves when every command received so far has been verified and finished (tests). */
  async idle(): Promise<void> {
    await this.queue;
    await Promise.all([...this.inflight]);
  }

  async receive(topic: string, payload: Buffer): Promise<void> {
    const d = this.d;
    if (payload.length === 0) return; // nothing is retained on command topics; ignore a stray clear
    const received = d.clock.now();
    const v = await verifyCommand(payload, d.keys, { deviceId: d.deviceId, groups: d.groups, now: received, maxBytes: d.maxBytes, seen: (id) => d.store.seen(id) });
    if (!v.ok) {
      d.log.warn({ code: 'COMMAND_REJECTED', topic, cmdId: v.cmdId, reason: v.code, message: v.message }, 'command refused');
      if (v.cmdId === null) {
        d.events.emit('cmd.rejected', { topic, reason: v.code, message: v.message.slice(0, 500) });
        return;
      }
      // Not stored: an id from a refused message must not reserve anything.
      void this.publish(this.message(v.cmdId, { ok: false, code: v.code, message: v.message }));
      return;
    }
    const doc = v.doc;
    if (!d.store.begin(doc.id, doc.action, doc.expiresAt, received)) {
      void this.publish(this.message(doc.id, { ok: false, code: 'duplicate', message: `command ${doc.id} was already received; a command runs at most once` }));
      return;
    }
    d.log.info({ cmdId: doc.id, action: doc.action, kid: v.kid, topic }, 'command accepted');
    const job = this.run(doc).finally(() => this.inflight.delete(job));
    this.inflight.add(job);
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
    d.store.finish(doc.id, JSON.stringify(msg));
    const acked = await this.publish(msg);
    if (acked) d.store.markSent(doc.id);
    d.log.info({ cmdId: doc.id, action: doc.action, ok: outcome.ok, ...(outcome.ok ? {} : { error: outcome.code }) }, 'command done');
    if (outcome.ok && (doc.action === 'restart' || doc.action === 'reboot')) d.lifecycle(doc.action);
  }

  private message(cmdId: string, o: CommandOutcome): ResultMessage {
    const ts = new Date(this.d.clock.now()).toISOString();
    return o.ok ? { cmdId, ok: true, ts, result: o.result } : { cmdId, ok: false, ts, error: { code: o.code, message: o.message.slice(0, 500) } };
  }

  /** True once the broker acknowledged; false if offline (a stored result is sent again on the next connection). */
  private async publish(msg: ResultMessage): Promise<boolean> {
    try {
      await withTimeout(this.d.link.publish(this.d.resultTopic, JSON.stringify(msg), PUBLISH_OPTS.cmdResult), ACK_WAIT_MS);
      return true;
    } catch (err) {
      this.d.log.warn({ code: 'MQTT_PUBLISH', err, cmdId: msg.cmdId }, 'command result not acknowledged; will resend');
      return false;
    }
  }

  private async resendUnsent(): Promise<void> {
    for (const r of this.d.store.unsent()) {
      if (!this.d.link.connected) return;
      try {
        await this.d.link.publish(this.d.resultTopic, r.result, PUBLISH_OPTS.cmdResult);
        this.d.store.markSent(r.id);
      } catch {
        return;
      }
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no acknowledgement within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
