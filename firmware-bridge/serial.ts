// The `open()` factory the bridge takes, for a real serial device (PROTOCOL.md §1:
// 115200 8N1, no flow control). A missing device rejects, and the bridge retries with
// backoff, which is how a USB replug is survived.
import type { Duplex } from 'node:stream';
import { SerialPort } from 'serialport';

export function openSerial(path: string, baudRate = 115200): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({
      path,
      baudRate,
      dataBits: 8,
      parity: 'none',
      stopBits: 1,
      rtscts: false,
      xon: false,
      xoff: false,
      autoOpen: false,
    });
    port.open((err) => (err ? reject(err) : resolve(port)));
  });
}
