// Release versions (command-doc.ts VERSION_RE: x.y.z or x.y.z-pre) in order, for the
// updater's anti-rollback rule: semver precedence (a pre-release sorts before its release;
// pre-release parts compare numerically when both are numbers, else as text).

/** Negative when a < b, 0 when equal, positive when a > b. */
export function compareVersions(a: string, b: string): number {
  const [ma, pa] = split(a);
  const [mb, pb] = split(b);
  for (let i = 0; i < 3; i++) if (ma[i] !== mb[i]) return ma[i]! - mb[i]!;
  if (pa === null || pb === null) return pa === pb ? 0 : pa === null ? 1 : -1;
  const xa = pa.split('.');
  const xb = pb.split('.');
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    if (xa[i] === undefined) return -1;
    if (xb[i] === undefined) return 1;
    const na = /^\d+$/.test(xa[i]!) ? Number(xa[i]) : NaN;
    const nb = /^\d+$/.test(xb[i]!) ? Number(xb[i]) : NaN;
    if (!Number.isNaN(na) && !Number.isNaN(nb)) {
      if (na !== nb) return na - nb;
    } else if (xa[i] !== xb[i]) return !Number.isNaN(na) ? -1 : !Number.isNaN(nb) ? 1 : xa[i]! < xb[i]! ? -1 : 1;
  }
  return 0;
}

function split(v: string): [number[], string | null] {
  const dash = v.indexOf('-');
  const main = (dash < 0 ? v : v.slice(0, dash)).split('.').map(Number);
  return [main, dash < 0 ? null : v.slice(dash + 1)];
}

/** Anti-rollback (issue [2/8]): why `version` may not replace `running`, or null when it may. */
export function downgradeRefusal(version: string, running: string, allowDowngrade: boolean): string | null {
  if (allowDowngrade || compareVersions(version, running) >= 0) return null;
  return `version ${version} is older than the running ${running}: a downgrade needs args.allowDowngrade true in the signed command`;
}
