// The board as the host sees it, FirmwareBridge's mirror of it (bridge.ts): the desired state
// (watchdog, input, tuner, amp), the host's truth, re-applied after every (re)connect and
// every reset; what the board last confirmed (amp, input), so a command that would change
// nothing is not sent (a firmware that mutes on every SELECT_INPUT would clip audio); and
// what the host knows of the board (boot counter, uptime, last event SEQ, minor version,
// WATCHDOG_TRIPPED) that a keep-alive reply is judged against (reconcile.ts).
// The connection, the frames and the keep-alive are bridge.ts's and keep-alive.ts's.
import type { DesiredState } from './bridge-types.js';
import { encodeCommand, type AudioInput, type Command, type Replies } from './messages.js';
import { BoardErrorReply, type RequestQueue, type RetryContext } from './request-queue.js';

export interface BoardMirrorDeps {
  watchdogS: number;
  initial?: Partial<DesiredState>;
  requests: RequestQueue;
  retry: RetryContext;
  /** The bridge's request(): queued, retried, refused to a mismatched board. */
  request<C extends Command>(c: C): Promise<Replies[C['cmd']]>;
  ampRefused(e: BoardErrorReply): void;
  reapplied(s: DesiredState): void;
}

export class BoardMirror {
  readonly desired: DesiredState;
  /** Watchdog N sent with SET_WATCHDOG (part of the desired state). */
  readonly watchdogS: number;
  /** What the board last confirmed; undefined = unknown (after a connect or a reset). */
  confirmed: { amp?: boolean; input?: AudioInput } = {};
  /** Minor protocol version of the board (from its version block). */
  minor = 0;
  bootCount: number | undefined;
  uptimeS: number | undefined;
  lastEventSeq = 0;
  /** WATCHDOG_TRIPPED in the last keep-alive reply (rising edge = a new trip). */
  tripped = false;

  constructor(private readonly d: BoardMirrorDeps) {
    this.desired = { amp: false, input: 'ip', fmFreq: undefined, ...d.initial };
    this.watchdogS = d.watchdogS;
  }

  /** SET_AMP; switching off an amplifier the board confirmed off sends nothing. */
  async setAmp(on: boolean): Promise<boolean> {
    this.desired.amp = on;
    return this.sendAmp(on, () => (!on && this.confirmed.amp === false ? { on: false } : undefined));
  }

  /** SELECT_INPUT; the input the board confirmed is not selected again (§5.1: a no-op). */
  async selectInput(input: AudioInput): Promise<AudioInput> {
    this.desired.input = input;
    // Decided when the command's turn comes, after what is queued before it.
    try {
      const r = (
        await this.d.requests.send({ cmd: 'select-input', input }, this.d.retry, () =>
          this.confirmed.input === input ? { input } : undefined,
        )
      ).input;
      this.confirmed.input = r;
      return r;
    } catch (e) {
      this.confirmed.input = undefined; // unknown: the next select is sent
      throw e;
    }
  }

  /** FM_TUNE; the frequency joins the desired state (a reset re-tunes). */
  async fmTune(freq: number): Promise<Replies['fm-tune']> {
    encodeCommand({ cmd: 'fm-tune', freq }); // throws RangeError before the desired state changes
    this.desired.fmFreq = freq;
    return this.d.request({ cmd: 'fm-tune', freq });
  }

  async sendAmp(on: boolean, skip?: () => { on: boolean } | undefined): Promise<boolean> {
    try {
      const r = (await this.d.requests.send({ cmd: 'set-amp', on }, this.d.retry, skip)).on;
      this.confirmed.amp = r;
      return r;
    } catch (e) {
      // Refused (HW_FAULT): the board keeps it off. Anything else: unknown, so the next
      // SET_AMP 0 is sent, never skipped on a guess.
      this.confirmed.amp = e instanceof BoardErrorReply && e.error.code === 'hw_fault' ? false : undefined;
      throw e;
    }
  }

  /**
   * Write the desired state, amp last so the speaker never plays the wrong source (§5.2).
   * SET_AMP 0 goes first when the amp is wanted off or a fault is flagged (it clears a
   * fault latch whose cause went). A refused SET_AMP 1 (HW_FAULT) does not fail the rest:
   * it is reported as 'amp-refused' and tried again at the next keep-alive.
   */
  async reapply(ampFault = false): Promise<void> {
    const d = this.desired;
    await this.d.request({ cmd: 'set-watchdog', seconds: this.watchdogS });
    if (!d.amp || ampFault) await this.sendAmp(false);
    this.confirmed.input = (await this.d.request({ cmd: 'select-input', input: d.input })).input;
    if (d.fmFreq !== undefined) await this.d.request({ cmd: 'fm-tune', freq: d.fmFreq });
    let ampOn = false;
    if (d.amp) {
      try {
        ampOn = await this.sendAmp(true);
      } catch (e) {
        if (!(e instanceof BoardErrorReply) || e.error.code !== 'hw_fault') throw e;
        this.d.ampRefused(e);
      }
    }
    // What the board did with WATCHDOG_TRIPPED (§6.1): a 1.1 board clears it on any
    // SET_AMP, a 1.0 board only on SET_AMP 1 accepted. Left set, the flag is no new
    // trip at the next keep-alive (rising edge only): forgetting it made a 1.0 board
    // tripped while idle re-applied every keep-alive until the next play.
    if (this.minor >= 1 || ampOn) this.tripped = false;
    this.d.reapplied({ ...d, amp: ampOn });
  }
}
