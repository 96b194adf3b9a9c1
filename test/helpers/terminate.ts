// Stop a child process the way systemd does: SIGTERM, then SIGKILL after a grace period.
import type { ChildProcess } from 'node:child_process';

export async function terminate(p: ChildProcess, graceMs = 10_000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(t);
}
