// The Board contract (test/contract/board.contract.ts) run against the MCU board: the
// agent's McuBoard driving the repository's IO-board simulator (firmware-bridge/
// board-model.ts) through serialport's mock binding, as the sim and GPIO boards are.
import { boardContract } from '../contract/board.contract.js';
import { McuBoard } from '../../agent/adapters/mcu-board.js';
import { simulatedBoard } from '../../firmware-bridge/sim-port.js';
import { createLogger } from '../../agent/log.js';

const log = createLogger({ level: 'silent', pretty: false });

boardContract('mcu (IO-board simulator behind the mock serial binding)', () => {
  const sim = simulatedBoard();
  const board = new McuBoard({ open: sim.open, watchdogS: 10, log });
  return {
    board,
    setAmpFault: (active) => sim.model.ampFault(active ? 'overcurrent' : null),
    dispose: () => sim.model.stop(),
    writeErrorCode: 'BOARD_WRITE',
    ampFaultCode: 'overcurrent',
  };
});
