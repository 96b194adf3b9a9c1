// A TCP proxy between one box and the broker whose broker → box direction can stall: what
// the broker sends meanwhile is held and then delivered at once, as a 4G link that stops
// for a while delivers it (TCP loses nothing; it arrives late). For the live-broadcast
// tests and bench: a stall longer than the session's latency makes its chunks late.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface StallProxy {
  url: string;
  /** Hold what the broker sends to the box for `ms`, then deliver it. */
  stall(ms: number): void;
  close(): Promise<void>;
}

export async function startStallProxy(brokerPort: number): Promise<StallProxy> {
  const pipes = new Set<{ down: Socket; up: Socket }>();
  let heldUntil = 0;
  const server: Server = createServer((down) => {
    const up = connect(brokerPort, '127.0.0.1');
    const p = { down, up };
    pipes.add(p);
    const queue: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      timer = undefined;
      const wait = heldUntil - Date.now();
      if (wait > 0) return void (timer = setTimeout(flush, wait));
      for (const b of queue.splice(0)) down.write(b);
    };
    up.on('data', (b: Buffer) => {
      queue.push(b);
      if (!timer) flush();
    });
    down.on('data', (b: Buffer) => up.write(b));
    const end = () => {
      clearTimeout(timer);
      pipes.delete(p);
      down.destroy();
      up.destroy();
    };
    up.on('close', end);
    down.on('close', end);
    up.on('error', end);
    down.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    stall(ms) {
      heldUntil = Math.max(heldUntil, Date.now() + ms);
    },
    async close() {
      for (const p of pipes) {
        p.down.destroy();
        p.up.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
