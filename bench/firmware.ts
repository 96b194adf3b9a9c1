// Firmware bridge numbers (issue 5): request round trip over a socat pseudo-terminal
// pair at 115200 baud with the simulator as its own process, and parser throughput on
// a stream with 1 % corrupted frames. Needs socat; section firmware of bench/run.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { FirmwareBridge } from '../firmware-bridge/bridge.js';
import { openSerial } from '../firmware-bridge/serial.js';
import { encodeFrame } from '../firmware-bridge/frame.js';
import { FrameParser } from '../firmware-bridge/parser.js';
import { tempDir } from '../test/helpers/tmp.js';
import { REPO_ROOT } from '../test/helpers/agent-process.js';
import { size } from './smoke.js';

type Add = (metric: string, value: string, target?: string, ok?: boolean) => void;

const ROUND_TRIPS = size(500, 20);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function kill(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = once(p, 'exit');
  p.kill('SIGTERM');
  await gone;
}

export async function benchBridge(add: Add): Promise<void> {
  const socatPath = spawnSync('sh', ['-c', 'command -v socat']).stdout.toString().trim();
  if (!socatPath) {
    add('firmware round trip (pty)', 'skipped: socat not installed');
  } else {
    const dir = tempDir('bench-fw');
    const host = join(dir, 'host');
    const board = join(dir, 'board');
    const socat = spawn(socatPath, [`pty,raw,echo=0,link=${host}`, `pty,raw,echo=0,link=${board}`], {
      stdio: 'ignore',
    });
    let sim: ChildProcess | undefined;
    let bridge: FirmwareBridge | undefined;
    try {
      await waitFor(() => existsSync(host) && existsSync(board), 10_000, 'socat links');
      sim = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'firmware-bridge/sim-cli.ts'), board], {
        cwd: REPO_ROOT,
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      let err = '';
      sim.stderr?.setEncoding('utf8');
      sim.stderr?.on('data', (b: Buffer) => (err += b.toString()));
      await waitFor(() => err.includes('ready'), 20_000, 'simulator');
      bridge = new FirmwareBridge({ open: () => openSerial(host) });
      await bridge.start();
      for (let i = 0; i < 20; i++) await bridge.request({ cmd: 'ping' }); // warm-up (JIT, tty buffers)
      const ms: number[] = [];
      for (let i = 0; i < ROUND_TRIPS; i++) {
        const t0 = performance.now();
        await bridge.request({ cmd: i % 2 ? 'ping' : 'get-status' });
        ms.push(performance.now() - t0);
      }
      ms.sort((a, b) => a - b);
      add('firmware round trip p50 (pty, ping/get-status)', `${pct(ms, 50).toFixed(2)} ms`);
      add(
        'firmware round trip p99 (pty, ping/get-status)',
        `${pct(ms, 99).toFixed(2)} ms`,
        '< 200 ms (PING timeout)',
        pct(ms, 99) < 200,
      );
    } finally {
      await bridge?.stop();
      if (sim) await kill(sim);
      await kill(socat);
    }
  }
  add('firmware parser throughput (1 % corrupted)', `${(await benchParser()).toFixed(1)} MB/s`);
}

/** MB/s through FrameParser over ~8 MB (smoke: 1) of status-reply-sized frames, 1 in 100 with a flipped byte. */
async function benchParser(): Promise<number> {
  const frames: Buffer[] = [];
  for (let i = 0; i < 1000; i++) {
    const f = encodeFrame({ seq: (i % 255) + 1, type: 0x82, payload: Buffer.alloc(19, i) });
    if (i % 100 === 0) f[7] = (f[7] ?? 0) ^ 0x40;
    frames.push(f);
  }
  const block = Buffer.concat(frames);
  const parser = new FrameParser();
  parser.on('data', () => undefined);
  const reps = Math.ceil(size(8e6, 1e6) / block.length);
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) for (let o = 0; o < block.length; o += 4096) parser.write(block.subarray(o, o + 4096));
  // Writes may queue behind the readable side; 'finish' means every byte went through.
  const done = once(parser, 'finish');
  parser.end();
  await done;
  const s = (performance.now() - t0) / 1000;
  return (reps * block.length) / 1e6 / s;
}
