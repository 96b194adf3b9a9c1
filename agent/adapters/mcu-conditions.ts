// The `mcu` board's hardware conditions (PROTOCOL.md §8): board events (edges) and status
// flags (levels, read after every connect and after a lost event) become HwCondition
// edges, each reported once per change and replayed to a listener that comes late; the
// agent's FaultTracker debounces them into hw.fault / hw.recovered. McuBoard
// (mcu-board.ts) keeps the outputs, the tuner and the bridge, and raises its own
// conditions (no answer, reset, protocol version, hw_fault) through set().
import type { BoardEvent, Status } from '../../firmware-bridge/messages.js';
import type { HwCondition } from './board.js';

/** Level codes the status flags carry, for reconciling after a connect or a lost event. */
const LEVELS: readonly {
  flag: keyof Status['flags'];
  component: HwCondition['component'];
  code: string;
  on: string;
  off: string;
}[] = [
  { flag: 'doorOpen', component: 'door', code: 'door_open', on: 'cabinet door open', off: 'cabinet door closed' },
  {
    flag: 'mainsLost',
    component: 'mains',
    code: 'mains_lost',
    on: 'mains power lost, on battery',
    off: 'mains power restored',
  },
  { flag: 'batteryLow', component: 'mains', code: 'battery_low', on: 'battery low', off: 'battery ok' },
  { flag: 'lineOpen', component: 'line', code: 'line_open', on: 'speaker line open', off: 'speaker line ok' },
  { flag: 'lineShort', component: 'line', code: 'line_short', on: 'speaker line shorted', off: 'speaker line ok' },
  { flag: 'fmNoSignal', component: 'fm', code: 'no_signal', on: 'FM signal lost', off: 'FM signal ok' },
];
const AMP_CODES = ['overcurrent', 'overtemperature', 'dc_offset', 'amp_fault'] as const;

export class McuConditions {
  private readonly listeners = new Set<(c: HwCondition) => void>();
  /** Last value of each condition we reported, so a level read twice is one edge. */
  private readonly levels = new Map<string, HwCondition>();
  private refusedByFault = false;

  set(component: HwCondition['component'], code: string, active: boolean, message: string): void {
    const key = `${component}/${code}`;
    if ((this.levels.get(key)?.active ?? false) === active) return;
    const c: HwCondition = { component, code, active, message };
    this.levels.set(key, c);
    for (const l of [...this.listeners]) l(c);
  }

  onHw(listener: (c: HwCondition) => void): () => void {
    this.listeners.add(listener);
    // Conditions raised before anyone listened (init() runs before the agent's outbox
    // exists: a missing device, a mismatched board) are replayed to a new listener.
    for (const c of this.levels.values()) if (c.active) listener(c);
    return () => this.listeners.delete(listener);
  }

  /**
   * SET_AMP 1 refused. With an amplifier fault flagged, `hw_fault` recovers when that fault
   * clears; otherwise (relay feedback) at the next switch-on that works.
   */
  refused(): void {
    this.refusedByFault = this.ampFaultActive();
    this.set(
      'amp',
      'hw_fault',
      true,
      this.refusedByFault
        ? 'IO board refused to switch the amplifier on: amplifier fault latched'
        : 'IO board refused to switch the amplifier on: relay feedback wrong',
    );
  }

  ampFaultActive(): boolean {
    return AMP_CODES.some((c) => this.levels.get(`amp/${c}`)?.active);
  }

  ampFaultCleared(message: string): void {
    for (const c of AMP_CODES) this.set('amp', c, false, message);
    if (this.refusedByFault) this.set('amp', 'hw_fault', false, `${message}; the amplifier may be switched on again`);
  }

  /** The conditions a board event carries (an edge each); the board's own state is McuBoard's. */
  event(e: BoardEvent): void {
    switch (e.event) {
      case 'door':
        return this.set('door', 'door_open', e.open, e.open ? 'cabinet door open' : 'cabinet door closed');
      case 'mains':
        return this.set(
          'mains',
          'mains_lost',
          e.lost,
          e.lost ? `mains power lost, on battery (${e.batteryMv} mV)` : `mains power restored (${e.batteryMv} mV)`,
        );
      case 'battery':
        return this.set(
          'mains',
          'battery_low',
          e.low,
          e.low ? `battery low (${e.batteryMv} mV)` : `battery ok (${e.batteryMv} mV)`,
        );
      case 'line':
        return this.line(e.state, e.impedance === 0xffff ? 'open circuit' : `${e.impedance} Ω`);
      case 'amp-fault': {
        const code = e.cause === 'none' || e.cause === 'other' ? 'amp_fault' : e.cause;
        const detail = `${e.currentMa} mA, ${e.temperatureC} °C`;
        if (e.fault) this.set('amp', code, true, `amplifier fault: ${e.cause} (${detail}); amplifier off`);
        else this.ampFaultCleared(`amplifier fault cleared (${detail})`);
        return;
      }
      case 'watchdog':
        return this.set(
          'amp',
          'watchdog',
          true,
          `IO board watchdog (${e.seconds} s without the host) switched the amplifier off`,
        );
      case 'fm-signal':
        return this.set(
          'fm',
          'no_signal',
          e.lost,
          e.lost ? `FM signal lost (RSSI ${e.rssi} dBµV)` : `FM signal ok (RSSI ${e.rssi} dBµV)`,
        );
      case 'boot':
        return; // the bridge turns a new boot counter into 'reset'
      case 'levels':
        return; // measurements, not conditions: McuBoard's `sound` (protocol 1.2)
    }
  }

  /** Status flags are levels (PROTOCOL.md §4): report any that differ from what we believe. */
  fromStatus(s: Status): void {
    const lineState = s.flags.lineShort ? 'short' : s.flags.lineOpen ? 'open' : 'ok';
    for (const l of LEVELS)
      if (l.component !== 'line') this.set(l.component, l.code, s.flags[l.flag], s.flags[l.flag] ? l.on : l.off);
    this.line(lineState, 'from the status flags');
    if (!s.flags.ampFault) this.ampFaultCleared('amplifier fault cleared');
    else if (!this.ampFaultActive())
      this.set('amp', 'amp_fault', true, `amplifier fault latched (${s.ampCurrentMa} mA, ${s.temperatureC} °C)`);
  }

  /**
   * The speaker line is in one state: the new one is raised before the old one clears, so
   * there is no instant without the fault, and an open line that became a short is "no
   * longer open", never "ok".
   */
  private line(state: 'ok' | 'open' | 'short', imp: string): void {
    const now =
      state === 'open'
        ? `speaker line open (${imp})`
        : state === 'short'
          ? `speaker line shorted (${imp})`
          : `speaker line ok (${imp})`;
    if (state !== 'ok') this.set('line', `line_${state}`, true, now);
    for (const other of ['open', 'short'] as const) {
      if (other === state) continue;
      this.set(
        'line',
        `line_${other}`,
        false,
        state === 'ok'
          ? now
          : `speaker line no longer ${other === 'open' ? 'open' : 'shorted'}: now ${state === 'open' ? 'open' : 'shorted'} (${imp})`,
      );
    }
  }
}
