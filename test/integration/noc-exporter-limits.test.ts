// `noc exporter` against a misbehaving world, with real parts: Mosquitto, the exporter
// as a child process under a 1,024 file-descriptor limit (prlimit, as a systemd unit
// without LimitNOFILE), and real sockets. One box reporting 20,000 distinct hw.fault
// components is ingested quickly and capped (the page stays small, the dropped counter
// counts it); 1,000 idle TCP connections do not starve the exporter of descriptors: a
// scrape is served within seconds. Waits are on conditions (a counter reached, a socket
// event), never fixed sleeps.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { mqtt } from '../../cli-kit/mqtt-lib.js';
import { DEFAULT_ROOT as ROOT, deviceTopic } from '../../contract/index.js';
import { freePort, startBroker, type TestBroker } from '../helpers/broker.js';
import { spawnNoc, type NocProcess } from './noc-cli.js';

const noPrlimit = spawnSync('prlimit', ['--version']).status === 0 ? undefined : 'prlimit (util-linux) not installed';
const procs: NocProcess[] = [];
let broker: TestBroker | undefined;
const sockets: Socket[] = [];
after(async () => {
  for (const s of sockets) s.destroy();
  for (const p of procs) p.proc.kill('SIGKILL');
  await broker?.close();
});

async function exporter(extra: string[] = []): Promise<string> {
  broker ??= await startBroker();
  const port = await freePort();
  const p = spawnNoc(
    ['exporter', '--broker', broker.url, '--listen', `127.0.0.1:${port}`, ...extra],
    {},
    { wrap: noPrlimit ? [] : ['prlimit', '--nofile=1024:1024', '--'] },
  );
  procs.push(p);
  await p.waitFor(/serving http/, 30_000);
  return `http://127.0.0.1:${port}/metrics`;
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(url: string): Promise<{ text: string; ms: number }> {
  const t0 = performance.now();
  const r = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  assert.equal(r.status, 200);
  const text = await r.text();
  return { text, ms: performance.now() - t0 };
}

/** Polls until `probe` returns a value (each probe waits on the previous one: no fixed sleep between). */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

test(
  'a rogue box with 20,000 distinct hw.fault components: ingested in seconds, capped, counted as dropped; scrapes stay fast and small',
  { timeout: 180_000 },
  async () => {
    const url = await exporter(); // the default bounds: 100 label sets per box
    const box = await mqtt.connectAsync(broker!.url, { clientId: 'rogue' });
    try {
      await box.publishAsync(
        deviceTopic(ROOT, 'rogue', 'status'),
        JSON.stringify({ online: true, bootId: 'r', epoch: 'r', groups: ['all'], heartbeatS: 30 }),
        { qos: 1 },
      );
      const N = 20_000;
      const t0 = performance.now();
      const scrapes: number[] = [];
      for (let sent = 0; sent < N;) {
        // In batches the broker's queue for the exporter (1,000 by default) never overflows.
        const batch: Promise<unknown>[] = [];
        for (const end = sent + 500; sent < end; sent++)
          batch.push(
            box.publishAsync(
              deviceTopic(ROOT, 'rogue', 'events'),
              JSON.stringify({ epoch: 'r', seq: sent + 1, type: 'hw.fault', component: `part-${sent}`, code: 'x' }),
              { qos: 1 },
            ),
          );
        await Promise.all(batch);
        await until(`${sent} events ingested`, 120_000, async () => {
          const s = await scrape(url);
          scrapes.push(s.ms);
          return (sample(s.text, 'loa_exporter_messages_total{leaf="events"}') ?? 0) >= sent ? true : undefined;
        });
      }
      const ingestMs = performance.now() - t0;
      const last = await scrape(url);
      const max = Math.max(...scrapes, last.ms);
      console.log(
        `rogue box: 20,000 events sent and ingested in ${(ingestMs / 1000).toFixed(1)} s; ${scrapes.length + 1} scrapes, slowest ${max.toFixed(0)} ms; page ${last.text.length} bytes`,
      );
      assert.ok(ingestMs < 90_000, `ingest took ${ingestMs} ms`);
      assert.ok(max < 5_000, `a scrape took ${max.toFixed(0)} ms`);
      assert.ok(last.text.length < 100_000, `page of ${last.text.length} bytes`);
      assert.equal(
        last.text.split('\n').filter((l) => l.startsWith('loa_box_hw_faults_total{device="rogue"')).length,
        100,
      );
      assert.equal(sample(last.text, 'loa_exporter_dropped_total{reason="box_series"}'), 2 * (N - 100));
    } finally {
      await box.endAsync();
    }
  },
);

test(
  '1,000 idle sockets on an exporter limited to 1,024 descriptors: a scrape is still served within seconds, and the idle ones are closed',
  { skip: noPrlimit ?? false, timeout: 120_000 },
  async () => {
    const url = await exporter();
    const { port } = new URL(url);
    let closed = 0;
    const settled = await Promise.all(
      Array.from({ length: 1000 }, () => {
        const s = connect(Number(port), '127.0.0.1');
        sockets.push(s);
        s.on('error', () => {});
        s.once('close', () => closed++);
        return new Promise<string>((r) => {
          s.once('connect', () => r('connected'));
          s.once('close', () => r('closed'));
        });
      }),
    );
    const connected = settled.filter((x) => x === 'connected').length;
    const t0 = performance.now();
    const r = await fetch(url, { signal: AbortSignal.timeout(30_000) }).catch((err: Error) => {
      throw new Error(
        `the scrape failed after ${(performance.now() - t0).toFixed(0)} ms: ${err.message} ${String((err.cause as Error | undefined)?.message ?? '')}`,
      );
    });
    const text = await r.text();
    const ms = performance.now() - t0;
    console.log(
      `1,000 idle sockets (${connected} connected): scrape served in ${ms.toFixed(0)} ms; ${closed} idle sockets closed by the exporter so far`,
    );
    assert.equal(r.status, 200);
    assert.match(text, /^loa_exporter_mqtt_connected 1$/m);
    assert.ok(ms < 5_000, `the scrape took ${ms.toFixed(0)} ms`);
    // Beyond --max-connections (64) the oldest idle ones are closed; the rest within the idle timeout.
    await until('the idle sockets closed', 60_000, async () => (closed >= 1000 - 64 ? true : undefined));
    await until('every idle socket closed', 60_000, async () => (closed === 1000 ? true : undefined));
  },
);
