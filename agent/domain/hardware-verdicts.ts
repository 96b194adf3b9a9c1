// What a hardware reading means, in one place: the agent's remote `selftest` and the
// technician's `loa-provision check` judge the same readings with the same thresholds
// and say the same thing about them (they had drifted: disk failed under 200 MB in one
// and 100 MB in the other). Pure: readings in, verdicts out; each caller reads the
// hardware its own way (through the running agent's board, or directly).
//
// A verdict is `ok`, `warn` (worth a look, not a failure) or `fail`, with a detail that
// says what was measured and, unless ok, a hint that says what to do. In English unless
// asked (`lang`): the agent's selftest reports in English to the centre, loa-provision
// check says it in the technician's language. The texts are the catalogue's part
// contract/messages-verdicts.ts, imported alone: the agent does not load the whole
// catalogue (the page's and loa-provision's texts) for them.
import { DISK_WARN_MB } from '../../contract/telemetry.js';
import type { Lang } from '../../contract/messages.js';
import { fill } from '../../contract/message-fill.js';
import { VERDICT_MESSAGES } from '../../contract/messages-verdicts.js';

export interface Verdict {
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  hint?: string;
}

const ok = (detail: string): Verdict => ({ status: 'ok', detail });
const warn = (detail: string, hint: string): Verdict => ({ status: 'warn', detail, hint });
const fail = (detail: string, hint: string): Verdict => ({ status: 'fail', detail, hint });

/** Under this the box cannot keep its outbox and media: fail. */
export const DISK_FAIL_MB = 100;
export { DISK_WARN_MB };
/** Below this RSSI (dBµV) a broadcast is too noisy to relay (PROTOCOL.md §5.2: FM_SIGNAL is ok again at 20). */
export const FM_MIN_RSSI = 20;
/**
 * An amplifier that is on and playing draws far more than its idle supply current; under
 * this the relay did not switch it or it is not powered. The simulator reports 850 mA
 * playing and 40 mA idle; set from the first boxes' measurements.
 */
export const AMP_MIN_CURRENT_MA = 100;

/** `freeMB` at `where` (null: the system did not say); `quotaMB`: the cache may want this much. */
export function diskVerdict(freeMB: number | null, where: string, quotaMB?: number, lang: Lang = 'en'): Verdict {
  const s = say(lang);
  if (freeMB === null) return warn(s('hw.disk.unknown', { where }), s('hw.disk.unknown.hint'));
  const size = freeMB >= 10_240 ? `${(freeMB / 1024).toFixed(1)} GB` : `${freeMB} MB`;
  const detail = s('hw.disk.free', { size, where });
  if (freeMB < DISK_FAIL_MB) return fail(s('hw.disk.under', { detail, mb: DISK_FAIL_MB }), s('hw.disk.hint'));
  if (freeMB < DISK_WARN_MB) return warn(s('hw.disk.under', { detail, mb: DISK_WARN_MB }), s('hw.disk.hint'));
  if (quotaMB !== undefined && freeMB < quotaMB)
    return warn(s('hw.disk.quota', { detail, mb: quotaMB }), s('hw.disk.quota.hint'));
  return ok(detail);
}

export function fmVerdict(freqMHz: number, rssi: number | null, lang: Lang = 'en'): Verdict {
  const s = say(lang);
  const got = `${freqMHz.toFixed(1)} MHz, RSSI ${rssi ?? s('hw.unknown')} dBµV`;
  if (rssi === null) return fail(s('hw.fm.silent', { got }), s('hw.fm.silent.hint'));
  if (rssi < FM_MIN_RSSI) return fail(s('hw.fm.weak', { got, min: FM_MIN_RSSI }), s('hw.fm.weak.hint'));
  return ok(s('hw.fm.locked', { got }));
}

/** `impedance` in Ω, 0xFFFF open, null when only the status flags told. */
export function lineVerdict(result: 'ok' | 'open' | 'short', impedance: number | null, lang: Lang = 'en'): Verdict {
  const s = say(lang);
  const ohms =
    impedance === null ? s('hw.line.flags') : impedance === 0xffff ? s('hw.line.openCircuit') : `${impedance} Ω`;
  if (result === 'short') return fail(s('hw.line.short', { ohms }), s('hw.line.short.hint'));
  if (result === 'open') return fail(s('hw.line.open', { ohms }), s('hw.line.open.hint'));
  return ok(s('hw.line.ok', { ohms }));
}

const volts = (mv: number) => `${(mv / 1000).toFixed(1)} V`;

/** The levels of a GET_STATUS reply (PROTOCOL.md §5.4) that the checklist reports. */
export interface BoardReading {
  doorOpen: boolean;
  mainsLost: boolean;
  batteryLow: boolean;
  batteryMv: number;
  ampFault: boolean;
  watchdogTripped: boolean;
  temperatureC: number;
  ampCurrentMa: number;
}

export function doorVerdict(r: BoardReading, lang: Lang = 'en'): Verdict {
  const s = say(lang);
  return r.doorOpen ? fail(s('hw.door.open'), s('hw.door.open.hint')) : ok(s('hw.door.closed'));
}

export function mainsVerdict(r: BoardReading, lang: Lang = 'en'): Verdict {
  const s = say(lang);
  const v = volts(r.batteryMv);
  return r.mainsLost ? fail(s('hw.mains.lost', { v }), s('hw.mains.lost.hint')) : ok(s('hw.mains.ok', { v }));
}

export function batteryVerdict(r: BoardReading, lang: Lang = 'en'): Verdict {
  const s = say(lang);
  const v = volts(r.batteryMv);
  return r.batteryLow ? fail(s('hw.battery.low', { v }), s('hw.battery.low.hint')) : ok(v);
}

export function ampVerdict(r: BoardReading, lang: Lang = 'en'): Verdict {
  const s = say(lang);
  if (r.ampFault) return fail(s('hw.amp.fault', { temp: r.temperatureC, mA: r.ampCurrentMa }), s('hw.amp.fault.hint'));
  return ok(s('hw.amp.ok', { temp: r.temperatureC, watchdog: r.watchdogTripped ? s('hw.amp.watchdog') : '' }));
}

/** The IO board's identity line. */
export function firmwareDetail(
  v: {
    protocol: number;
    minor: number;
    firmware: { major: number; minor: number; patch: number };
    hwRev: number;
    bootCount: number;
    resetReason: string;
  },
  lang: Lang = 'en',
): string {
  return say(lang)('hw.firmware', {
    firmware: `${v.firmware.major}.${v.firmware.minor}.${v.firmware.patch}`,
    protocol: `${v.protocol}.${v.minor}`,
    hwRev: v.hwRev,
    boot: v.bootCount,
    reason: v.resetReason,
  });
}

function say(lang: Lang) {
  return (key: keyof typeof VERDICT_MESSAGES, vars?: Record<string, string | number>) =>
    fill(VERDICT_MESSAGES[key][lang], vars);
}
