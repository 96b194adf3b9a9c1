// A scriptable Player for pure logic tests of the playback coordinator: each play() follows
// a script (audio after N ms, end after M ms, fail with message X, before or after audio).
// Time comes from the injected clock (the agent's Clock port; a test gives it the
// ManualClock of test/fakes/manual-clock.ts, the contract test the system clock). It
// passes the same contract as the real adapter (test/contract/player.contract.ts).
import { LoaError } from '../../agent/errors.js';
import { systemClock, type Clock, type TimerHandle } from '../../agent/adapters/clock.js';
import type { PlayEnd, Player, PlayerSession, PlayRequest } from '../../agent/adapters/player.js';

export interface FakeScript {
  /** Audio comes out this long after play() (default 0). */
  startAfterMs?: number;
  /** The source ends by itself this long after audio started; null: runs until stop() (default). */
  endAfterMs?: number | null;
  /** Fail with this message: before audio (started rejects) unless `failAfterMs` is given. */
  fail?: string;
  /** With `fail`: audio starts, then the session fails this long after it started. */
  failAfterMs?: number;
  /** stop() resolves after this long (default 0), like a process taking time to go. */
  stopDelayMs?: number;
}

export interface FakePlay {
  req: PlayRequest;
  session: PlayerSession;
  startedAt: number | null;
  end: PlayEnd | null;
  stopCalls: number;
  /** Levels given by setVolume() while it played, in order. */
  volumes: number[];
}

export interface FakePlayerOptions {
  kind?: Player['kind'];
  /** Where now() and the script's timers come from (default: the system clock). */
  clock?: Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>;
  /** The script for a play() that no queued script claims (default: plays until stopped). */
  script?: (req: PlayRequest, index: number) => FakeScript;
}

export class FakePlayer implements Player {
  readonly kind: Player['kind'];
  /** Every play() in order, with what became of it. */
  readonly plays: FakePlay[] = [];
  private readonly queued: FakeScript[] = [];

  constructor(private readonly opts: FakePlayerOptions = {}) {
    this.kind = opts.kind ?? 'mpg123';
  }

  /** Scripts for the next play() calls, in order. */
  queue(...scripts: FakeScript[]): this {
    this.queued.push(...scripts);
    return this;
  }

  /** The session of the play() in progress (the last one not ended), if any. */
  get current(): FakePlay | undefined {
    return [...this.plays].reverse().find((p) => p.end === null);
  }

  play(req: PlayRequest): PlayerSession {
    const script = this.queued.shift() ?? this.opts.script?.(req, this.plays.length) ?? {};
    const clock = this.opts.clock ?? systemClock;
    const now = () => clock.now();
    const timers: TimerHandle[] = [];
    let resolveStarted!: (t: number) => void;
    let rejectStarted!: (e: Error) => void;
    let resolveEnded!: (e: PlayEnd) => void;
    const started = new Promise<number>((res, rej) => ((resolveStarted = res), (rejectStarted = rej)));
    started.catch(() => {});
    const ended = new Promise<PlayEnd>((res) => (resolveEnded = res));
    const rec: FakePlay = {
      req,
      session: undefined as unknown as PlayerSession,
      startedAt: null,
      end: null,
      stopCalls: 0,
      volumes: [],
    };

    const finish = (reason: PlayEnd['reason'], message: string) => {
      if (rec.end) return;
      timers.forEach((h) => clock.clearTimeout(h));
      if (rec.startedAt === null) rejectStarted(new LoaError('PLAYER_FAILED', message));
      rec.end = {
        reason,
        at: now(),
        exitCode: reason === 'failed' ? 1 : 0,
        signal: null,
        stderrTail: reason === 'failed' ? message : '',
        message,
      };
      resolveEnded(rec.end);
    };
    const after = (ms: number, fn: () => void) => timers.push(clock.setTimeout(fn, Math.max(0, ms)));

    if (script.fail !== undefined && script.failAfterMs === undefined) {
      after(script.startAfterMs ?? 0, () => finish('failed', script.fail!));
    } else {
      after(script.startAfterMs ?? 0, () => {
        rec.startedAt = now();
        resolveStarted(rec.startedAt);
        if (script.fail !== undefined) after(script.failAfterMs!, () => finish('failed', script.fail!));
        const endAfter = script.endAfterMs ?? null;
        if (endAfter !== null) after(endAfter, () => finish('end', 'played to the end'));
      });
    }

    rec.session = {
      started,
      ended,
      setVolume: (v: number) => {
        if (!rec.end) rec.volumes.push(v);
      },
      stop: async () => {
        rec.stopCalls++;
        if (!rec.end && script.stopDelayMs) await new Promise<void>((r) => clock.setTimeout(r, script.stopDelayMs!));
        finish('stopped', 'stopped');
      },
    };
    this.plays.push(rec);
    return rec.session;
  }
}
