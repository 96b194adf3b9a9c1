// The board model as its own process on a serial device (one end of a socat pty pair):
//   node --import tsx firmware-bridge/sim-cli.ts /tmp/x/board [--boot-count N] [--minor 0|1|2] [--protocol N] [--amp-fault-latch]
// Faults are scripted one per stdin line; every event the board sends and every fault
// applied is printed as one line on stderr, so a test can wait for it.
//   reset | silence on|off | slow <ms> | garbage <n> | door open|closed
//   mains lost|present | line ok|open|short | fm loss|ok | state | quit
//   amp-fault overcurrent|overtemperature|dc_offset|other|clear | battery low|ok
//   tuner fail|ok | relay fault|ok | lose-boot [n] (BOOT frames of the next n resets lost)
//   reset-quiet (a reset whose BOOT frames are all lost) | duplicate on|off (replies twice)
//   drift-tuner | drift-watchdog <N> (state changes with no command and no event)
//   trip (the watchdog trips now) | count [cmd] (commands executed so far, e.g. count set-amp)
//   log [n] (the commands executed from the n-th on, in order, as JSON)
//   1.2 (proof of sound): input ip|fm|line <dBFS>|silent (the signal on an input; silent
//   is dead air) | output ok|dead|no-current (the amplifier's output stage) | output weak <dB>
//   (the output stage works, that many dB below its gain)

import { createInterface } from 'node:readline';
import { SerialPort } from 'serialport';
import { BoardModel } from './board-model.js';
import { SILENCE_DBFS } from './board-answers.js';
import { systemTimers } from './timers.js';

const path = process.argv[2];
if (!path) {
  process.stderr.write(
    'usage: sim-cli.ts <serial device> [--boot-count N] [--minor 0|1|2] [--protocol N] [--amp-fault-latch]\n',
  );
  process.exit(2);
}
const bc = process.argv.indexOf('--boot-count');
const bootCount = bc > 0 ? Number(process.argv[bc + 1]) : 0;
const mi = process.argv.indexOf('--minor');
const minor = mi > 0 ? Number(process.argv[mi + 1]) : undefined;
const ampFaultLatch = process.argv.includes('--amp-fault-latch');
const pv = process.argv.indexOf('--protocol');
const protocol = pv > 0 ? Number(process.argv[pv + 1]) : undefined;
const say = (s: string): void => void process.stderr.write(`${s}\n`);

const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
const board = new BoardModel({
  timers: systemTimers(),
  bootCount,
  ...(minor !== undefined ? { minor } : {}),
  ...(protocol !== undefined ? { protocol } : {}),
  ampFaultLatch,
  send: (b) => port.write(b),
  onEvent: (e) => say(`event ${JSON.stringify(e)}`),
});

function apply(line: string): string {
  const [cmd, arg] = line.trim().split(/\s+/);
  switch (cmd) {
    case 'reset':
      board.reset('software');
      return 'ok reset';
    case 'lose-boot':
      board.loseBoot(Number(arg ?? 1));
      return `ok lose-boot ${Number(arg ?? 1)}`;
    case 'reset-quiet':
      board.loseBoot(1);
      board.reset('brown-out');
      return 'ok reset-quiet';
    case 'duplicate':
      board.duplicateReplies(arg === 'on');
      return `ok duplicate ${arg === 'on' ? 'on' : 'off'}`;
    case 'silence':
      board.silence(arg === 'on');
      return `ok silence ${arg === 'on' ? 'on' : 'off'}`;
    case 'slow':
      board.slow(Number(arg ?? 0));
      return `ok slow ${Number(arg ?? 0)}`;
    case 'garbage':
      board.garbage(Number(arg ?? 16));
      return `ok garbage ${Number(arg ?? 16)}`;
    case 'door':
      board.door(arg === 'open');
      return `ok door ${arg}`;
    case 'mains':
      board.mains(arg === 'lost');
      return `ok mains ${arg}`;
    case 'line':
      if (arg !== 'ok' && arg !== 'open' && arg !== 'short') return 'error line ok|open|short';
      board.line(arg);
      return `ok line ${arg}`;
    case 'fm':
      board.fmSignal(arg === 'loss' || arg === 'lost');
      return `ok fm ${arg}`;
    case 'amp-fault':
      if (arg === 'clear') board.ampFault(null);
      else if (arg === 'overcurrent' || arg === 'overtemperature' || arg === 'dc_offset' || arg === 'other')
        board.ampFault(arg);
      else return 'error amp-fault overcurrent|overtemperature|dc_offset|other|clear';
      return `ok amp-fault ${arg}`;
    case 'battery':
      board.battery(arg === 'low');
      return `ok battery ${arg}`;
    case 'tuner':
      board.tuner(arg === 'fail');
      return `ok tuner ${arg}`;
    case 'relay':
      board.relay(arg === 'fault');
      return `ok relay ${arg}`;
    case 'input': {
      const level = line.trim().split(/\s+/)[2];
      const dbfs = level === 'silent' ? SILENCE_DBFS : Number(level);
      if ((arg !== 'ip' && arg !== 'fm' && arg !== 'line') || !Number.isFinite(dbfs) || dbfs > 0)
        return 'error input ip|fm|line <dBFS, 0 or below>|silent';
      board.levels.inputLevel(arg, dbfs);
      return `ok input ${arg} ${dbfs}`;
    }
    case 'output': {
      if (arg === 'weak') {
        const db = Number(line.trim().split(/\s+/)[2]);
        if (!Number.isFinite(db) || db <= 0 || db > 80) return 'error output weak <dB below its gain, 0 to 80>';
        board.levels.outputWeak(db);
        return `ok output weak ${db}`;
      }
      if (arg !== 'ok' && arg !== 'dead' && arg !== 'no-current') return 'error output ok|dead|no-current|weak <dB>';
      board.levels.outputStage(arg);
      return `ok output ${arg}`;
    }
    case 'state':
      return `state ${JSON.stringify(board.state())}`;
    case 'drift-tuner':
      board.drift('tuner-off');
      return 'ok drift-tuner';
    case 'drift-watchdog':
      board.drift({ watchdogS: Number(arg ?? 30) });
      return `ok drift-watchdog ${Number(arg ?? 30)}`;
    case 'trip':
      board.tripWatchdog();
      return 'ok trip';
    case 'count':
      // Commands executed since the simulator started, of one kind (or all): `count set-amp`.
      return `count ${board.log.filter((c) => arg === undefined || c.cmd === arg).length}`;
    case 'log':
      // The commands executed, in order, from the n-th on (default all), as one JSON line.
      return `log ${JSON.stringify(board.log.slice(Number(arg ?? 0)))}`;
    case 'quit':
      shutdown();
      return 'ok quit';
    case undefined:
    case '':
      return '';
    default:
      return `error unknown command ${cmd}`;
  }
}

function shutdown(): void {
  board.stop();
  port.close(() => process.exit(0));
}

port.open((err) => {
  if (err) {
    say(`error open ${err.message}`);
    process.exit(1);
  }
  port.on('data', (b: Buffer) => board.receive(b));
  port.on('error', (e) => say(`error port ${e.message}`));
  board.start();
  say(`ready ${path}`);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (l) => {
    const out = apply(l);
    if (out) say(out);
  });
  rl.on('close', shutdown);
});
process.on('SIGTERM', shutdown);
