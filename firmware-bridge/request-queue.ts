// The request side of FirmwareBridge, split out of bridge.ts to keep it small: the
// one-in-flight promise queue, SEQ numbering, the single (SEQ, reply TYPE) waiter with
// its timeout, and the errors a request can fail with (re-exported by bridge.ts).
// Invariant kept from bridge.ts: the waiter is registered BEFORE the frame is written,
// so a reply that comes back faster than write()'s callback is never missed.

import type { Duplex } from 'node:stream';
import { encodeFrame, type Frame } from './frame.js';
import {
  COMMAND_RETRY,
  ERROR_TYPE,
  decodeError,
  decodeReply,
  encodeCommand,
  replyType,
  type BoardError,
  type Command,
  type CommandName,
  type Replies,
} from './messages.js';
import type { Timers } from './timers.js';

/** §4: a retried command gets up to 2 more attempts. */
const MAX_ATTEMPTS = 3;
/** §5.3: BUSY is retried after 100 ms. */
const BUSY_RETRY_MS = 100;

/** The request got no reply in time (after its retries). Transient: the caller may retry later. */
export class BridgeTimeoutError extends Error {
  override readonly name = 'BridgeTimeoutError';
  readonly retryable = true;
  constructor(
    readonly command: CommandName,
    readonly seq: number,
    readonly timeoutMs: number,
    readonly attempts: number,
  ) {
    super(`${command} (seq ${seq}) got no reply within ${timeoutMs} ms after ${attempts} attempt(s)`);
  }
}
/** The board answered ERROR. Retryable only for BUSY / NOT_READY (§5.3). */
export class BoardErrorReply extends Error {
  override readonly name = 'BoardErrorReply';
  readonly retryable: boolean;
  constructor(
    readonly command: CommandName,
    readonly seq: number,
    readonly error: BoardError,
  ) {
    super(`${command} (seq ${seq}) failed on the board: ${error.code}`);
    this.retryable = error.code === 'busy' || error.code === 'not_ready';
  }
}
/** No port open (between a loss and the reconnect), or the port went away mid-request. */
export class NotConnectedError extends Error {
  override readonly name = 'NotConnectedError';
  readonly retryable = true;
}

interface Waiter {
  seq: number;
  type: number;
  name: CommandName;
  resolve(f: Frame): void;
  reject(e: Error): void;
}

/** What the retry policy needs from the bridge. */
export interface RetryContext {
  timeoutMs(name: CommandName): number;
  /** False once the bridge is stopped: no more retries. */
  running(): boolean;
  sleep(ms: number): Promise<void>;
  /** The bridge's own counters object, updated in place. */
  counters: { timeouts: number; retries: number };
}

export class RequestQueue {
  private seq = 0;
  private waiter: Waiter | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly timers: Timers,
    /** The port to write to now; undefined while not connected. */
    private readonly port: () => Duplex | undefined,
  ) {}

  /**
   * Send one command; queued behind the request in flight; retries per §4. `skip`, run
   * when the command's turn comes, may answer instead of the board (nothing to change).
   */
  send<C extends Command>(
    c: C,
    ctx: RetryContext,
    skip?: () => Replies[C['cmd']] | undefined,
  ): Promise<Replies[C['cmd']]> {
    return this.queued(async () => skip?.() ?? this.attempt(c, 1, ctx));
  }

  private async attempt<C extends Command>(c: C, n: number, ctx: RetryContext): Promise<Replies[C['cmd']]> {
    const name: CommandName = c.cmd;
    const timeoutMs = ctx.timeoutMs(name);
    const seq = this.nextSeq();
    try {
      const f = await this.exchange(name, seq, encodeCommand(c), timeoutMs);
      if (f.type === ERROR_TYPE) throw new BoardErrorReply(name, seq, decodeError(f.payload));
      return decodeReply(name, f.payload) as Replies[C['cmd']];
    } catch (e) {
      const again = n < MAX_ATTEMPTS && ctx.running() && COMMAND_RETRY[name];
      if (e instanceof BridgeTimeoutError) {
        ctx.counters.timeouts++;
        if (again) {
          ctx.counters.retries++;
          return this.attempt(c, n + 1, ctx);
        }
        throw new BridgeTimeoutError(name, seq, timeoutMs, n);
      }
      if (e instanceof BoardErrorReply && e.error.code === 'busy' && again) {
        ctx.counters.retries++;
        await ctx.sleep(BUSY_RETRY_MS);
        return this.attempt(c, n + 1, ctx);
      }
      throw e;
    }
  }

  /** Run `fn` after every request queued before it, settled or not. */
  queued<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  nextSeq(): number {
    this.seq = this.seq >= 255 ? 1 : this.seq + 1; // §4: 1..255, 0 never used
    return this.seq;
  }

  /** Write one command frame and wait for its reply (or ERROR) frame; one attempt. */
  exchange(name: CommandName, seq: number, m: { type: number; payload: Buffer }, timeoutMs: number): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      const port = this.port();
      if (!port) return reject(new NotConnectedError(`${name} (seq ${seq}): not connected`));
      const timer = this.timers.setTimeout(() => {
        this.waiter = undefined;
        reject(new BridgeTimeoutError(name, seq, timeoutMs, 1));
      }, timeoutMs);
      // Registered before the write: the reply may arrive before write() calls back.
      this.waiter = {
        seq,
        type: replyType(name),
        name,
        resolve: (f) => {
          this.timers.clearTimeout(timer);
          this.waiter = undefined;
          resolve(f);
        },
        reject: (e) => {
          this.timers.clearTimeout(timer);
          this.waiter = undefined;
          reject(e);
        },
      };
      port.write(encodeFrame({ seq, type: m.type, payload: m.payload }));
    });
  }

  /** Hand a reply or ERROR frame to the waiter; false if it matches none (a late reply). */
  deliver(f: Frame): boolean {
    const w = this.waiter;
    if (w && w.seq === f.seq && (f.type === w.type || f.type === ERROR_TYPE)) {
      w.resolve(f);
      return true;
    }
    return false;
  }

  /** Reject the request in flight, if any, because the port went away. */
  abort(reason: string): void {
    this.waiter?.reject(new NotConnectedError(`${this.waiter.name} (seq ${this.waiter.seq}): ${reason}`));
  }
}
