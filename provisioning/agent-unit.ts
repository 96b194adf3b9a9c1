// What systemd says of the agent's unit, when it can say anything: the tools use it to
// tell "the agent is stopped: start it" at once instead of waiting for a birth that
// cannot come. On a machine without systemd (a developer's, a container) or without the
// unit, the answer is undefined and nothing is assumed.
import { execCommand, type Exec } from './checks.js';

export const AGENT_UNIT = 'loa-agent.service';

export interface UnitState {
  /** ActiveState: active, activating (also while waiting to restart), deactivating, inactive, failed. */
  active: string;
  /** SubState: running, auto-restart, dead, failed, … */
  sub: string;
  /** Result of the last run: success, exit-code, signal, watchdog, … */
  result: string;
  /** The main process's last exit status (78: it refused its configuration). */
  exitStatus: number | null;
}

/** `systemctl show` output (KEY=value lines) to the unit's state; undefined when the unit is not installed. */
export function parseUnitShow(stdout: string): UnitState | undefined {
  const v = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) v.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  const load = v.get('LoadState');
  const active = v.get('ActiveState');
  if (!active || !load || load === 'not-found') return undefined;
  const status = Number(v.get('ExecMainStatus'));
  return {
    active,
    sub: v.get('SubState') ?? '',
    result: v.get('Result') ?? '',
    exitStatus: v.has('ExecMainStatus') && Number.isInteger(status) ? status : null,
  };
}

export async function agentUnit(exec: Exec = execCommand): Promise<UnitState | undefined> {
  const r = await exec('systemctl', [
    'show',
    AGENT_UNIT,
    '--property=LoadState,ActiveState,SubState,Result,ExecMainStatus',
  ]);
  return r.code === 0 ? parseUnitShow(r.stdout) : undefined;
}

/** "inactive", "failed (exit-code, status 78)", "activating (auto-restart)". */
export function unitText(u: UnitState): string {
  const extra = [
    u.active === 'failed' ? u.result : u.sub !== u.active && u.sub !== 'dead' ? u.sub : '',
    u.active === 'failed' && u.exitStatus ? `status ${u.exitStatus}` : '',
  ].filter(Boolean);
  return extra.length ? `${u.active} (${extra.join(', ')})` : u.active;
}
