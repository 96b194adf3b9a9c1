// Prometheus's own memory with the loa exporter: Mosquitto, `noc simulate` (BOXES boxes,
// heartbeat 30 s), the built `noc exporter` (dist/: run npm run build first) and a real
// Prometheus (scrape every 15 s with a 14 s timeout, the alert rules of noc/prometheus/)
// for MINUTES minutes; prints one JSON line per 30 s sample (RSS of Prometheus and of
// the exporter, Prometheus's head series, scrape duration) and a summary.
// Too long for the bench table: run by hand,
//   node --import tsx bench/prometheus-soak.ts [BOXES=10000] [MINUTES=10]
// docs/noc.md §6 reports its numbers.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, freePort } from '../test/helpers/broker.js';
import { REPO_ROOT } from '../test/helpers/agent-process.js';
import { startPrometheus } from '../test/helpers/prometheus.js';

const boxes = Number(process.argv[2] ?? 10_000);
const minutes = Number(process.argv[3] ?? 10);
const NOC = join(REPO_ROOT, 'noc/cli.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMB = (pid: number) =>
  Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024);

async function main(): Promise<void> {
  const broker = await startBroker();
  const port = await freePort();
  const noc = (args: string[]) =>
    spawn(process.execPath, ['--import', 'tsx', NOC, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  const sim = noc([
    'simulate',
    '--broker',
    broker.url,
    '--boxes',
    String(boxes),
    '--heartbeat',
    '30',
    '--ramp',
    '1000',
    '--play-every',
    '600',
    '--mqtt-version',
    '5',
  ]);
  const exp = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'dist/noc/cli.js'),
      'exporter',
      '--broker',
      broker.url,
      '--listen',
      `127.0.0.1:${port}`,
      '--mqtt-version',
      '5',
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const prom = await startPrometheus({
    targets: [`127.0.0.1:${port}`],
    scrapeIntervalS: 15,
    scrapeTimeoutS: 14,
    evaluationIntervalS: 15,
    rules: [join(REPO_ROOT, 'noc/prometheus/loa-alerts.yml')],
  });
  const t0 = Date.now();
  const q = async (expr: string) => {
    const d = await prom
      .api<{ result: { value: [number, string] }[] }>(`query?query=${encodeURIComponent(expr)}`)
      .catch(() => ({ result: [] }));
    return d.result[0] ? Number(d.result[0].value[1]) : null;
  };
  const samples: number[] = [];
  while (Date.now() - t0 < minutes * 60_000) {
    await sleep(30_000);
    const s = {
      t: Math.round((Date.now() - t0) / 1000),
      promRssMB: rssMB(prom.proc.pid!),
      exporterRssMB: rssMB(exp.pid!),
      headSeries: Number(
        /^prometheus_tsdb_head_series (\S+)/m.exec(await fetch(`${prom.url}/metrics`).then((r) => r.text()))?.[1],
      ),
      boxes: await q('loa_exporter_boxes'),
      scrapeS: await q('scrape_duration_seconds{job="loa-exporter"}'),
      samplesScraped: await q('scrape_samples_scraped{job="loa-exporter"}'),
    };
    samples.push(s.promRssMB);
    process.stdout.write(JSON.stringify(s) + '\n');
  }
  process.stdout.write(
    JSON.stringify({
      summary: true,
      boxes,
      minutes,
      promRssMBMax: Math.max(...samples),
      promRssMBLast: samples.at(-1),
    }) + '\n',
  );
  await prom.stop();
  exp.kill('SIGTERM');
  sim.kill('SIGTERM');
  await sleep(5000);
  sim.kill('SIGKILL');
  await broker.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
