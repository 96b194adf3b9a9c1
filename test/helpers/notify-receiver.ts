// A stand-in for systemd's notification socket: a real AF_UNIX datagram socket, which
// Node cannot open, so a python3 process binds it and prints each datagram as one JSON
// line. Like systemd, it closes the file descriptors a message carries, which is what
// releases systemd-notify's barrier (BARRIER=1 with a pipe); socat keeps them open and
// makes every systemd-notify wait its full 5 s barrier timeout.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const RECEIVER = `
import array, json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
sys.stdout.write("LISTENING\\n"); sys.stdout.flush()
isz = array.array("i").itemsize
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(64 * isz) + socket.CMSG_SPACE(3 * isz))
    pid = None
    for level, typ, d in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds = array.array("i"); fds.frombytes(d[:len(d) - len(d) % isz])
            for fd in fds: os.close(fd)
        elif level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", d[:3 * isz])[0]
    sys.stdout.write(json.dumps({"data": data.decode("utf-8", "replace"), "pid": pid}) + "\\n"); sys.stdout.flush()
`;

export interface Datagram {
  /** The message, e.g. "READY=1\nSTATUS=starting\nMAINPID=123". */
  data: string;
  /** The sender's PID from SCM_CREDENTIALS. */
  pid: number | null;
  /** Arrival, performance.now(). */
  at: number;
  /** The assignments, one per line. */
  lines: string[];
}

export interface NotifyReceiver {
  /** NOTIFY_SOCKET for the notifier. */
  readonly path: string;
  /** Every datagram so far except systemd-notify's BARRIER=1. */
  readonly messages: Datagram[];
  /** The first message at index >= from that matches; rejects after timeoutMs. */
  waitFor(match: (m: Datagram) => boolean, timeoutMs: number, from?: number): Promise<Datagram>;
  close(): Promise<void>;
}

/** Why the receiver cannot run here, or null. */
export function notifyReceiverUnavailable(): string | null {
  const py = spawnSync('python3', ['-c', 'import socket; socket.SO_PASSCRED'], { stdio: 'ignore' });
  if (py.status !== 0) return 'python3 not found (apt-get install python3): it plays the systemd notification socket';
  const sn = spawnSync('systemd-notify', ['--help'], { stdio: 'ignore' });
  if (sn.status !== 0) return 'systemd-notify not found (apt-get install systemd)';
  return null;
}

export async function startNotifyReceiver(dir: string): Promise<NotifyReceiver> {
  const path = join(dir, 'notify.sock');
  const proc: ChildProcess = spawn('python3', ['-u', '-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: Datagram[] = [];
  const listeners = new Set<() => void>();
  let listening!: () => void;
  const ready = new Promise<void>((r) => (listening = r));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    if (line === 'LISTENING') return listening();
    const { data, pid } = JSON.parse(line) as { data: string; pid: number | null };
    if (data === 'BARRIER=1') return;
    messages.push({ data, pid, at: performance.now(), lines: data.split('\n') });
    for (const l of listeners) l();
  });
  await Promise.race([
    ready,
    exited.then(() => Promise.reject(new Error('notify receiver (python3) exited before listening'))),
  ]);
  return {
    path,
    messages,
    waitFor(match, timeoutMs, from = 0) {
      return new Promise((resolve, reject) => {
        const look = () => {
          const hit = messages.slice(from).find(match);
          if (!hit) return false;
          listeners.delete(look);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          listeners.delete(look);
          reject(
            new Error(
              `no matching notification within ${timeoutMs} ms; got ${JSON.stringify(messages.slice(from).map((m) => m.data))}`,
            ),
          );
        }, timeoutMs);
        if (!look()) listeners.add(look);
      });
    },
    async close() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill();
      await exited;
    },
  };
}
