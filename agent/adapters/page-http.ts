// The page's HTTP listeners (runtime/page.ts), on the configured network interfaces only:
// one server per address of each named interface (Ethernet, the service Wi-Fi), never a
// wildcard bind, so the 4G bearer (wwan0, ppp0) is not reached unless configuration names
// it. Interfaces come and go (a Wi-Fi access point brought up on site, a DHCP lease that
// changes): they are scanned again every 30 s. Each request's local address is checked
// again against the allowed ones (an address that moved to another interface is refused).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { Logger } from '../log.js';

export interface PageHttpOptions {
  port: number;
  interfaces: readonly string[];
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  log: Logger;
  /** The host's interfaces (a test gives its own). */
  list?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  rescanMs?: number;
}

const plain = (a: string) => a.replace(/^::ffff:/, '');

export class PageHttp {
  private readonly servers = new Map<string, Server>();
  private readonly failed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: PageHttpOptions) {}

  /** The addresses the allowed interfaces have now (IPv4, and IPv6 other than link-local). */
  wanted(): string[] {
    const all = (this.o.list ?? networkInterfaces)();
    return this.o.interfaces.flatMap((name) =>
      (all[name] ?? []).filter((a) => !(a.family === 'IPv6' && a.scopeid)).map((a) => a.address),
    );
  }

  /** Where it listens now. */
  addresses(): string[] {
    return [...this.servers.keys()];
  }

  async start(): Promise<void> {
    await this.scan();
    this.timer = setInterval(() => void this.scan(), this.o.rescanMs ?? 30_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const all = [...this.servers.values()];
    this.servers.clear();
    await Promise.all(all.map((s) => new Promise((r) => (s.closeAllConnections(), s.close(r)))));
  }

  private async scan(): Promise<void> {
    const want = new Set(this.wanted());
    for (const [addr, s] of this.servers)
      if (!want.has(addr)) {
        this.servers.delete(addr);
        s.closeAllConnections();
        s.close();
        this.o.log.info({ addr }, 'page: address gone, no longer served');
      }
    for (const addr of want) if (!this.servers.has(addr)) await this.listen(addr);
  }

  private listen(addr: string): Promise<void> {
    const s = createServer((req, res) => {
      const local = plain(req.socket.localAddress ?? '');
      if (!this.wanted().includes(local)) {
        this.o.log.warn({ code: 'PAGE_REFUSED', local }, 'page: a request on an interface not configured');
        res.writeHead(403, { 'content-type': 'text/plain' }).end('not served on this interface');
        return;
      }
      this.o.handler(req, res);
    });
    s.headersTimeout = 10_000;
    s.requestTimeout = 30_000;
    return new Promise((resolve) => {
      s.once('error', (err: NodeJS.ErrnoException) => {
        if (!this.failed.has(addr))
          this.o.log.error({ code: 'PAGE_LISTEN', addr, port: this.o.port, err }, 'page: cannot listen');
        this.failed.add(addr);
        resolve();
      });
      s.listen(this.o.port, addr, () => {
        this.failed.delete(addr);
        this.servers.set(addr, s);
        this.o.log.info({ addr, port: this.o.port }, 'page: served');
        resolve();
      });
    });
  }
}
