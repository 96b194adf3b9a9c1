// The player port on mpg123 (1.31): one mpg123 process per session, in remote mode.
//
// Why remote mode (`-R`): mpg123 reads commands on stdin and exits when stdin reaches EOF
// (it looks between frames). stdin is a pipe held only by this process, so when the agent
// dies, even by SIGKILL, the pipe closes and mpg123 exits by itself: no orphan keeps the
// sound card busy (test/integration/mpg123-player.test.ts "no orphan": gone in ~20 ms). The
// one case it does not cover (measured): mpg123 blocked in read() on a stalled stream looks
// at stdin only when data arrives, so it outlives a killed agent; systemd's cgroup kill of
// the unit (SIGKILL after TimeoutStopSec) is the backstop there.
// mpg123 catches SIGTERM (it does not exit while blocked on a read), so a stop ends with
// SIGKILL after a short grace. `--timeout` is not used: mpg123 1.31.2 aborts with
// "bit out of range 0 - FD_SETSIZE on fd_set" on every HTTP URL when it is set.
//
// Outputs:
// - `alsa`: the card paces mpg123. Audio out = the first `@F` line (printed after a decoded
//   frame was written to the device) of the session; progress = further `@F` lines.
// - `paced`: mpg123 writes raw s16 PCM to stdout (`-s -e s16`) and the Pacer (mpg123-pacer.ts)
//   plays the card in real time, so pipe backpressure paces mpg123 as a card would. Audio
//   out = the first PCM taken by the pacer; progress = PCM taken. An empty pipe while
//   playing counts as an underrun.
//
// Files play back to back in one process: the next LOAD goes on the previous track's `@P 0`.
// In paced mode the ~0.5 s of PCM in the pipe covers that round trip (every byte, no
// underrun: tested). On ALSA it may not be seamless: libout123's source (1.25) pauses a live
// device at a track's end by draining and closing it, and reopens it on the next LOAD; to be
// measured on a box with a card.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import { LoaError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { PlayEnd, Player, PlayerSession, PlayRequest } from './player.js';
import { Pacer, type PcmFormat } from './mpg123-pacer.js';
import { PlayRecording } from './pcm-output.js';

export type { PcmFormat } from './mpg123-pacer.js';

export type Mpg123Output =
  | { kind: 'alsa'; device: string }
  | {
      kind: 'paced';
      /** What the simulated card "played": s16le PCM as it is consumed in real time (tests). */
      onPcm?: (pcm: Buffer, format: PcmFormat, handedAt?: number) => void;
      /**
       * Record each session's PCM as played, as `<dir>/play-<ms>-<pid>.wav` and `.json`
       * (`firstSampleMs`: the wall-clock instant of its first frame), config audio.recordDir.
       */
      recordDir?: string;
    };

export interface Mpg123Options {
  /** The mpg123 binary (default 'mpg123', from PATH). */
  bin?: string;
  output: Mpg123Output;
  /** No audio out within this after play() → failed (default 10 s: a stream over 4G may take seconds). */
  startTimeoutMs?: number;
  /** Audio out stopped advancing for this long → failed, "went silent" (default 5 s). */
  stallTimeoutMs?: number;
  /** After QUIT, SIGKILL if the process is still there (default 100 ms; stop target is 200 ms). */
  stopGraceMs?: number;
  log?: Logger;
  /** Wall clock for timestamps (default: the clock's now()). */
  now?: () => number;
  /** Monotonic time and the session's timers (start/stall checks, kill grace); default the system clock. */
  clock?: Clock;
}

/** A session with the process id exposed, for benchmarks and the orphan test. */
export interface Mpg123Session extends PlayerSession {
  readonly pid: number | undefined;
  /** Paced output only: times the pipe ran dry while playing (an audible gap). */
  readonly underruns: number;
}

export interface Mpg123Player extends Player {
  play(req: PlayRequest): Mpg123Session;
}

export function createMpg123Player(opts: Mpg123Options): Mpg123Player {
  return { kind: 'mpg123', play: (req) => new Session(opts, req) };
}

const TAIL_LINES = 8;
/** After QUIT at the natural end, mpg123 flushes and exits; kill it if it does not. */
const END_GRACE_MS = 5000;

class Session implements Mpg123Session {
  readonly started: Promise<number>;
  readonly ended: Promise<PlayEnd>;
  readonly pid: number | undefined;
  private resolveStarted!: (at: number) => void;
  private rejectStarted!: (err: Error) => void;
  private resolveEnded!: (end: PlayEnd) => void;
  private readonly proc: ChildProcess;
  private readonly now: () => number;
  private readonly paced: Pacer | null;
  private readonly pending: string[];
  private readonly isStream: boolean;
  private readonly clock: Clock;
  private readonly spawnedMono: number;
  private startedAt: number | null = null;
  private lastProgress = 0;
  private outcome: { reason: PlayEnd['reason']; message: string; code: ErrorCode } | null = null;
  private endingNaturally = false;
  private exit: { code: number | null; signal: string | null; at: number } | null = null;
  private settled = false;
  private stderrDone = false;
  private tail: string[] = [];
  private lineBuf = '';
  private track = { name: '', audio: false, error: '' };
  private readonly watchdog: TimerHandle;
  private killTimer: TimerHandle | undefined;
  private exitWaiters: (() => void)[] = [];

  constructor(
    private readonly o: Mpg123Options,
    req: PlayRequest,
  ) {
    this.clock = o.clock ?? systemClock;
    this.now = o.now ?? (() => this.clock.now());
    this.spawnedMono = this.clock.monoMs();
    this.started = new Promise((res, rej) => ((this.resolveStarted = res), (this.rejectStarted = rej)));
    // The coordinator may await only `ended`: a rejected `started` must not crash the agent.
    this.started.catch(() => {});
    this.ended = new Promise((res) => (this.resolveEnded = res));
    this.isStream = req.source.kind === 'stream';
    this.pending = req.source.kind === 'file' ? req.source.paths.map((p) => resolvePath(p)) : [req.source.url];
    const bin = o.bin ?? 'mpg123';
    const out = o.output.kind === 'alsa' ? ['-o', 'alsa', '-a', o.output.device] : ['-s', '-e', 's16'];
    this.proc = spawn(bin, ['-R', '--remote-err', ...out], {
      stdio: ['pipe', o.output.kind === 'paced' ? 'pipe' : 'ignore', 'pipe'],
    });
    this.pid = this.proc.pid;
    this.paced =
      o.output.kind === 'paced'
        ? new Pacer(this.proc.stdout!, this.tapFor(o.output), {
            audio: (handedAt) => this.onAudio(handedAt),
            drained: () => this.maybeEnded(),
          })
        : null;
    this.proc.on('error', (err: NodeJS.ErrnoException) => this.onSpawnError(bin, err));
    this.proc.on('exit', (code, signal) => this.onExit(code, signal));
    this.proc.stdin!.on('error', () => {}); // EPIPE once mpg123 is gone: its exit is handled.
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (s: string) => this.onStderr(s));
    this.proc.stderr!.on('close', () => ((this.stderrDone = true), this.maybeEnded()));
    this.watchdog = this.clock.setInterval(() => this.checkProgress(), 200);

    const bad = this.validate(req);
    if (bad) {
      this.fail(bad);
      return;
    }
    this.o.log?.debug({ pid: this.pid, source: req.source.kind, volume: req.volume }, 'mpg123 session');
    // mpg123 reads these once it is up; VOLUME first so the first sample is at the right level.
    this.send(`VOLUME ${req.volume.toFixed(2)}\n`);
    if (this.paced) this.send('SILENCE\n'); // no @F lines: progress is the PCM taken
    this.loadNext();
  }

  private rec: PlayRecording | null = null;

  /** The paced card's tap: the caller's, and the recording of audio.recordDir. */
  private tapFor(
    out: Extract<Mpg123Output, { kind: 'paced' }>,
  ): ((pcm: Buffer, f: PcmFormat, handedAt: number) => void) | undefined {
    const rec = out.recordDir ? new PlayRecording(out.recordDir, this.now) : null;
    this.rec = rec;
    if (!rec) return out.onPcm;
    return (pcm, f, handedAt) => {
      out.onPcm?.(pcm, f, handedAt);
      rec.write(pcm, f, this.pid, handedAt);
    };
  }

  get underruns(): number {
    return this.paced?.underruns ?? 0;
  }

  stop(): Promise<void> {
    // Also after mpg123 exited at the natural end: the pacer may still be "playing" its tail.
    if (!this.settled && (!this.outcome || this.endingNaturally)) {
      this.endingNaturally = false;
      this.outcome = { reason: 'stopped', message: 'stopped', code: 'PLAYER_FAILED' };
      this.shutdown(this.o.stopGraceMs ?? 100);
    }
    return this.exited();
  }

  /** mpg123 scales what it decodes from then on; the card's (or the pipe's) buffer, ~0.5 s, is already at the old level. */
  setVolume(volume: number): void {
    if (this.outcome || !Number.isFinite(volume) || volume < 0 || volume > 100) return;
    this.o.log?.debug({ pid: this.pid, volume }, 'mpg123 volume');
    this.send(`VOLUME ${volume.toFixed(2)}\n`);
  }

  private validate(req: PlayRequest): string | null {
    if (!Number.isFinite(req.volume) || req.volume < 0 || req.volume > 100) return `invalid volume ${req.volume}`;
    if (this.pending.length === 0) return 'no file to play';
    // One command per line: a line break in a name would inject a command.
    if (this.pending.some((p) => /[\r\n]/.test(p))) return 'a file name or URL contains a line break';
    if (this.isStream && !/^https?:\/\//i.test(this.pending[0]!)) return `not an http(s) URL: ${this.pending[0]}`;
    return null;
  }

  private send(cmd: string): void {
    if (!this.exit && this.proc.stdin!.writable) this.proc.stdin!.write(cmd);
  }

  private loadNext(): void {
    const next = this.pending.shift()!;
    this.track = { name: next, audio: false, error: '' };
    this.send(`LOAD ${next}\n`);
  }

  private onStderr(chunk: string): void {
    this.lineBuf += chunk;
    if (this.lineBuf.length > 65_536) this.lineBuf = ''; // not mpg123's protocol: drop, don't grow
    let i: number;
    while ((i = this.lineBuf.indexOf('\n')) >= 0) {
      const line = this.lineBuf.slice(0, i).trimEnd();
      this.lineBuf = this.lineBuf.slice(i + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    if (line.startsWith('@F ')) {
      // A decoded frame went to the output: on a card, that is sound.
      if (this.paced === null) this.onAudio();
      return;
    }
    if (line.startsWith('@S ')) {
      // @S <mpeg-version> <layer> <rate> <mode> <mode_ext> <framesize> <channels> ...
      const f = line.split(' ');
      const rate = Number(f[3]);
      const channels = Number(f[7]);
      this.track.audio = true;
      if (rate > 0 && (channels === 1 || channels === 2)) this.paced?.setFormat({ rate, channels });
      else if (this.paced) this.fail(`unexpected stream format: ${line}`);
      return;
    }
    if (line.startsWith('@E ')) {
      this.track.error = line.slice(3);
      this.keepTail(line);
      return;
    }
    if (line === '@P 0') return this.onTrackEnd();
    if (line.startsWith('@') && !line.startsWith('@E')) return; // @R @I @P @V: protocol chatter
    if (line) this.keepTail(line);
  }

  private keepTail(line: string): void {
    this.tail.push(line.slice(0, 300));
    if (this.tail.length > TAIL_LINES) this.tail.shift();
  }

  private onTrackEnd(): void {
    if (this.outcome) return; // our own STOP
    const name = this.track.name;
    if (this.track.error) return this.fail(`cannot play ${name}: ${this.track.error}`);
    if (!this.track.audio) return this.fail(`no MPEG audio in ${name} (corrupt or not an MP3)`);
    if (this.pending.length > 0) return this.loadNext();
    // All played. The card (or our pacer) still holds the last fraction of a second: QUIT makes
    // mpg123 flush and close its output, and the session ends when that audio is out.
    this.outcome = {
      reason: 'end',
      message: this.isStream ? 'the stream ended' : 'played to the end',
      code: 'PLAYER_FAILED',
    };
    this.endingNaturally = true;
    if (this.paced) this.paced.ending = true;
    this.shutdown(END_GRACE_MS);
  }

  /** `handedAt`: performance.now() when the paced card took the PCM; a card's `@F`: now. */
  private onAudio(handedAt = performance.now()): void {
    this.lastProgress = this.clock.monoMs();
    // At the natural end the pacer may still be taking its very first PCM: a short file is
    // decoded in milliseconds, so `@P 0` can arrive before the first audio goes out.
    if (this.startedAt !== null || (this.outcome && !this.endingNaturally)) return;
    this.startedAt = Math.round(this.now() - (performance.now() - handedAt));
    this.o.log?.debug({ pid: this.pid, startMs: Math.round(this.lastProgress - this.spawnedMono) }, 'audio out');
    this.resolveStarted(this.startedAt);
  }

  private checkProgress(): void {
    if (this.outcome) return;
    const t = this.clock.monoMs();
    const startMs = this.o.startTimeoutMs ?? 10_000;
    const stallMs = this.o.stallTimeoutMs ?? 5_000;
    if (this.startedAt === null && t - this.spawnedMono > startMs) this.fail(`no audio within ${startMs} ms`);
    else if (this.startedAt !== null && t - this.lastProgress > stallMs) {
      this.fail(`no audio for ${stallMs} ms: the ${this.isStream ? 'stream' : 'file'} went silent`);
    }
  }

  private fail(message: string, code: ErrorCode = 'PLAYER_FAILED'): void {
    if (this.outcome && !this.endingNaturally) return;
    this.endingNaturally = false;
    this.outcome = { reason: 'failed', message, code };
    this.o.log?.warn({ code, pid: this.pid, message }, 'player failed');
    this.shutdown(this.o.stopGraceMs ?? 100);
  }

  /** Ask mpg123 to go (STOP drops what the card holds, QUIT exits), then make sure it does. */
  private shutdown(graceMs: number): void {
    this.clock.clearInterval(this.watchdog);
    if (!this.endingNaturally) {
      this.paced?.discard();
      this.send('STOP\n');
    }
    this.send('QUIT\n');
    this.proc.stdin!.end();
    this.clock.clearTimeout(this.killTimer);
    if (!this.exit && this.proc.pid !== undefined) {
      this.killTimer = this.clock.setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    }
    const o = this.outcome!;
    // A stream may come back; a file that did not decode will not, nor a missing binary.
    if (o.reason !== 'end')
      this.rejectStarted(new LoaError(o.code, o.message, { retryable: this.isStream && o.code !== 'PLAYER_MISSING' }));
    this.maybeEnded();
  }

  private onSpawnError(bin: string, err: NodeJS.ErrnoException): void {
    if (this.proc.pid !== undefined) return; // a failed kill() or the like: 'exit' still comes
    const missing = err.code === 'ENOENT' || err.code === 'EACCES';
    const message = missing
      ? `player binary not found or not executable: ${bin} (${err.code}); install mpg123`
      : `cannot start ${bin}: ${err.message}`;
    this.outcome = null;
    this.fail(message, missing ? 'PLAYER_MISSING' : 'PLAYER_FAILED');
    this.onExit(null, null);
    this.stderrDone = true;
    this.paced?.discard();
    this.maybeEnded();
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exit) return;
    this.exit = { code, signal, at: this.now() };
    this.clock.clearTimeout(this.killTimer);
    this.clock.clearInterval(this.watchdog);
    for (const w of this.exitWaiters.splice(0)) w();
    // stderr may be held open by a grandchild (mpg123 runs curl/wget for https): don't wait on it.
    this.clock.setTimeout(() => ((this.stderrDone = true), this.maybeEnded()), 200, { unref: true });
    this.maybeEnded();
  }

  private exited(): Promise<void> {
    return this.exit ? Promise.resolve() : new Promise((r) => this.exitWaiters.push(r));
  }

  private maybeEnded(): void {
    if (!this.exit || !this.stderrDone || this.settled) return;
    // Died by itself: now that stderr is read, say why (the card could not be opened, ...).
    if (!this.outcome) return this.fail(this.exitMessage());
    if (this.paced && !this.paced.finished) return;
    this.settled = true;
    this.rec?.close(this.underruns);
    const { reason, message } = this.outcome;
    this.o.log?.debug(
      { pid: this.pid, reason, exitCode: this.exit.code, signal: this.exit.signal },
      'mpg123 session ended',
    );
    this.resolveEnded({
      reason,
      at: Math.max(this.exit.at, this.now()),
      exitCode: this.exit.code,
      signal: this.exit.signal,
      stderrTail: this.tail.join('\n'),
      message,
    });
  }

  private exitMessage(): string {
    const how = `mpg123 exited unexpectedly (code ${this.exit?.code}, signal ${this.exit?.signal})`;
    const last = this.tail.at(-1) ?? '';
    if (this.o.output.kind === 'alsa' && /out123|audio|alsa/i.test(last))
      return `audio output alsa:${this.o.output.device} failed: ${how}: ${last}`;
    return last ? `${how}: ${last}` : how;
  }
}
