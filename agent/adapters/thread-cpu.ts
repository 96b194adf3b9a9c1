// The CPU time of the calling thread, in ms. process.cpuUsage() counts every thread of
// the process (V8's concurrent GC helpers, libuv's pool), so a 4 ms planning slice run
// while the garbage collector marks in the background measured 26 ms "of CPU" on a loaded
// machine. Linux keeps each thread's own run time in /proc/thread-self/schedstat (ns,
// first field); one descriptor opened on the main thread is read again with pread
// (measured: 12.5 µs a read, against 130 µs opening the file each time). Where that file
// does not exist, the process's CPU time is the fallback (an upper bound).
import { openSync, readSync } from 'node:fs';

export function threadCpuClock(): () => number {
  let fd: number;
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return processCpuMs;
  }
  const buf = Buffer.alloc(64);
  return () => {
    const n = readSync(fd, buf, 0, buf.length, 0);
    const ns = Number(buf.toString('latin1', 0, n).split(' ')[0]);
    return Number.isFinite(ns) ? ns / 1e6 : processCpuMs();
  };
}

export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
