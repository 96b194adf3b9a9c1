// Player numbers: how soon audio comes out after play(), how soon stop() silences it, and
// what mpg123 costs while it plays. Paced output (no card on CI): mpg123 decodes into a pipe
// this process reads at the real-time rate, as a card would; the pacer's own CPU is shown
// too, since a card-less box pays it. Needs mpg123, sox and lame.
import { readFileSync } from 'node:fs';
import { makeTone } from '../test/helpers/audio.js';
import { createMpg123Player } from '../agent/adapters/mpg123-player.js';
import { size } from './smoke.js';

type Add = (metric: string, value: string, target?: string, ok?: boolean) => void;

const PLAYS = size(50, 5);
const CPU_WINDOW_MS = size(10_000, 1000);
const CLK_TCK = 100; // Linux USER_HZ (getconf CLK_TCK) on arm and x86

// Wall clock with sub-millisecond resolution, so a 15 ms latency is not rounded to 15 or 16.
const preciseNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** RSS (kB) and CPU time (s): schedstat's nanoseconds where the kernel has them, since
 *  mpg123 uses so little that utime+stime (10 ms ticks) would read 0 or 1 tick. */
function procSample(pid: number): { rssKb: number; cpuS: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  try {
    return { rssKb, cpuS: Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9 };
  } catch {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rssKb, cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK };
  }
}

export async function benchPlayer(add: Add): Promise<void> {
  const player = createMpg123Player({ output: { kind: 'paced' }, now: preciseNow });
  const short = makeTone({ seconds: 3 });

  // (a) play() → first audio out, and (b) stop() → process gone, after 200 ms of playing.
  const startMs: number[] = [];
  const stopMs: number[] = [];
  for (let i = 0; i < PLAYS; i++) {
    const t0 = preciseNow();
    const s = player.play({ source: { kind: 'file', paths: [short] }, volume: 80 });
    startMs.push((await s.started) - t0);
    await sleep(200);
    const t1 = performance.now();
    await s.stop();
    stopMs.push(performance.now() - t1);
    await s.ended;
  }
  startMs.sort((a, b) => a - b);
  stopMs.sort((a, b) => a - b);
  const fmt = (xs: number[]) =>
    `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, max ${xs.at(-1)!.toFixed(1)} ms`;
  add(
    `player: play() → first audio out, file (paced, ${PLAYS} plays)`,
    fmt(startMs),
    'p99 < 100 ms',
    pct(startMs, 99) < 100,
  );
  add(`player: stop() → mpg123 gone (${PLAYS} stops)`, fmt(stopMs), 'p99 < 200 ms', pct(stopMs, 99) < 200);

  // (c) mpg123's CPU and memory while it plays a 128 kbit/s MP3 of pink noise (a sine decodes
  // ~5x cheaper than speech or music; noise is an upper bound), after its first second.
  const long = makeTone({ seconds: CPU_WINDOW_MS / 1000 + 3, kbps: 128, signal: 'pinknoise' });
  const s = player.play({ source: { kind: 'file', paths: [long] }, volume: 80 });
  await s.started;
  await sleep(1000);
  const a = procSample(s.pid!);
  const cpu0 = process.cpuUsage();
  let rssMaxKb = a.rssKb;
  const t0 = performance.now();
  while (performance.now() - t0 < CPU_WINDOW_MS) {
    await sleep(500);
    rssMaxKb = Math.max(rssMaxKb, procSample(s.pid!).rssKb);
  }
  const b = procSample(s.pid!);
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await s.stop();
  const mpgCpu = ((b.cpuS - a.cpuS) / wallS) * 100;
  const nodeCpu = ((cpu.user + cpu.system) / 1e6 / wallS) * 100;
  add(
    'player: mpg123 CPU playing 128 kbit/s MP3 (pink noise)',
    `${mpgCpu.toFixed(2)} % of a core (${wallS.toFixed(1)} s)`,
    '< 10 %',
    mpgCpu < 10,
  );
  add('player: mpg123 RSS while playing', `${(rssMaxKb / 1024).toFixed(1)} MB`, '< 20 MB', rssMaxKb / 1024 < 20);
  add('player: pacer CPU in this process (paced output only)', `${nodeCpu.toFixed(2)} % of a core`);
}
