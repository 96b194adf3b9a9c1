// The stand-ins for hardware (the IO board simulator and the serial wire, socat's pty
// pair) run ahead of the test load. A microcontroller answers a PING in milliseconds and
// a UART moves bytes whatever the host runs; a node process on a 2-core machine shared by
// ten test files was once delayed past the protocol's 200 ms PING timeout
// (firmware-pty.test.ts, stop 39). The agent and the bridge under test keep their normal
// priority: the load still falls on them. Root only (CI); elsewhere nothing changes.
// test/helpers/fake-aplay.mjs, the fake sound card, does the same for itself.
import { setPriority } from 'node:os';

export const HARDWARE_NICE = -15;

export function likeHardware(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    setPriority(pid, HARDWARE_NICE);
  } catch {
    // not root: unchanged
  }
}
