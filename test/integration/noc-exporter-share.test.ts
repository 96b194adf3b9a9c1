// Two `noc exporter --share g` instances and one unshared, on a real Mosquitto, with
// `noc simulate` boxes playing: each shared instance has every box's gauges (status and
// heartbeats are never shared), the event counters are split between them, and their
// sum is what the unshared instance counted (docs/noc.md §6.1).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startBroker, type TestBroker } from '../helpers/broker.js';
import { until } from '../helpers/wait.js';
import { spawnNoc, type NocProcess } from './noc-cli.js';

const procs: NocProcess[] = [];
let broker: TestBroker | undefined;
after(async () => {
  for (const p of procs) p.proc.kill('SIGKILL');
  await broker?.close();
});

/** Sum of the samples of one metric family, by the label set after the name. */
function family(text: string, name: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(name.length, i), Number(line.slice(i + 1)));
  }
  return m;
}

test(
  '--share: every instance has every box, the event counters are split and add up',
  { timeout: 120_000 },
  async (t) => {
    broker = await startBroker();
    // Without mosquitto startBroker falls back to aedes (and fails under CI=true).
    if (!broker.supportsV5)
      return t.skip(
        'mosquitto not installed: the aedes fallback has no shared subscriptions (apt-get install mosquitto; under CI=true a missing mosquitto is a failure, not a skip)',
      );
    const ports = [await freePort(), await freePort(), await freePort()];
    const exporters = ports.map((port, i) => {
      const p = spawnNoc([
        'exporter',
        '--broker',
        broker!.url,
        '--listen',
        `127.0.0.1:${port}`,
        ...(i < 2 ? ['--share', 'g'] : []),
      ]);
      procs.push(p);
      return p;
    });
    await Promise.all(exporters.map((e) => e.waitFor(/serving http/, 30_000)));
    const sim = spawnNoc([
      'simulate',
      '--broker',
      broker.url,
      '--boxes',
      '4',
      '--heartbeat',
      '1',
      '--play-every',
      '0.3',
    ]);
    procs.push(sim);
    await sim.waitFor(/ready: 4 of 4/, 30_000);
    const scrape = () =>
      Promise.all(ports.map(async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()));
    // Every play.* event: started, then finished or interrupted (the clean stop interrupts what plays).
    const plays = (page: string) => [...family(page, 'loa_box_plays_total').values()].reduce((s, n) => s + n, 0);
    // The boxes play until the unshared instance has counted 8 events and each shared one some.
    await until(
      async () => {
        const [a, b, all] = await scrape();
        return plays(all!) >= 8 && plays(a!) > 0 && plays(b!) > 0;
      },
      60_000,
      'plays counted by all three instances',
      100,
    );
    assert.equal(await sim.stop(), 0); // clean deaths: what plays is interrupted, then nothing more
    // A box's last events come before its offline status: every instance shows 4 boxes offline once it has them all.
    const pages = await until(
      async () => {
        const got = await scrape();
        const offline = (page: string) => [...family(page, 'loa_box_online').values()].every((v) => v === 0);
        return got.every((page) => family(page, 'loa_box_online').size === 4 && offline(page)) && got;
      },
      30_000,
      'the 4 boxes offline on every instance',
      100,
    );
    const [a, b, all] = pages as [string, string, string];
    for (const page of pages) assert.equal(family(page, 'loa_box_online').size, 4, 'every instance knows every box');
    assert.ok(plays(all) >= 8, `plays happened (${plays(all)} events)`);
    assert.ok(plays(a) > 0 && plays(b) > 0, `both shared instances got events (${plays(a)} + ${plays(b)})`);
    assert.equal(plays(a) + plays(b), plays(all), 'the shared instances split the events, none lost or doubled');
  },
);
