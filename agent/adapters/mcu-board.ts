// The `mcu` board: the IO microcontroller behind firmware-bridge/ (PROTOCOL.md), as the
// agent's Board port plus the FM tuner and the sensors.
//
// - Outputs: the bridge keeps the desired amp/input/tuner state and re-applies it after
//   every reconnect and board reset. While the board does not answer, setAmp() and
//   selectInput() record the wish and return (the `mcu no_answer` fault is already
//   reported, and the wish is applied when the board is back), so playback that does not
//   need the board (a file on a speaker wired past it) goes on.
// - Conditions: board events (edges) and status flags (levels, read after every connect
//   and after a lost event) become HwCondition edges; the agent's FaultTracker debounces
//   them into hw.fault / hw.recovered. The mapping is PROTOCOL.md §8 (mcu-conditions.ts).
// - Tuner: FM_TUNE on tune(); RSSI refreshed by FM_SIGNAL events and an FM_STATUS poll
//   while tuned, for the heartbeat's `fm`.
import type { Duplex } from 'node:stream';
import { FirmwareBridge, NotConnectedError, type BridgeDeps } from '../../firmware-bridge/bridge.js';
import type { AudioInput as BoardInput, BoardEvent, Status, VersionBlock } from '../../firmware-bridge/messages.js';
import type {
  AudioInput,
  Board,
  BoardDiagnostics,
  BoardSound,
  BoardState,
  FmState,
  HwCondition,
  SoundLevels,
  Tuner,
} from './board.js';
import type { Logger } from '../log.js';
import { LoaError } from '../errors.js';
import { McuConditions } from './mcu-conditions.js';
import { systemClock, type Clock, type TimerHandle as ClockTimerHandle } from './clock.js';
import type { TimerHandle as BridgeTimerHandle, Timers } from '../../firmware-bridge/timers.js';

export interface McuBoardOptions {
  open(): Promise<Duplex>;
  /** Host watchdog N (PROTOCOL.md §7): the board turns the amp off when we are silent this long. */
  watchdogS: number;
  log: Logger;
  /** Test hooks (ping period, backoff, timeouts). */
  bridge?: Partial<Omit<BridgeDeps, 'open' | 'watchdogS'>>;
  /** How often the RSSI is read while tuned; 10 s by default. */
  fmPollMs?: number;
  /**
   * The agent's clock: the bridge's timers (its own small port, so firmware-bridge/ stands
   * alone) and the FM poll run on it. Default: the system clock.
   */
  clock?: Clock;
}

/** The agent's Clock as the firmware bridge's Timers port (monotonic `now`). */
export function bridgeTimers(clock: Clock): Timers {
  return {
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms) as unknown as BridgeTimerHandle,
    clearTimeout: (h) => clock.clearTimeout(h as unknown as ClockTimerHandle | undefined),
    now: () => clock.monoMs(),
  };
}

// firmware-bridge/ has its own input type (it stands alone); the two must stay the same set.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const inputsAgree: Same<AudioInput, BoardInput> = true;
void inputsAgree;

export class McuBoard implements Board {
  readonly kind = 'mcu' as const;
  readonly bridge: FirmwareBridge;
  readonly tuner: Tuner;
  private readonly conditions = new McuConditions();
  private ampOn = false;
  private input: AudioInput = 'ip';
  private fm: FmState | null = null;
  private fmPoll: ClockTimerHandle | undefined;
  private readonly clock: Clock;
  private closed = false;
  private initialised = false;
  private version: VersionBlock | undefined;
  private readonly levelListeners = new Set<(l: SoundLevels) => void>();
  /** Protocol 1.2: LEVELS while the amplifier is on (a 1.0 or 1.1 board measures nothing). */
  readonly sound: BoardSound = {
    measures: () => this.bridge.connected && (this.version?.minor ?? 0) >= 2,
    onLevels: (l) => (this.levelListeners.add(l), () => void this.levelListeners.delete(l)),
  };

  constructor(private readonly o: McuBoardOptions) {
    this.clock = o.clock ?? systemClock;
    this.bridge = new FirmwareBridge({
      timers: bridgeTimers(this.clock),
      ...o.bridge,
      open: o.open,
      watchdogS: o.watchdogS,
    });
    const b = this.bridge;
    b.on('event', (e) => this.onEvent(e));
    b.on('connected', (v) => {
      this.version = v;
      o.log.info({ firmware: v.firmware, bootCount: v.bootCount, hwRev: v.hwRev }, 'IO board connected');
      this.conditions.set('mcu', 'no_answer', false, 'IO board answers again');
      this.conditions.set('mcu', 'protocol_version', false, 'IO board protocol version matches');
      this.readStatus();
    });
    b.on('reapplied', (d) => {
      this.ampOn = d.amp;
      this.input = d.input;
      this.conditions.set('mcu', 'reset', false, 'IO board state re-applied after its reset');
      this.conditions.set('amp', 'watchdog', false, 'host talking to the IO board again');
      if (d.amp) this.conditions.set('amp', 'hw_fault', false, 'amplifier switched on');
    });
    b.on('amp-refused', () => this.conditions.refused());
    b.on('reset', (v) => {
      this.ampOn = false;
      this.version = v; // selftest and the log say the boot we are in, not the one before
      this.conditions.set(
        'mcu',
        'reset',
        true,
        `IO board reset (${v.resetReason}, boot ${v.bootCount}); re-applying amp, input and tuner`,
      );
    });
    let lastDrift = '';
    b.on('drift', (what) => {
      const same = what.join() === lastDrift;
      lastDrift = what.join();
      o.log[same ? 'debug' : 'warn']({ code: 'MCU_DRIFT', what }, 'IO board not in the wanted state; re-applying');
    });
    b.on('disconnected', (why) => {
      if (!this.closed) o.log.warn({ code: 'MCU_LOST', why }, 'IO board connection lost; reconnecting');
    });
    b.on('no-answer', () =>
      this.conditions.set('mcu', 'no_answer', true, 'IO board does not answer (3 pings missed); retrying'),
    );
    b.on('version-mismatch', (v) =>
      this.conditions.set(
        'mcu',
        'protocol_version',
        true,
        `IO board speaks protocol ${v}, this agent 1: board left alone (amp stays off), rechecked every 30 s`,
      ),
    );
    b.on('status', (s) => this.reconcile(s));
    // A persistent fault (a relay that does not follow) fails the repair at every keep-alive:
    // one warn line per new message, the repeats at debug.
    let lastWarning = '';
    b.on('warning', (err) => {
      const key = err.message.replace(/\(seq \d+\)/g, '');
      const same = key === lastWarning;
      lastWarning = key;
      o.log[same ? 'debug' : 'warn']({ code: 'MCU_WARNING', err }, 'IO board background step failed');
    });
    this.tuner = {
      tune: (freqMHz) => this.tune(freqMHz),
      state: () => (this.fm ? { ...this.fm, rssi: this.bridge.connected ? this.fm.rssi : null } : null),
    };
  }

  /** The serial link's health for the heartbeat: a degrading line shows as bad frames and timeouts. */
  link(): { up: boolean; resets: number; badFrames: number; timeouts: number } {
    const s = this.bridge.stats();
    return {
      up: this.bridge.connected && !this.bridge.versionMismatch,
      resets: s.resets,
      badFrames: s.badCrc + s.oversize + s.truncated + s.badPayloads + s.foreignVersion,
      timeouts: s.timeouts,
    };
  }

  /** Firmware of the board, once it has answered. */
  get firmware(): VersionBlock | undefined {
    return this.version;
  }

  /** The selftest's view of the board (the Board port's optional capability). */
  readonly diagnostics: BoardDiagnostics = {
    answering: () => this.bridge.connected && this.version !== undefined,
    firmware: () => this.version,
    reading: async () => {
      const s = await this.bridge.request({ cmd: 'get-status' });
      return { ...s.flags, batteryMv: s.batteryMv, temperatureC: s.temperatureC, ampCurrentMa: s.ampCurrentMa };
    },
    lineTest: () => this.lineTest(),
  };

  async init(): Promise<void> {
    if (this.initialised) return;
    this.initialised = true;
    // The bridge starts from amp off / input ip and writes that on connect (§5.2: the
    // board itself boots safe). A missing device is not fatal: report and keep trying.
    try {
      await this.bridge.start();
    } catch (err) {
      const why = (err as Error).message;
      this.o.log.error({ code: 'MCU_OPEN', err }, 'IO board not reachable; retrying in the background');
      this.conditions.set('mcu', 'no_answer', true, `IO board not reachable: ${why.slice(0, 200)}`);
    }
  }

  async setAmp(on: boolean): Promise<void> {
    this.assertOpen(`SET_AMP ${on ? 1 : 0}`);
    try {
      this.ampOn = await this.bridge.setAmp(on);
      if (on) this.conditions.set('amp', 'hw_fault', false, 'amplifier switched on');
    } catch (err) {
      if (err instanceof NotConnectedError) return; // wish recorded; applied on reconnect
      if (on && /hw_fault/.test((err as Error).message)) this.conditions.refused();
      throw err;
    }
  }

  async selectInput(input: AudioInput): Promise<void> {
    this.assertOpen(`SELECT_INPUT ${input}`);
    try {
      this.input = await this.bridge.selectInput(input);
    } catch (err) {
      if (err instanceof NotConnectedError) return;
      throw err;
    }
  }

  state(): BoardState {
    return { amp: this.ampOn, input: this.input, ampFault: this.conditions.ampFaultActive() };
  }

  /** LINE_TEST (up to 3 s): the speaker line's state and impedance. */
  async lineTest(): Promise<{ result: 'ok' | 'open' | 'short'; impedance: number }> {
    return this.bridge.request({ cmd: 'line-test' });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.clock.clearInterval(this.fmPoll);
    this.fmPoll = undefined;
    if (this.bridge.connected) {
      await this.bridge.setAmp(false).catch(() => undefined);
      await this.bridge.selectInput('ip').catch(() => undefined);
    }
    await this.bridge.stop();
    // Off as far as the host can make it: confirmed above, or, with the board silent, by
    // its own watchdog once it stops hearing us (PROTOCOL.md §7).
    this.ampOn = false;
    this.input = 'ip';
  }

  /** The Board port: no write before init() or after close(). */
  private assertOpen(what: string): void {
    if (!this.initialised || this.closed)
      throw new LoaError('BOARD_WRITE', `${what}: the IO board is ${this.closed ? 'closed' : 'not initialised'}`);
  }

  // ---- tuner ----

  private async tune(freqMHz: number): Promise<FmState> {
    const r = await this.bridge.fmTune(Math.round(freqMHz * 100));
    this.fm = { freqMHz: r.freq / 100, rssi: r.rssi };
    if (!this.fmPoll && !this.closed) {
      this.fmPoll = this.clock.setInterval(() => void this.pollFm(), this.o.fmPollMs ?? 10_000, { unref: true });
    }
    return { ...this.fm };
  }

  private async pollFm(): Promise<void> {
    if (!this.bridge.connected || !this.fm) return;
    try {
      const s = await this.bridge.request({ cmd: 'fm-status' });
      this.fm = { freqMHz: s.freq / 100, rssi: s.rssi };
    } catch {
      // NOT_READY or no answer: the next FM_SIGNAL event or poll tells.
    }
  }

  // ---- conditions (mcu-conditions.ts) ----

  onHw(listener: (c: HwCondition) => void): () => void {
    return this.conditions.onHw(listener);
  }

  private onEvent(e: BoardEvent): void {
    if (e.event === 'levels') {
      const { outDb, currentMa, inDbfs, input, windowMs } = e;
      for (const l of this.levelListeners) l({ outDb, currentMa, inDbfs, input, windowMs });
      return;
    }
    if (e.event === 'amp-fault' && e.fault) this.ampOn = false; // the board switched it off
    if (e.event === 'watchdog') this.ampOn = false;
    if (e.event === 'fm-signal' && this.fm) this.fm = { ...this.fm, rssi: e.rssi };
    this.conditions.event(e);
    if (e.event !== 'watchdog') return;
    // We are talking again (we just heard it): put the amp back as wanted, which clears the flag.
    const want = this.bridge.desired().amp;
    this.bridge
      .setAmp(want)
      .then((on) => {
        this.ampOn = on;
        this.conditions.set('amp', 'watchdog', false, 'amplifier state restored after the IO board watchdog');
      })
      .catch((err: Error) =>
        this.o.log.warn({ code: 'MCU_WATCHDOG', err }, 'amplifier not restored after the board watchdog'),
      );
  }

  private readStatus(): void {
    this.bridge
      .request({ cmd: 'get-status' })
      .then((s) => this.reconcile(s))
      .catch((err: Error) => this.o.log.warn({ code: 'MCU_STATUS', err }, 'IO board status not read'));
  }

  /** Status flags are levels (PROTOCOL.md §4): report any that differ from what we believe. */
  private reconcile(s: Status): void {
    this.conditions.fromStatus(s);
    this.ampOn = s.flags.ampOn;
    this.input = s.input;
    if (s.fmFreq !== 0) this.fm = { freqMHz: s.fmFreq / 100, rssi: s.fmRssi };
  }
}
