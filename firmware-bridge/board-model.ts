// The simulated IO board (PROTOCOL.md, board side). Bytes in through receive(), bytes
// out through the `send` callback, time through the injected Timers, so the same model
// runs in-process against PassThrough streams (unit tests) and as its own process on a
// pseudo-terminal (sim-cli.ts).
//
// Invariants (from the spec, because the host is tested against them):
// - every valid command of the right VER gets exactly one reply or ERROR with its SEQ;
// - after a reset: amp off, input ip, tuner off, watchdog 10 s, event SEQ 1, BOOT
//   repeated every 1 s until the first valid frame of the right VER (or a GET_VERSION
//   of any VER);
// - the watchdog runs from power-up and is fed only by valid frames of the right VER
//   (and held while a command executes); on expiry amp goes off, once per silence.
// It speaks 1.2 by default; `minor: 1` is a 1.1 board (no LEVELS, GET_LEVELS unknown),
// `minor: 0` the wire of a 1.0 board (3-byte PING reply, 10-byte version block).
// Faults model the field: `silent` cuts the board's TX (it still acts on commands), so
// the host sees no answer while the watchdog stays fed; `loseBoot` drops the BOOT
// frames of the next resets (power-up noise); `duplicate` sends every reply twice;
// `ampFaultLatch` is a firmware that read 1.0's "latched" literally (the flag holds
// until SET_AMP 0 after the cause went).
// Its state and the command table it executes are board-answers.ts's; this file keeps the
// wire (frames in and out, VER, BUSY), the timers (BOOT repeat, watchdog, slow replies)
// and the scriptable faults.

import { encodeFrame, PROTOCOL_MINOR, PROTOCOL_VERSION, type Frame } from './frame.js';
import { FrameParser } from './parser.js';
import {
  COMMAND_TYPES,
  decodeCommand,
  encodeError,
  encodeEvent,
  encodeReply,
  type BoardEvent,
  type Command,
  type AmpFaultCause,
  type LineState,
  type Message,
  type ResetReason,
  type VersionBlock,
} from './messages.js';
import type { TimerHandle, Timers } from './timers.js';
import { BoardLevels } from './board-levels.js';
import {
  execute,
  impedanceOf,
  powerOnState,
  resetState,
  RSSI_GOOD,
  RSSI_LOST,
  type Answering,
  type BoardState,
} from './board-answers.js';

export type { BoardState } from './board-answers.js';

/** §3 idle rule. */
const IDLE_MS = 50;
/** §5.2: BOOT is repeated this often until the host speaks. */
const BOOT_REPEAT_MS = 1000;

export interface BoardModelDeps {
  timers: Timers;
  send(bytes: Buffer): void;
  /** Boot counter before the first boot of this model (NV memory). */
  bootCount?: number;
  firmware?: { major: number; minor: number; patch: number };
  /** Protocol version the firmware speaks (to test §6 mismatches). */
  protocol?: number;
  /** Minor version (§6): PROTOCOL_MINOR (2) by default; 0 is a board built from the 1.0 text. */
  minor?: number;
  /** 1.0 reading of AMP_FAULT: the flag stays latched after the cause goes, until SET_AMP 0. */
  ampFaultLatch?: boolean;
  random?: () => number;
  /** Called for every event sent, for logs (sim-cli prints them). */
  onEvent?(e: BoardEvent): void;
}

export class BoardModel {
  private readonly parser = new FrameParser();
  private readonly s: BoardState;
  private protocol: number;
  private readonly minor: number;
  /** The live cause of an amplifier fault; `s.ampFault` is the flag the host sees. */
  private ampCause: AmpFaultCause | null = null;
  private bootLost = false;
  private readonly firmware: { major: number; minor: number; patch: number };
  private bootAt = 0;
  private resetReason: ResetReason = 'power-on';
  private booting = false;
  private busy = false;
  private bootTimer: TimerHandle | undefined;
  private watchdogTimer: TimerHandle | undefined;
  private idleTimer: TimerHandle | undefined;
  /** 1.2: LEVELS and the idle line measurement, and their knobs (board-levels.ts). */
  readonly levels: BoardLevels;
  private readonly replyTimers = new Set<TimerHandle>();
  private running = false;
  /** Commands executed, for tests ("was set-amp re-applied?"). */
  readonly log: Command[] = [];
  private readonly answering: Answering;

  constructor(private readonly deps: BoardModelDeps) {
    this.protocol = deps.protocol ?? PROTOCOL_VERSION;
    this.minor = deps.minor ?? PROTOCOL_MINOR;
    this.firmware = deps.firmware ?? { major: 1, minor: 0, patch: 0 };
    this.s = powerOnState(deps.bootCount ?? 0);
    this.answering = {
      s: this.s,
      minor: this.minor,
      ampCause: () => this.ampCause,
      uptimeS: () => Math.floor((this.deps.timers.now() - this.bootAt) / 1000),
      clearAmpFault: () => this.clearAmpFault(),
      feedWatchdog: () => this.feedWatchdog(),
      versionBlock: () => this.versionBlock(),
      lineAgeS: () => this.levels.lineAgeS(),
    };
    this.levels = new BoardLevels({
      timers: deps.timers,
      state: this.s,
      minor: this.minor,
      send: (e) => this.event(e),
    });
    this.parser.on('data', (f: Frame) => this.onFrame(f));
  }

  /** Power on: boot as after a reset. */
  start(): void {
    this.running = true;
    this.reset('power-on');
  }

  /** Power off: clear every timer so the process (or test) can exit. */
  stop(): void {
    this.running = false;
    const t = this.deps.timers;
    t.clearTimeout(this.bootTimer);
    t.clearTimeout(this.watchdogTimer);
    t.clearTimeout(this.idleTimer);
    this.levels.stop();
    for (const h of this.replyTimers) t.clearTimeout(h);
    this.replyTimers.clear();
    this.busy = false;
  }

  state(): BoardState {
    return { ...this.s };
  }

  /** Bytes from the host's TX line. */
  receive(bytes: Buffer): void {
    if (!this.running) return;
    this.parser.write(bytes);
    // §3 idle rule: a partial candidate older than 50 ms is dropped.
    this.deps.timers.clearTimeout(this.idleTimer);
    this.idleTimer =
      this.parser.pending > 0 ? this.deps.timers.setTimeout(() => this.parser.idle(), IDLE_MS) : undefined;
  }

  get parserStats() {
    return { ...this.parser.stats };
  }

  // ---- scriptable faults ----

  /** Cut the TX line (true) or restore it. */
  silence(on: boolean): void {
    this.s.silent = on;
  }
  /** A firmware update to another protocol version, then the reset that runs it. */
  flash(protocol: number): void {
    this.protocol = protocol;
    this.reset('software');
  }
  /** The BOOT frames of the next `n` resets are lost (noise at power-up, a host not listening yet). */
  loseBoot(n = 1): void {
    this.s.bootsToLose = n;
  }
  /** Send every reply twice (a UART driver bug, a retransmitting bridge). */
  duplicateReplies(on: boolean): void {
    this.s.duplicate = on;
  }
  /** Delay every reply by `ms` (the board stays BUSY meanwhile). */
  slow(ms: number): void {
    this.s.delayMs = Math.max(0, ms);
  }
  /** Inject `n` random bytes on the TX line (noise, a cable being plugged). */
  garbage(n: number): void {
    const r = this.deps.random ?? Math.random;
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
    this.tx(b);
  }
  /** A reset: boot counter up, state back to safe, BOOT announced. */
  reset(reason: ResetReason = 'software'): void {
    const t = this.deps.timers;
    for (const h of this.replyTimers) t.clearTimeout(h);
    this.replyTimers.clear();
    this.busy = false;
    resetState(this.s);
    this.resetReason = reason;
    this.bootAt = t.now();
    this.booting = true;
    this.bootLost = this.s.bootsToLose > 0;
    if (this.bootLost) this.s.bootsToLose--;
    // The amplifier's own protection re-evaluates its cause after a reset.
    this.s.ampFault = this.ampCause;
    this.levels.reset();
    this.levels.sync(this.running);
    this.feedWatchdog();
    this.announceBoot();
  }
  line(state: LineState): void {
    if (state === this.s.line) return;
    this.s.line = state;
    this.event({ event: 'line', state, impedance: impedanceOf(state) });
  }
  mains(lost: boolean): void {
    if (lost === this.s.mainsLost) return;
    this.s.mainsLost = lost;
    this.s.batteryMv = lost ? 12_600 : 13_400;
    this.event({ event: 'mains', lost, batteryMv: this.s.batteryMv });
  }
  door(open: boolean): void {
    if (open === this.s.doorOpen) return;
    this.s.doorOpen = open;
    this.event({ event: 'door', open });
  }
  /**
   * An amplifier fault's cause appears (amp goes off and stays off) or goes (null).
   * 1.1: the flag follows the cause and the state-0 event is sent when it goes; the amp
   * stays off until SET_AMP 1. With `ampFaultLatch` the flag and the refusal hold until
   * SET_AMP 0 after the cause went, and the state-0 event is sent then.
   */
  ampFault(cause: Exclude<AmpFaultCause, 'none'> | null): void {
    if (cause === this.ampCause) return;
    this.ampCause = cause;
    if (cause) {
      this.s.ampFault = cause;
      this.s.amp = false;
      this.levels.sync(this.running);
      this.event({
        event: 'amp-fault',
        fault: true,
        cause,
        currentMa: cause === 'overcurrent' ? 4_200 : 0,
        temperatureC: cause === 'overtemperature' ? 92 : 31.5,
      });
    } else if (!this.deps.ampFaultLatch) this.clearAmpFault();
  }
  private clearAmpFault(): void {
    if (this.s.ampFault === null) return;
    this.s.ampFault = null;
    this.event({ event: 'amp-fault', fault: false, cause: 'none', currentMa: 40, temperatureC: 31.5 });
  }
  battery(low: boolean): void {
    if (low === this.s.batteryLow) return;
    this.s.batteryLow = low;
    this.s.batteryMv = low ? 11_200 : this.s.mainsLost ? 12_600 : 13_400;
    this.event({ event: 'battery', low, batteryMv: this.s.batteryMv });
  }
  /** The tuner stops answering (NOT_READY) or comes back. */
  tuner(failed: boolean): void {
    this.s.tunerFailed = failed;
  }
  /**
   * State that changes without a command, as a glitching board's does (checklist row 10):
   * the tuner powers down (fm_freq 0) or the watchdog period reads another N. No event:
   * only the host's keep-alive can find it.
   */
  drift(what: 'tuner-off' | { watchdogS: number }): void {
    if (what === 'tuner-off') this.s.fmFreq = 0;
    else this.s.watchdogS = what.watchdogS;
  }
  /** The watchdog trips now, as after N seconds of host silence (§7): amp off, flag, event. */
  tripWatchdog(): void {
    this.deps.timers.clearTimeout(this.watchdogTimer);
    this.watchdogTimer = undefined;
    this.s.amp = false;
    this.s.watchdogTripped = true;
    this.levels.sync(this.running);
    this.event({ event: 'watchdog', seconds: this.s.watchdogS });
  }
  /** Relay feedback wrong: SET_AMP and SELECT_INPUT answer HW_FAULT until cleared. */
  relay(fault: boolean): void {
    this.s.relayFault = fault;
  }
  fmSignal(lost: boolean): void {
    if (lost === this.s.fmSignalLost) return;
    this.s.fmSignalLost = lost;
    if (this.s.fmFreq !== 0) this.s.fmRssi = lost ? RSSI_LOST : RSSI_GOOD;
    this.event({ event: 'fm-signal', lost, rssi: lost ? RSSI_LOST : RSSI_GOOD });
  }

  // ---- protocol ----

  private onFrame(f: Frame): void {
    if (f.version !== this.protocol) {
      // §6: not executed, does not feed the watchdog; GET_VERSION is answered anyway,
      // and shows that a host listens, so it ends the BOOT repeat (§5.2).
      if (f.type === COMMAND_TYPES['get-version']) {
        this.stopBootRepeat();
        this.answer(f.seq, encodeReply('get-version', this.versionBlock()));
      } else this.answer(f.seq, encodeError(f.type, 'version', this.protocol));
      return;
    }
    // §5.3 order: VER (above), then BUSY, then UNKNOWN_TYPE / BAD_LENGTH / BAD_ARG. Every
    // frame of the right VER feeds the watchdog and ends the BOOT repeat, whatever answers it.
    this.feedWatchdog();
    this.stopBootRepeat();
    if (this.busy) {
      this.answer(f.seq, encodeError(f.type, 'busy'));
      return;
    }
    const c = decodeCommand(f.type, f.payload);
    if ('error' in c) {
      this.answer(f.seq, encodeError(f.type, c.error));
      return;
    }
    this.log.push(c);
    const reply = execute(c, this.answering);
    this.levels.sync(this.running);
    if (this.s.delayMs === 0) {
      this.answer(f.seq, reply);
      return;
    }
    this.busy = true;
    const h = this.deps.timers.setTimeout(() => {
      this.replyTimers.delete(h);
      this.busy = false;
      // §7 (1.1): a command in progress holds the watchdog; it restarts when the reply goes.
      if (this.minor >= 1) this.feedWatchdog();
      this.answer(f.seq, reply);
    }, this.s.delayMs);
    this.replyTimers.add(h);
  }

  private versionBlock(): VersionBlock {
    const { protocol, minor, firmware, resetReason } = this;
    return { protocol, minor, firmware, bootCount: this.s.bootCount, resetReason, hwRev: 2 };
  }

  private stopBootRepeat(): void {
    if (!this.booting) return;
    this.booting = false;
    this.deps.timers.clearTimeout(this.bootTimer);
  }

  private announceBoot(): void {
    this.deps.timers.clearTimeout(this.bootTimer);
    if (!this.running || !this.booting) return;
    // The same frame (SEQ 1) every time, so repeats are recognisable as repeats. BOOT
    // is an event: last_event_seq is 1 from here on, lost frame or not.
    this.s.lastEventSeq = 1;
    const e: BoardEvent = { event: 'boot', ...this.versionBlock() };
    if (!this.bootLost) {
      this.tx(encodeFrame({ seq: 1, ...encodeEvent(e), version: this.protocol }));
      this.deps.onEvent?.(e);
    }
    this.bootTimer = this.deps.timers.setTimeout(() => this.announceBoot(), BOOT_REPEAT_MS);
  }

  private feedWatchdog(): void {
    const t = this.deps.timers;
    t.clearTimeout(this.watchdogTimer);
    if (!this.running) return;
    this.watchdogTimer = t.setTimeout(() => {
      this.watchdogTimer = undefined;
      // §7: amp off by itself; input and tuner stay. Not re-armed until the host speaks.
      this.s.amp = false;
      this.s.watchdogTripped = true;
      this.levels.sync(this.running);
      this.event({ event: 'watchdog', seconds: this.s.watchdogS });
    }, this.s.watchdogS * 1000);
  }

  private event(e: BoardEvent): void {
    if (!this.running) return;
    this.s.lastEventSeq = this.s.lastEventSeq >= 255 ? 1 : this.s.lastEventSeq + 1;
    this.tx(encodeFrame({ seq: this.s.lastEventSeq, ...encodeEvent(e), version: this.protocol }));
    this.deps.onEvent?.(e);
  }

  private answer(seq: number, m: Message): void {
    const bytes = encodeFrame({ seq, type: m.type, payload: m.payload, version: this.protocol });
    this.tx(bytes);
    if (this.s.duplicate) this.tx(bytes);
  }

  private tx(bytes: Buffer): void {
    if (this.running && !this.s.silent) this.deps.send(bytes);
  }
}
