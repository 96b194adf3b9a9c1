// What every Board must do, whatever drives the relays: the playback coordinator, the
// hardware fault tracker and the agent's start and stop rely on exactly this (STYLE habit
// 9). Run against the simulated board (test/unit/sim-board.test.ts) and the GPIO board on
// the fake libgpiod tools (test/integration/gpio-board.test.ts), and the MCU board on the
// IO-board simulator (test/unit/mcu-board-contract.test.ts).
//
// Timings are generous: CI is a shared, noisy 2-core machine.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AudioInput, Board, HwCondition } from '../../agent/adapters/board.js';

export interface BoardRig {
  /** Not initialised yet. */
  board: Board;
  /** Drive the amplifier-fault input (as the amplifier would), or omit where the board has none. */
  setAmpFault?: (active: boolean) => void;
  /** Release what the rig made besides the board (it is closed by the test). */
  dispose?: () => Promise<void> | void;
  /** The error code of a refused write (default GPIO_WRITE; a board behind a serial line says BOARD_WRITE). */
  writeErrorCode?: string;
  /** The condition code of the amplifier fault the rig raises (default amp_fault; the IO board names its cause). */
  ampFaultCode?: string;
}

const SAFE = { amp: false, input: 'ip', ampFault: false };

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const refusedWrite = (r: BoardRig) => (e: unknown) =>
  (e as { code?: string }).code === (r.writeErrorCode ?? 'GPIO_WRITE');

export function boardContract(name: string, make: () => Promise<BoardRig> | BoardRig): void {
  describe(`Board contract: ${name}`, () => {
    const withRig = (title: string, body: (r: BoardRig) => Promise<void>): void => {
      test(title, async () => {
        const r = await make();
        try {
          await body(r);
        } finally {
          await r.board.close();
          await r.dispose?.();
        }
      });
    };

    withRig(
      'nothing moves before init(): writes are refused (GPIO_WRITE, or BOARD_WRITE behind a serial line)',
      async (r) => {
        await assert.rejects(r.board.setAmp(true), refusedWrite(r));
        await assert.rejects(r.board.selectInput('fm'), refusedWrite(r));
      },
    );

    withRig(
      'proof of sound: only a board that measures says it does (a GPIO or sim board never pretends)',
      async (r) => {
        await r.board.init();
        // The IO board simulator speaks protocol 1.2 (LEVELS); relays on GPIO lines measure nothing.
        if (r.board.kind === 'mcu') assert.equal(r.board.sound?.measures(), true);
        else assert.equal(r.board.sound?.measures() ?? false, false);
      },
    );

    withRig('init() puts the safe state (amplifier off, input ip) and is idempotent', async (r) => {
      await r.board.init();
      assert.deepEqual(r.board.state(), SAFE);
      await r.board.init();
      assert.deepEqual(r.board.state(), SAFE);
    });

    withRig(
      'the amplifier and every input follow the calls, in call order; repeating a call is harmless',
      async (r) => {
        await r.board.init();
        const inputs: AudioInput[] = ['fm', 'line', 'ip', 'line'];
        for (const input of inputs) {
          await r.board.selectInput(input);
          assert.equal(r.board.state().input, input);
        }
        await r.board.setAmp(true);
        await r.board.setAmp(true);
        assert.deepEqual(r.board.state(), { amp: true, input: 'line', ampFault: false });
        // Not awaited one by one: the board runs them in order all the same.
        await Promise.all([r.board.selectInput('fm'), r.board.setAmp(false), r.board.selectInput('ip')]);
        assert.deepEqual(r.board.state(), SAFE);
      },
    );

    withRig('close() leaves the safe state, is idempotent, and the board refuses writes after it', async (r) => {
      await r.board.init();
      await r.board.selectInput('fm');
      await r.board.setAmp(true);
      await r.board.close();
      assert.equal(r.board.state().amp, false);
      await r.board.close();
      await assert.rejects(r.board.setAmp(true), refusedWrite(r));
    });

    test(`${name}: the amplifier-fault input is an amp condition, active then cleared; unsubscribing stops it`, async (t) => {
      const r = await make();
      if (!r.setAmpFault) {
        t.skip('this board has no amplifier-fault input');
        await r.board.close();
        return;
      }
      try {
        const heard: HwCondition[] = [];
        const off = r.board.onHw((c) => heard.push(c));
        await r.board.init();
        r.setAmpFault(true);
        await until(() => heard.length === 1, 5000, 'the fault');
        assert.deepEqual(
          [heard[0]!.component, heard[0]!.code, heard[0]!.active],
          ['amp', r.ampFaultCode ?? 'amp_fault', true],
        );
        assert.equal(typeof heard[0]!.message, 'string');
        assert.equal(r.board.state().ampFault, true);
        r.setAmpFault(false);
        await until(() => heard.length === 2, 5000, 'the fault to clear');
        assert.equal(heard[1]!.active, false);
        assert.equal(r.board.state().ampFault, false);
        off();
        r.setAmpFault(true);
        await until(() => r.board.state().ampFault, 5000, 'the fault again');
        assert.equal(heard.length, 2, 'an unsubscribed listener hears nothing');
      } finally {
        await r.board.close();
        await r.dispose?.();
      }
    });
  });
}
