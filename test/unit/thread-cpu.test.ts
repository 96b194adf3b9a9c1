// adapters/thread-cpu.ts: the main thread's CPU time, not the process's. A worker thread
// that spins while the main thread waits must not show in the main thread's clock, and
// work on the main thread must.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { processCpuMs, threadCpuClock } from '../../agent/adapters/thread-cpu.js';

test('counts the work done on this thread: all of it when no other thread works', { timeout: 10_000 }, () => {
  const cpu = threadCpuClock();
  const t0 = cpu();
  const p0 = processCpuMs();
  // Arithmetic only: no allocation, so no garbage collector thread joins in. CPU time, not
  // wall time, on both sides: the OS taking the core away changes neither.
  let x = 0;
  for (let i = 0; i < 50_000_000; i++) x = (x + i) % 1_000_003;
  const mine = cpu() - t0;
  const all = processCpuMs() - p0;
  assert.ok(x >= 0);
  assert.ok(mine > 5, `the loop took ${mine} ms of this thread's CPU`);
  // The two clocks are kept apart by the kernel (schedstat in ns, rusage by its own
  // accounting): a few per cent between them is their disagreement, not another thread.
  assert.ok(mine <= all * 1.05 + 2, `thread ${mine} ms is part of the process's ${all} ms`);
  assert.ok(mine >= 0.8 * all - 2, `thread ${mine} ms against the process's ${all} ms: the loop is this thread's work`);
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
