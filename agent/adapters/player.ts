// The audio player port. One real implementation runs mpg123 (adapters/mpg123-player.ts);
// a stand-in that only waits exists for machines without audio tools
// (adapters/standin-player.ts), and the agent says so loudly when it uses it.
//
// A session plays one source: verified cache files in order, or one stream URL.
// Failover across a stream's `urls` and to the item's `fallback` is the playback
// coordinator's job (runtime/playback.ts), which starts one session per attempt.

export type PlayerSource = { kind: 'file'; paths: readonly string[] } | { kind: 'stream'; url: string };

export interface PlayRequest {
  source: PlayerSource;
  /** Effective output level in percent of full scale: item volume × master × configured maximum. */
  volume: number;
}

export interface PlayEnd {
  /** 'end': the source ended by itself; 'stopped': stop() was called; 'failed': see message. */
  reason: 'end' | 'stopped' | 'failed';
  /** Wall-clock ms when the player process was gone. */
  at: number;
  exitCode: number | null;
  signal: string | null;
  /** Last lines of the player's stderr, for play.failed messages. */
  stderrTail: string;
  message: string;
}

export interface PlayerSession {
  /** Resolves with the wall-clock ms of the first audio out (not the spawn); rejects when it fails before that. */
  readonly started: Promise<number>;
  /** Always resolves (never rejects), once the player process has exited. */
  readonly ended: Promise<PlayEnd>;
  /** Change the output level of what plays (percent of full scale, as `volume`); ignored once it ended. */
  setVolume(volume: number): void;
  /** Silence it now: the process is gone when this resolves (target < 200 ms). Idempotent. */
  stop(): Promise<void>;
}

export interface Player {
  readonly kind: 'mpg123' | 'stand-in';
  play(req: PlayRequest): PlayerSession;
}
