// What a stuck test needs to say: the processes still about, and where each sleeps in the
// kernel (wchan). A year-ahead CI run (libfaketime) has twice seen a process print
// nothing until its limit: launcher-recovery.test.ts, readme.test.ts.
import { spawnSync } from 'node:child_process';

/** `ps` lines (with its header) of the processes whose line `keep` accepts. */
export function processes(keep: (line: string) => boolean): string {
  const ps = spawnSync('ps', ['-eo', 'pid,ppid,pgid,stat,etime,wchan:24,args'], { encoding: 'utf8' }).stdout ?? '';
  return ps
    .split('\n')
    .filter((l, i) => i === 0 || (l !== '' && keep(l)))
    .join('\n');
}

/** The processes of one process group (`ps`'s PGID column). */
export const groupProcesses = (pgid: number): string => processes((l) => l.trim().split(/\s+/)[2] === String(pgid));
