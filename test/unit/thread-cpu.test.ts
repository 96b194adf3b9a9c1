// adapters/thread-cpu.ts: the main thread's CPU time, not the process's. A worker thread
// that spins while the main thread waits must not show in the main thread's clock, and
// work on the main thread must.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { processCpuMs, threadCpuClock } from '../../agent/adapters/thread-cpu.js';

function spinMs(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* spin */
  }
}

test('counts the work done on this thread', { timeout: 10_000 }, () => {
  const cpu = threadCpuClock();
  const t0 = cpu();
  spinMs(60);
  const d = cpu() - t0;
  // Spinning 60 ms of wall time is at most 60 ms of CPU and, unless the OS took the core
  // away for most of it, well above zero.
  assert.ok(d > 5 && d < 70, `${d} ms`);
});

test("does not count another thread's work, which the process's CPU time does", { timeout: 20_000 }, async () => {
  const cpu = threadCpuClock();
  const t0 = cpu();
  const p0 = processCpuMs();
  const worker = new Worker(
    'const end = Date.now() + 300; while (Date.now() < end) {} require("node:worker_threads").parentPort.postMessage(1);',
    { eval: true },
  );
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  const mine = cpu() - t0;
  const all = processCpuMs() - p0;
  assert.ok(all - mine > 100, `process ${all} ms, main thread ${mine} ms: the worker's spin is in the process's time`);
  assert.ok(mine < 100, `main thread ${mine} ms while it only waited`);
});
