// Real figures for the heartbeat's `sys` and `clock`, read from /proc and /sys. A value
// the platform does not expose (no thermal zone in a VM) is null, not zero.
import { readFile, readdir, statfs } from 'node:fs/promises';
import { loadavg } from 'node:os';
import type { SysStats } from '../../contract/telemetry.js';
import { createClockSources, exists, type ClockSources } from './clock-sources.js';

export interface SystemStats {
  sys(): Promise<SysStats>;
  /** true/false where a time service says so, null where none can tell (adapters/clock-sources.ts). */
  clockSynced(): Promise<boolean | null>;
}

export interface SystemStatsPaths {
  sysRoot?: string;
  procRoot?: string;
  runRoot?: string;
  /** Where clockSynced() asks; default: every source, timesyncd's files under runRoot. */
  clock?: ClockSources;
  /** Directory whose file system's free space is reported (the state dir). */
  diskPath: string;
}

export function createSystemStats(p: SystemStatsPaths): SystemStats {
  const sysRoot = p.sysRoot ?? '/sys';
  const procRoot = p.procRoot ?? '/proc';
  const clock = p.clock ?? createClockSources({ runRoot: p.runRoot ?? '/run' });
  let thermalPath: string | null | undefined;

  async function findThermal(): Promise<string | null> {
    const base = `${sysRoot}/class/thermal`;
    let zones: string[];
    try {
      zones = (await readdir(base)).filter((z) => z.startsWith('thermal_zone')).sort();
    } catch {
      return null;
    }
    let first: string | null = null;
    for (const z of zones) {
      const type = (await readFile(`${base}/${z}/type`, 'utf8').catch(() => '')).trim();
      const path = `${base}/${z}/temp`;
      if (!(await exists(path))) continue;
      // Raspberry Pi: cpu-thermal; x86: x86_pkg_temp; many SoCs: soc-thermal.
      if (/cpu|soc|x86_pkg/i.test(type)) return path;
      first ??= path;
    }
    return first;
  }

  return {
    async sys() {
      thermalPath ??= await findThermal();
      const [temp, mem, disk] = await Promise.all([
        thermalPath
          ? readFile(thermalPath, 'utf8').then(
              (t) => Math.round(Number(t) / 100) / 10,
              () => null,
            )
          : null,
        readFile(`${procRoot}/meminfo`, 'utf8').then(
          (t) => {
            const m = /^MemAvailable:\s+(\d+) kB/m.exec(t) ?? /^MemFree:\s+(\d+) kB/m.exec(t);
            return m ? Math.floor(Number(m[1]) / 1024) : null;
          },
          () => null,
        ),
        statfs(p.diskPath).then(
          (s) => Math.floor((s.bavail * s.bsize) / 1048576),
          () => null,
        ),
      ]);
      const l = loadavg()[0];
      return {
        cpuTempC: temp !== null && Number.isFinite(temp) ? temp : null,
        load1: l === undefined ? null : Math.round(l * 100) / 100,
        memFreeMB: mem,
        diskFreeMB: disk,
      };
    },
    async clockSynced() {
      return (await clock.read()).synced;
    },
  };
}
