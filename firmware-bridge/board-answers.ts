// What the simulated IO board (board-model.ts) is and answers: its state (BoardState),
// the state at power-up, and the §5.1 command table executed on that state (each command's
// reply or ERROR, the status flags and the GET_STATUS block). The model keeps the wire,
// the timers (BOOT repeat, watchdog, BUSY) and the scriptable faults.
import {
  COMMAND_TYPES,
  WATCHDOG_DEFAULT_S,
  encodeError,
  encodeReply,
  type AmpFaultCause,
  type AudioInput,
  type Command,
  type Levels,
  type LineState,
  type Message,
  type Status,
  type StatusFlags,
  type VersionBlock,
} from './messages.js';

export const RSSI_GOOD = 45;
export const RSSI_LOST = 6;

export interface BoardState {
  amp: boolean;
  input: AudioInput;
  fmFreq: number;
  fmRssi: number;
  fmSignalLost: boolean;
  line: LineState;
  mainsLost: boolean;
  batteryMv: number;
  doorOpen: boolean;
  bootCount: number;
  watchdogS: number;
  watchdogTripped: boolean;
  lastEventSeq: number;
  silent: boolean;
  delayMs: number;
  /** Latched amplifier fault (§5.1 SET_AMP): null when none. */
  ampFault: AmpFaultCause | null;
  batteryLow: boolean;
  /** The tuner failed to initialise: FM_TUNE / FM_STATUS answer NOT_READY. */
  tunerFailed: boolean;
  /** The relay feedback disagrees: SET_AMP / SELECT_INPUT answer HW_FAULT. */
  relayFault: boolean;
  /** Input relay switches done (each one a muted break on a real board). */
  inputSwitches: number;
  /** BOOT frames of this many coming resets are lost on the wire. */
  bootsToLose: number;
  /** Every reply is sent twice. */
  duplicate: boolean;
  /** 1.2 knob: each input's signal level, dBFS (SILENCE_DBFS: dead air). */
  inputDbfs: Record<AudioInput, number>;
  /** 1.2 knob: the amplifier's output stage: working, dead (no output, idle current), or drawing nothing. */
  output: OutputStage;
  /** 1.2 knob: a working output stage that delivers this many dB less than it should (a weak amplifier). */
  outputLossDb: number;
}

export type OutputStage = 'ok' | 'dead' | 'no-current';

/** A board after power-up: amp off, input ip, tuner off, watchdog 10 s, no event yet. */
export function powerOnState(bootCount: number): BoardState {
  return {
    amp: false,
    input: 'ip',
    fmFreq: 0,
    fmRssi: 0,
    fmSignalLost: false,
    line: 'ok',
    mainsLost: false,
    batteryMv: 13_400,
    doorOpen: false,
    bootCount,
    watchdogS: WATCHDOG_DEFAULT_S,
    watchdogTripped: false,
    lastEventSeq: 0,
    silent: false,
    delayMs: 0,
    ampFault: null,
    batteryLow: false,
    tunerFailed: false,
    relayFault: false,
    inputSwitches: 0,
    bootsToLose: 0,
    duplicate: false,
    inputDbfs: { ip: -18, fm: -20, line: -24 },
    output: 'ok',
    outputLossDb: 0,
  };
}

/** A reset (§5.2): amp off, input ip, tuner off, watchdog 10 s, event counter back, boot counter up. */
export function resetState(s: BoardState): void {
  Object.assign(s, {
    amp: false,
    input: 'ip',
    fmFreq: 0,
    fmRssi: 0,
    watchdogS: WATCHDOG_DEFAULT_S,
    watchdogTripped: false,
    lastEventSeq: 0,
    bootCount: s.bootCount + 1,
  } satisfies Partial<BoardState>);
}

/** What execute() needs of the board besides its state. */
export interface Answering {
  readonly s: BoardState;
  /** Minor protocol version the firmware speaks (0: the 1.0 text). */
  readonly minor: number;
  /** The live cause of an amplifier fault; `s.ampFault` is the flag the host sees. */
  ampCause(): AmpFaultCause | null;
  uptimeS(): number;
  clearAmpFault(): void;
  feedWatchdog(): void;
  versionBlock(): VersionBlock;
  /** 1.2: seconds since the last idle line measurement, null before the first since reset. */
  lineAgeS(): number | null;
}

/** One command of the right VER, executed: the reply or ERROR to send (§5.1). */
export function execute(c: Command, b: Answering): Message {
  const s = b.s;
  switch (c.cmd) {
    case 'ping':
      return encodeReply(
        'ping',
        b.minor >= 1
          ? { flags: flags(s), lastEventSeq: s.lastEventSeq, bootCount: s.bootCount, input: s.input }
          : { flags: flags(s), lastEventSeq: s.lastEventSeq },
      );
    case 'get-status':
      return encodeReply('get-status', status(s, b.uptimeS()));
    case 'set-amp':
      if (c.on && (s.ampFault || s.relayFault)) return encodeError(COMMAND_TYPES['set-amp'], 'hw_fault');
      s.amp = c.on;
      // 1.1: any SET_AMP acknowledges a watchdog trip; 1.0 cleared it with SET_AMP 1 only.
      if (c.on || b.minor >= 1) s.watchdogTripped = false;
      if (!c.on && b.ampCause() === null) b.clearAmpFault();
      return encodeReply('set-amp', { on: s.amp });
    case 'select-input':
      if (s.relayFault) return encodeError(COMMAND_TYPES['select-input'], 'hw_fault');
      // The current input is a no-op: no relay movement, no mute (§5.1).
      if (c.input !== s.input) s.inputSwitches++;
      s.input = c.input;
      return encodeReply('select-input', { input: s.input });
    case 'fm-tune':
      if (s.tunerFailed) return encodeError(COMMAND_TYPES['fm-tune'], 'not_ready');
      s.fmFreq = c.freq - (c.freq % 5); // the tuner's own 50 kHz step, so "as tuned" can differ
      s.fmRssi = s.fmSignalLost ? RSSI_LOST : RSSI_GOOD;
      return encodeReply('fm-tune', { freq: s.fmFreq, rssi: s.fmRssi });
    case 'fm-status':
      if (s.tunerFailed || (s.fmFreq === 0 && b.minor < 1)) return encodeError(COMMAND_TYPES['fm-status'], 'not_ready');
      // 1.1: the tuner off (never tuned since reset) answers zeros, not NOT_READY.
      if (s.fmFreq === 0) return encodeReply('fm-status', { freq: 0, rssi: 0, snr: 0, stereo: false, signalOk: false });
      return encodeReply('fm-status', {
        freq: s.fmFreq,
        rssi: s.fmRssi,
        snr: s.fmSignalLost ? 3 : 30,
        stereo: !s.fmSignalLost,
        signalOk: !s.fmSignalLost,
      });
    case 'line-test':
      return encodeReply('line-test', { result: s.line, impedance: impedanceOf(s.line) });
    case 'set-watchdog':
      s.watchdogS = c.seconds;
      b.feedWatchdog();
      return encodeReply('set-watchdog', { seconds: s.watchdogS });
    case 'get-version':
      return encodeReply('get-version', b.versionBlock());
    case 'get-levels': {
      if (b.minor < 2) return encodeError(COMMAND_TYPES['get-levels'], 'unknown_type');
      const age = b.lineAgeS();
      const z = impedanceOf(s.line);
      return encodeReply('get-levels', {
        ...levelsOf(s),
        lineImpedance: age === null || z === 0xffff ? null : z,
        lineAgeS: age,
      });
    }
  }
}

/** dBFS of silence (an input with nothing on it). */
export const SILENCE_DBFS = -100;
/** The simulated amplifier: −18 dBFS in gives −6 dB of the rated output. */
const GAIN_DB = 12;
/** What an amplifier with nothing to amplify (or a dead output stage) reads on the line. */
const NOISE_FLOOR_DB = -80;
const IDLE_MA = 350;
/** Supply current added at the rated output into the nominal load. */
const FULL_LOAD_MA = 2_400;

/**
 * The levels of the window now (1.2, PROTOCOL.md §5.6): the selected input's signal (FM
 * off or without signal is silence); with the amplifier on, an output that follows it when
 * the output stage works, and a current that follows the output into the line's load (an
 * open line draws only the idle current).
 */
export function levelsOf(s: BoardState): Levels {
  const fmSilent = s.input === 'fm' && (s.fmFreq === 0 || s.fmSignalLost);
  const inDbfs = Math.max(SILENCE_DBFS, fmSilent ? SILENCE_DBFS : s.inputDbfs[s.input]);
  const base = { inDbfs, input: s.input, windowMs: 1000 };
  if (!s.amp) return { ...base, outDb: null, currentMa: 40 };
  if (s.output !== 'ok') return { ...base, outDb: NOISE_FLOOR_DB, currentMa: s.output === 'dead' ? IDLE_MA : 0 };
  const outDb = Math.min(3, Math.max(NOISE_FLOOR_DB, inDbfs + GAIN_DB - s.outputLossDb));
  const load = s.line === 'open' ? 0 : FULL_LOAD_MA * 10 ** (outDb / 10);
  return { ...base, outDb, currentMa: Math.round(IDLE_MA + load) };
}

export function flags(s: BoardState): StatusFlags {
  return {
    ampOn: s.amp,
    ampFault: s.ampFault !== null,
    doorOpen: s.doorOpen,
    mainsLost: s.mainsLost,
    batteryLow: s.batteryLow,
    lineOpen: s.line === 'open',
    lineShort: s.line === 'short',
    watchdogTripped: s.watchdogTripped,
    fmNoSignal: s.fmFreq !== 0 && s.fmSignalLost,
  };
}

export function status(s: BoardState, uptimeS: number): Status {
  return {
    flags: flags(s),
    input: s.input,
    fmFreq: s.fmFreq,
    fmRssi: s.fmRssi,
    temperatureC: 31.5,
    batteryMv: s.batteryMv,
    ampCurrentMa: s.amp ? 850 : 40,
    uptimeS,
    watchdogS: s.watchdogS,
    lastEventSeq: s.lastEventSeq,
  };
}

export function impedanceOf(state: LineState): number {
  return state === 'open' ? 0xffff : state === 'short' ? 0 : 16;
}
