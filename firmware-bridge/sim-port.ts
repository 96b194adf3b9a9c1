// The board simulator in-process, behind serialport's mock binding: the bridge gets a
// real SerialPortStream (the class a real device gives it), whose writes reach the
// BoardModel and whose reads are the model's output. Used by the agent's `mcu` board
// when `hardware.mcu.path` is "sim", by tests and by the benchmark.
//
// Every open() creates a fresh mock port, so `unplug()` followed by the bridge's own
// reopen behaves like a USB replug; while unplugged, open() fails like a missing device.
import type { Duplex } from 'node:stream';
import { SerialPortMock } from 'serialport';
import { BoardModel, type BoardModelDeps } from './board-model.js';
import { systemTimers } from './timers.js';

export interface SimulatedBoard {
  readonly model: BoardModel;
  /** The bridge's `open()`. */
  open(): Promise<Duplex>;
  /** Pull the cable: the open port errors and closes; open() fails until plug(). */
  unplug(): void;
  plug(): void;
  stop(): void;
}

/** The part of @serialport/binding-mock's MockPortBinding used here (its types do not resolve under ESM). */
interface MockPortBinding {
  isOpen: boolean;
  emitData(data: Buffer): void;
  write(buffer: Buffer): Promise<void>;
}

let ports = 0;

export function simulatedBoard(opts: Partial<Omit<BoardModelDeps, 'send'>> = {}): SimulatedBoard {
  let binding: MockPortBinding | undefined;
  let current: SerialPortMock | undefined;
  let plugged = true;
  const model = new BoardModel({
    timers: opts.timers ?? systemTimers(),
    ...opts,
    send: (b) => {
      if (binding?.isOpen) binding.emitData(Buffer.from(b));
    },
  });
  model.start();
  return {
    model,
    open() {
      if (!plugged)
        return Promise.reject(
          new Error('Error: No such file or directory, cannot open /dev/loa-io (simulated unplug)'),
        );
      const path = `/dev/loa-sim-${process.pid}-${++ports}`;
      SerialPortMock.binding.createPort(path, { echo: false, record: false });
      return new Promise((resolve, reject) => {
        const port = new SerialPortMock({ path, baudRate: 115200, autoOpen: false });
        port.open((err) => {
          if (err) return reject(err);
          const b = port.port as unknown as MockPortBinding;
          // Bytes the host writes go to the board as they leave the port.
          const write = b.write.bind(b);
          b.write = async (buf: Buffer) => {
            await write(buf);
            model.receive(Buffer.from(buf));
          };
          binding = b;
          current = port;
          resolve(port);
        });
      });
    },
    unplug() {
      plugged = false;
      const p = current;
      binding = current = undefined;
      if (p?.isOpen) {
        p.emit('error', new Error('simulated unplug'));
        p.close(() => undefined);
      }
    },
    plug() {
      plugged = true;
    },
    stop() {
      model.stop();
      if (current?.isOpen) current.close(() => undefined);
      binding = current = undefined;
    },
  };
}
