// The NOC on Prometheus, end to end with real parts: Mosquitto, `noc simulate` boxes,
// `noc exporter`, and Debian's Prometheus scraping it every second with the alert rules
// of noc/prometheus/loa-alerts.yml (every `for:` shortened to 2 s in a temporary copy).
// A box killed with SIGKILL dies by its last will and becomes a firing LoaBoxOffline
// alert naming its commune; born again, the alert goes away. Every query of the Grafana
// dashboard is then run against this Prometheus and must parse and return data. The
// simulated boxes' boards measure their output (contract v1.2 §9): a level, no silence;
// an emergency that sounded on no path, published by hand, fires LoaEmergencyNoOutput.
// Skips with the reason where prometheus is missing; under CI=true that fails instead.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startBroker, type TestBroker } from '../helpers/broker.js';
import { prometheusMissing, startPrometheus, type PromAlert, type TestPrometheus } from '../helpers/prometheus.js';
import { REPO_ROOT } from '../helpers/agent-process.js';
import { tempDir } from '../helpers/tmp.js';
import { runNoc, spawnNoc, type NocProcess } from './noc-cli.js';
import { dashboardQueries } from '../helpers/dashboard.js';
import { untilDefined } from '../helpers/wait.js';
import { mqtt } from '../../cli-kit/mqtt-lib.js';
import { DEFAULT_ROOT as ROOT, deviceTopic } from '../../contract/index.js';

const missing = prometheusMissing();
if (missing && process.env.CI === 'true') throw new Error(`${missing}: CI must run the Prometheus test`);

const procs: NocProcess[] = [];
let broker: TestBroker | undefined;
let prom: TestPrometheus | undefined;
after(async () => {
  await prom?.stop();
  for (const p of procs) p.proc.kill('SIGKILL');
  await broker?.close();
});

/** Polls `probe` every 500 ms (a probe that throws is not there yet); the timeout names its last error. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  let last: unknown;
  const tryProbe = () =>
    probe().catch((err: unknown) => {
      last = err;
      return undefined;
    });
  return untilDefined(tryProbe, ms, what, 500).catch((err: Error) => {
    throw new Error(`${err.message}${last ? `: ${String(last)}` : ''}`);
  });
}

test(
  'a box killed with its last will fires LoaBoxOffline and, sent an emergency, LoaEmergencyNotPlayed; born again, both are gone',
  { skip: missing ?? false, timeout: 240_000 },
  async () => {
    broker = await startBroker();
    const port = await freePort();
    const keys = tempDir('keys');
    const k = await runNoc(['keys', '--kid', 'centre', '--out', keys]);
    assert.equal(k.code, 0, k.stderr);
    const { kid, publicKey } = JSON.parse(k.stdout) as { kid: string; publicKey: string };
    const trust = `${kid}=${publicKey}`;
    const sim = (prefix: string, n: number) => {
      const p = spawnNoc([
        'simulate',
        '--broker',
        broker!.url,
        '--boxes',
        String(n),
        '--prefix',
        prefix,
        '--heartbeat',
        '1',
        '--play-every',
        '5',
        '--groups',
        'all,c26734',
        '--trust',
        trust,
      ]);
      procs.push(p);
      return p;
    };
    const steady = sim('steady-', 3);
    let victim = sim('victim-', 1);
    const exporter = spawnNoc([
      'exporter',
      '--broker',
      broker.url,
      '--listen',
      `127.0.0.1:${port}`,
      '--period',
      '1',
      '--emergency-grace',
      '2',
      '--trust',
      trust,
    ]);
    procs.push(exporter);
    await Promise.all([
      steady.waitFor(/ready: 3 of 3/, 30_000),
      victim.waitFor(/ready: 1 of 1/, 30_000),
      exporter.waitFor(/serving http/, 30_000),
    ]);

    // The HTTP side: /metrics, a landing page, 404 elsewhere, 405 for anything but GET/HEAD.
    const base = `http://127.0.0.1:${port}`;
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(await metrics.text(), /^loa_exporter_mqtt_connected 1$/m);
    assert.equal((await fetch(`${base}/`)).status, 200);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);

    // The shipped rules, every `for:` shortened so the test does not wait five minutes.
    const dir = tempDir('rules');
    const rules = join(dir, 'loa-alerts.yml');
    const shipped = readFileSync(join(REPO_ROOT, 'noc/prometheus/loa-alerts.yml'), 'utf8');
    const shortened = shipped.replace(/^(\s+)for: \S+$/gm, '$1for: 2s');
    assert.notEqual(shortened, shipped, 'the override found the for: lines');
    writeFileSync(rules, shortened);
    prom = await startPrometheus({ targets: [`127.0.0.1:${port}`], rules: [rules] });
    const p = prom;
    const query = async (expr: string) =>
      (
        await p.api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
          `query?query=${encodeURIComponent(expr)}`,
        )
      ).result;
    const alerts = async (name: string) =>
      (await p.api<{ alerts: PromAlert[] }>('alerts')).alerts.filter((a) => a.labels.alertname === name);
    const offline = () => alerts('LoaBoxOffline');
    const emergency = (device: string) =>
      runNoc([
        'send',
        '--broker',
        broker!.url,
        '--device',
        device,
        '--action',
        'play',
        '--args',
        JSON.stringify({ source: { kind: 'line' }, durationS: 3, priority: 100, volume: 100 }),
        '--key',
        join(keys, 'centre.key.pem'),
        '--timeout',
        '3',
      ]);

    await until('Prometheus to see the victim online', 60_000, async () =>
      (await query('loa_box_online{device="victim-0001"} == 1')).length === 1 ? true : undefined,
    );
    assert.deepEqual(await offline(), [], 'nothing offline while every box lives');

    // SIGKILL: no clean death; the broker publishes the box's last will (reason lost).
    victim.proc.kill('SIGKILL');
    await victim.exited;
    const firing = await until('LoaBoxOffline firing for victim-0001', 60_000, async () =>
      (await offline()).find((a) => a.state === 'firing' && a.labels.device === 'victim-0001'),
    );
    assert.equal(
      firing.labels.commune,
      'Simulated victim-0001',
      'the alert names the commune (joined from loa_box_info)',
    );
    assert.equal(firing.labels.severity, 'critical');
    assert.match(firing.annotations.summary ?? '', /victim-0001 \(Simulated victim-0001\) is offline/);
    assert.match(firing.annotations.action ?? '', /mains power/);
    assert.ok(
      (await offline()).every((a) => a.labels.device === 'victim-0001'),
      'only the dead box is offline',
    );
    assert.equal((await query('loa_box_disconnects_total{device="victim-0001",reason="lost"}'))[0]?.value[1], '1');

    // An emergency to the dead box (no answer: exit 3) and one to a live box (played: exit 0).
    assert.equal((await emergency('victim-0001')).code, 3);
    const played = await emergency('steady-0001');
    assert.equal(played.code, 0, played.stderr);
    const notPlayed = await until('LoaEmergencyNotPlayed firing for victim-0001', 60_000, async () =>
      (await alerts('LoaEmergencyNotPlayed')).find((a) => a.state === 'firing' && a.labels.device === 'victim-0001'),
    );
    assert.match(notPlayed.annotations.action ?? '', /Phone the commune office/);
    assert.ok(
      (await alerts('LoaEmergencyNotPlayed')).every((a) => a.labels.device === 'victim-0001'),
      'the live box played its emergency',
    );
    const exported = async () =>
      (await (await fetch(`${base}/metrics`)).text())
        .split('\n')
        .filter((l) => l.includes('emergency') && !l.startsWith('#'))
        .join('\n');
    await until('the played emergency in Prometheus', 20_000, async () =>
      (await query('loa_box_emergency_played_total{device="steady-0001"} == 1')).length === 1 ? true : undefined,
    ).catch(async (err: Error) => assert.fail(`${err.message}\n${await exported()}`));

    // The same box id comes back (a new process, a new bootId): online again, alert gone.
    victim = sim('victim-', 1);
    await victim.waitFor(/ready: 1 of 1/, 30_000);
    await until('LoaBoxOffline gone for victim-0001', 60_000, async () =>
      (await offline()).some((a) => a.labels.device === 'victim-0001') ? undefined : true,
    );
    assert.equal((await query('loa_box_online{device="victim-0001"}'))[0]?.value[1], '1');
    // Its persistent session kept the command: the box plays it on return, the alert goes.
    await until('LoaEmergencyNotPlayed gone', 60_000, async () =>
      (await alerts('LoaEmergencyNotPlayed')).length === 0 ? true : undefined,
    );
    assert.equal((await query('loa_box_emergency_played_total{device="victim-0001"}'))[0]?.value[1], '1');

    // Every query of the dashboard parses and, with its variables filled in, returns data.
    const empty: string[] = [];
    for (const q of dashboardQueries()) {
      const expr = q.expr
        .replace(/\$__rate_interval|\$__interval|\$__range/g, '1m')
        .replace(/\$device/g, 'steady-0001')
        .replace(/\$commune/g, '.*');
      const r = await query(expr).catch((err: Error) => assert.fail(`${q.panel}: ${expr}: ${err.message}`));
      if (r.length === 0 && !q.mayBeEmpty) empty.push(`${q.panel}: ${expr}`);
    }
    assert.deepEqual(empty, [], 'dashboard queries without data');

    // Proof of sound: the simulated boards measured a level (-9..-3 dB) and no silence.
    const level = Number((await query('loa_box_output_level_db{device="steady-0001"}'))[0]?.value[1]);
    assert.ok(level >= -9 && level <= -3, `steady-0001's output level: ${level}`);
    assert.equal((await query('loa_box_output_silent_seconds_total{device="steady-0001"}'))[0]?.value[1], '0');
    for (const name of ['LoaBoxOutputFault', 'LoaPlaysSilent', 'LoaEmergencyNoOutput'])
      assert.deepEqual(await alerts(name), [], `${name} while every box sounds`);
    // An emergency that sounded on no path (as the agent reports it), from another epoch.
    const hand = await mqtt.connectAsync(broker.url, { clientId: 'hand-box' });
    const occurrence = new Date().toISOString();
    await hand.publishAsync(
      deviceTopic(ROOT, 'steady-0002', 'events'),
      JSON.stringify({
        epoch: 'hand',
        seq: 1,
        ts: occurrence,
        type: 'play.failed',
        itemId: 'cmd-siren',
        docId: null,
        docVersion: null,
        occurrence,
        lateMs: 0,
        source: 'line',
        priority: 100,
        cmdId: 'cmd-siren',
        reason: 'no-output',
        message: 'the speaker line silent on every path',
      }),
      { qos: 1 },
    );
    await hand.endAsync();
    const unheard = await until('LoaEmergencyNoOutput firing for steady-0002', 60_000, async () =>
      (await alerts('LoaEmergencyNoOutput')).find((a) => a.state === 'firing' && a.labels.device === 'steady-0002'),
    );
    assert.equal(unheard.labels.severity, 'critical');
    assert.equal(unheard.labels.commune, 'Simulated steady-0002');
    assert.match(unheard.annotations.action ?? '', /Phone the commune office at once/);
  },
);
