// What a hardware reading means, in one place: the agent's remote `selftest` and the
// technician's `loa-provision check` judge the same readings with the same thresholds
// and say the same thing about them (they had drifted: disk failed under 200 MB in one
// and 100 MB in the other). Pure: readings in, verdicts out; each caller reads the
// hardware its own way (through the running agent's board, or directly).
//
// A verdict is `ok`, `warn` (worth a look, not a failure) or `fail`, with a detail that
// says what was measured and, unless ok, a hint that says what to do.
import { DISK_WARN_MB } from '../../contract/telemetry.js';

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

const DISK_HINT =
  'free space on the SD card: sudo du -xsh /var/log /var/cache/* | sort -h; sudo journalctl --vacuum-size=50M';

/** `freeMB` at `where` (null: the system did not say); `quotaMB`: the cache may want this much. */
export function diskVerdict(freeMB: number | null, where: string, quotaMB?: number): Verdict {
  if (freeMB === null) return warn(`free space unknown at ${where}`, 'check with: df -h');
  const detail = `${freeMB >= 10_240 ? `${(freeMB / 1024).toFixed(1)} GB` : `${freeMB} MB`} free at ${where}`;
  if (freeMB < DISK_FAIL_MB) return fail(`${detail}: under ${DISK_FAIL_MB} MB`, DISK_HINT);
  if (freeMB < DISK_WARN_MB) return warn(`${detail}: under ${DISK_WARN_MB} MB`, DISK_HINT);
  if (quotaMB !== undefined && freeMB < quotaMB)
    return warn(
      `${detail}: less than the cache quota (${quotaMB} MB)`,
      'lower cache.quotaMB, or free space on the card',
    );
  return ok(detail);
}

export function fmVerdict(freqMHz: number, rssi: number | null): Verdict {
  const got = `${freqMHz.toFixed(1)} MHz, RSSI ${rssi ?? 'unknown'} dBµV`;
  if (rssi === null) return fail(`${got}: the IO board does not answer`, 'see the microcontroller line');
  if (rssi < FM_MIN_RSSI)
    return fail(
      `weak: ${got} (under ${FM_MIN_RSSI})`,
      'check the FM antenna and its cable; try the local station with --fm MHz',
    );
  return ok(`locked: ${got}`);
}

/** `impedance` in Ω, 0xFFFF open, null when only the status flags told. */
export function lineVerdict(result: 'ok' | 'open' | 'short', impedance: number | null): Verdict {
  const ohms = impedance === null ? 'status flags' : impedance === 0xffff ? 'open circuit' : `${impedance} Ω`;
  if (result === 'short')
    return fail(
      `SHORTED (${ohms})`,
      'a short on the speaker line: disconnect the lines one by one to find it; do not play until it is fixed (the amplifier will trip)',
    );
  if (result === 'open')
    return fail(
      `OPEN (${ohms})`,
      'no speaker on the line: check the terminals at the box and the line to the speakers (a cut or stolen cable)',
    );
  return ok(`ok (${ohms})`);
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

export function doorVerdict(r: BoardReading): Verdict {
  return r.doorOpen
    ? fail(
        'OPEN',
        'close the cabinet door (an open door is reported to the centre), or check the door switch and its wire to the IO board',
      )
    : ok('closed');
}

export function mainsVerdict(r: BoardReading): Verdict {
  return r.mainsLost
    ? fail(
        `LOST: running on battery (${volts(r.batteryMv)})`,
        'check the mains breaker, the fuse and the power supply feeding the box',
      )
    : ok(`present (battery ${volts(r.batteryMv)})`);
}

export function batteryVerdict(r: BoardReading): Verdict {
  return r.batteryLow
    ? fail(
        `LOW (${volts(r.batteryMv)})`,
        'the backup battery is flat or failing: charge or replace it; on mains it should recover within hours',
      )
    : ok(volts(r.batteryMv));
}

export function ampVerdict(r: BoardReading): Verdict {
  if (r.ampFault)
    return fail(
      `fault latched (${r.temperatureC} °C, ${r.ampCurrentMa} mA)`,
      'the amplifier tripped (short on a speaker line, overheating or DC offset): check the line and ventilation; it clears when the cause is gone',
    );
  return ok(
    `no fault, ${r.temperatureC} °C${r.watchdogTripped ? ' (its watchdog had switched it off: the agent was not talking to it)' : ''}`,
  );
}

/** The IO board's identity line. */
export function firmwareDetail(v: {
  protocol: number;
  minor: number;
  firmware: { major: number; minor: number; patch: number };
  hwRev: number;
  bootCount: number;
  resetReason: string;
}): string {
  return `firmware ${v.firmware.major}.${v.firmware.minor}.${v.firmware.patch}, protocol ${v.protocol}.${v.minor}, hw rev ${v.hwRev}, boot ${v.bootCount} (${v.resetReason})`;
}
