// A player that makes no sound, for boxes (and developer machines) without mpg123: it
// keeps the timing of the port so the coordinator, the proof of play and the heartbeat
// behave as with the real player. The agent must log loudly (NO_AUDIO) when it uses it.
//
// A file session "plays" for the duration `durationFor` gives (the schedule document's
// `durationMs` of its media, summed); null plays until stop(), as a stream does. It cannot
// tell a corrupt MP3 from a good one (it decodes nothing); it does fail a missing file.
import { existsSync } from 'node:fs';
import { LoaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PlayEnd, Player, PlayerSession, PlayerSource, PlayRequest } from './player.js';

export interface StandInPlayerOptions {
  /** How long a source plays, in ms; null: until stop(). */
  durationFor: (source: PlayerSource) => number | null;
  now?: () => number;
  log?: Logger;
}

export function createStandInPlayer(opts: StandInPlayerOptions): Player {
  return { kind: 'stand-in', play: (req) => new StandInSession(opts, req) };
}

class StandInSession implements PlayerSession {
  readonly started: Promise<number>;
  readonly ended: Promise<PlayEnd>;
  private resolveEnded!: (end: PlayEnd) => void;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  private readonly now: () => number;
  private readonly log: Logger | undefined;

  constructor(opts: StandInPlayerOptions, req: PlayRequest) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
    this.ended = new Promise((res) => (this.resolveEnded = res));
    const missing = req.source.kind === 'file' ? req.source.paths.find((p) => !existsSync(p)) : undefined;
    if (missing !== undefined || (req.source.kind === 'file' && req.source.paths.length === 0)) {
      const message = missing !== undefined ? `cannot play ${missing}: no such file` : 'no file to play';
      this.started = Promise.reject(new LoaError('PLAYER_FAILED', message));
      this.started.catch(() => {}); // awaited or not, never an unhandled rejection
      this.finish('failed', message);
      return;
    }
    this.started = Promise.resolve(this.now());
    const ms = opts.durationFor(req.source);
    opts.log?.debug({ source: req.source.kind, ms, volume: req.volume }, 'stand-in player: silent session');
    if (ms !== null)
      this.timer = setTimeout(() => this.finish('end', 'played to the end (stand-in, no sound)'), Math.max(0, ms));
  }

  /** No sound to scale: said in the debug log, so a test or a technician sees the level it was given. */
  setVolume(volume: number): void {
    if (!this.done) this.log?.debug({ volume }, 'stand-in player: volume');
  }

  stop(): Promise<void> {
    this.finish('stopped', 'stopped');
    return Promise.resolve();
  }

  private finish(reason: PlayEnd['reason'], message: string): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.resolveEnded({ reason, at: this.now(), exitCode: null, signal: null, stderrTail: '', message });
  }
}
