// The page's listeners (agent/adapters/page-http.ts) on real sockets, with the host's
// interfaces given: "eth0" holds 127.0.0.1 and "wwan0" (the 4G bearer) 127.0.0.2. Only
// the configured interfaces' addresses are bound; an address that moved to another
// interface is refused at the request, before the next scan closes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { NetworkInterfaceInfo } from 'node:os';
import { pino } from 'pino';
import { PageHttp } from '../../agent/adapters/page-http.js';
import { freePort } from '../helpers/broker.js';

const v4 = (address: string): NetworkInterfaceInfo => ({
  address,
  netmask: '255.0.0.0',
  family: 'IPv4',
  mac: '00:00:00:00:00:00',
  internal: false,
  cidr: `${address}/8`,
});

function get(host: string, port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const r = request({ host, port, path: '/' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    r.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    r.end();
  });
}

test('served on the configured interface only; the 4G bearer is not; a moved address is refused', async () => {
  const port = await freePort();
  let ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = { eth0: [v4('127.0.0.1')], wwan0: [v4('127.0.0.2')] };
  const http = new PageHttp({
    port,
    interfaces: ['eth0', 'wlan0'],
    list: () => ifaces,
    rescanMs: 3_600_000,
    log: pino({ level: 'silent' }),
    handler: (_q, res) => void res.writeHead(200).end('ok'),
  });
  await http.start();
  try {
    assert.deepEqual(http.addresses(), ['127.0.0.1']);
    assert.equal(await get('127.0.0.1', port), 200);
    assert.equal(await get('127.0.0.2', port), 'ECONNREFUSED', 'nothing listens on the bearer');
    ifaces = { wwan0: [v4('127.0.0.1'), v4('127.0.0.2')] };
    assert.equal(await get('127.0.0.1', port), 403, "the address is now the bearer's");
  } finally {
    await http.stop();
  }
});
