// One open port under the bridge: its bytes through a FrameParser with the §3 idle rule,
// frames out to `onFrame`, an error or close reported once to `onLost`, and the parser's
// counters kept across ports. Split out of bridge.ts, which keeps the protocol logic.
import type { Duplex } from 'node:stream';
import type { Frame } from './frame.js';
import { FrameParser, type ParserStats } from './parser.js';
import type { TimerHandle, Timers } from './timers.js';

/** §3 idle rule: a partial frame older than this is dropped. */
const IDLE_MS = 50;

export class PortLink {
  private current: Duplex | undefined;
  private parser: FrameParser | undefined;
  private idleTimer: TimerHandle | undefined;
  private release: (() => void) | undefined;
  private readonly totals: ParserStats = { frames: 0, badCrc: 0, garbageBytes: 0, oversize: 0, truncated: 0 };

  constructor(
    private readonly timers: Timers,
    private readonly onFrame: (f: Frame) => void,
    private readonly onLost: (why: string) => void,
  ) {}

  /** The open port; undefined between a loss and the next attach. */
  get port(): Duplex | undefined {
    return this.current;
  }

  attach(port: Duplex): void {
    const parser = new FrameParser();
    const onData = (b: Buffer): void => {
      parser.write(b);
      this.timers.clearTimeout(this.idleTimer);
      this.idleTimer = parser.pending > 0 ? this.timers.setTimeout(() => parser.idle(), IDLE_MS) : undefined;
    };
    const onFrame = (f: Frame): void => this.onFrame(f);
    const onLost = (e?: Error): void => this.onLost(e ? `port error: ${e.message}` : 'port closed');
    port.on('data', onData);
    port.on('error', onLost);
    port.on('close', onLost);
    parser.on('data', onFrame);
    this.current = port;
    this.parser = parser;
    this.release = () => {
      port.off('data', onData);
      port.off('error', onLost);
      port.off('close', onLost);
      parser.off('data', onFrame);
      for (const k of Object.keys(this.totals) as (keyof ParserStats)[]) this.totals[k] += parser.stats[k];
      dispose(port);
    };
  }

  /** Drop the port (listeners off, closed); true if there was one. */
  detach(): boolean {
    this.timers.clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const had = this.current !== undefined;
    this.release?.();
    this.release = undefined;
    this.current = undefined;
    this.parser = undefined;
    return had;
  }

  /** Parser counters over every port this link has had. */
  stats(): ParserStats {
    const sum = { ...this.totals };
    const p = this.parser?.stats;
    if (p) for (const k of Object.keys(sum) as (keyof ParserStats)[]) sum[k] += p[k];
    return sum;
  }
}

/**
 * Release a port. SerialPort's stream has no _destroy, so destroy() alone leaves the fd
 * open and its flock held ("Cannot lock port" on every reopen): close it first.
 */
export function dispose(port: Duplex): void {
  port.on('error', () => undefined); // a late EIO from a dead port must not crash the process
  const sp = port as Duplex & { isOpen?: boolean; close?: (cb: (e?: Error | null) => void) => void };
  if (typeof sp.close === 'function' && sp.isOpen) sp.close(() => port.destroy());
  else port.destroy();
}
