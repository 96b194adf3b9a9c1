// A real Prometheus (Debian's `prometheus` package: /usr/bin/prometheus, promtool) for
// the exporter's integration test and the soak measurement: a generated config, its own
// temporary storage and a free loopback port. Where it is missing, `prometheusMissing()`
// gives the reason a test skips with; under CI=true the caller fails instead.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './broker.js';
import { tempDir } from './tmp.js';
import { terminate } from './terminate.js';
import { until } from './wait.js';

export function which(bin: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.stdout.trim() || undefined;
}

/** Why Prometheus tests cannot run here, or undefined. */
export function prometheusMissing(): string | undefined {
  if (!which('prometheus')) return 'prometheus not on PATH (Debian package "prometheus"; .ci/run installs it)';
  if (!which('promtool')) return 'promtool not on PATH (Debian package "prometheus")';
  return undefined;
}

export interface PromOptions {
  /** host:port of each exporter to scrape. */
  targets: string[];
  scrapeIntervalS?: number;
  evaluationIntervalS?: number;
  /** Default: Prometheus's own (10 s, or the interval if shorter). */
  scrapeTimeoutS?: number;
  /** Rule file paths. */
  rules?: string[];
}

export interface TestPrometheus {
  url: string;
  proc: ChildProcess;
  dir: string;
  /** GET /api/v1/<path>, the `data` of a success, or throws. */
  api<T = unknown>(path: string): Promise<T>;
  stop(): Promise<void>;
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  value: string;
}

export async function startPrometheus(o: PromOptions): Promise<TestPrometheus> {
  const dir = tempDir('prometheus');
  const port = await freePort();
  const yml = [
    'global:',
    `  scrape_interval: ${o.scrapeIntervalS ?? 1}s`,
    `  evaluation_interval: ${o.evaluationIntervalS ?? 1}s`,
    ...(o.scrapeTimeoutS ? [`  scrape_timeout: ${o.scrapeTimeoutS}s`] : []),
    ...(o.rules?.length ? ['rule_files:', ...o.rules.map((r) => `  - ${JSON.stringify(r)}`)] : []),
    'scrape_configs:',
    '  - job_name: loa-exporter',
    '    static_configs:',
    `      - targets: [${o.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
  ].join('\n');
  const cfg = join(dir, 'prometheus.yml');
  writeFileSync(cfg, yml + '\n');
  const proc = spawn(
    'prometheus',
    [
      `--config.file=${cfg}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20_000)));
  const url = `http://127.0.0.1:${port}`;
  const ready = async () => {
    if (proc.exitCode !== null) throw new Error(`prometheus exited ${proc.exitCode}: ${stderr}`);
    return fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
  };
  await until(ready, 30_000, 'prometheus ready', 200).catch((err: Error) => {
    throw new Error(`${err.message}: ${stderr}`);
  });
  return {
    url,
    proc,
    dir,
    async api<T>(path: string): Promise<T> {
      const r = await fetch(`${url}/api/v1/${path}`);
      const body = (await r.json()) as { status: string; data: T; error?: string };
      if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? r.status}`);
      return body.data;
    },
    stop: () => terminate(proc),
  };
}
