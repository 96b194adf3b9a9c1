// Is the agent the broker shows the one running with THIS configuration? Pure: the
// retained status and heartbeat, when the configuration was last written, the clock,
// and what systemd says (when it says anything) in; a verdict out.
//
// The question is not "did a birth come after the registration": in the documented
// order (start the agent, then register) the birth always comes first, and the broker
// keeps it retained. What matters is when the agent that sent it started: after the
// configuration was written, it runs with it. Its start is its heartbeat's time minus
// its uptime (same boot); before its first heartbeat, the birth's own time (a birth is
// also re-sent on each reconnection, so that is only an upper bound, and the heartbeat
// decides as soon as there is one). A birth whose heartbeats stopped is a dead agent
// whose last will the broker has not sent yet.
import { unitText, type UnitState } from './agent-unit.js';

export interface PresenceInput {
  status: Record<string, unknown> | null;
  heartbeat: Record<string, unknown> | null;
  /** The config file's mtime, ms. */
  configWrittenAt: number;
  now: number;
  /** --any: any live birth will do. */
  any: boolean;
  /** systemd's view of loa-agent.service; undefined: no systemd, or no such unit. */
  unit?: UnitState;
  deviceId: string;
  /** " --config PATH" for the commands shown, or ''. */
  configArg: string;
}

export type Verdict =
  /** The agent running now runs with this configuration. */
  | {
      kind: 'online';
      bootId: string;
      agentVersion: string;
      startedAt: number | null;
      birthAt: string;
      /** false only with --any: an agent older than the configuration. */
      withConfig: boolean;
    }
  /** Nothing will change unless the technician acts: say what, and stop. */
  | { kind: 'act'; problem: string; todo: string }
  /** The agent may be starting (or nothing can tell): wait for its birth, saying what the broker holds. */
  | { kind: 'wait'; note: string };

/** Heartbeats missing for this many periods: the agent is not there (the centre's STALE rule, contract §5). */
const SILENT_PERIODS = 3;

export function judgePresence(i: PresenceInput): Verdict {
  const st = i.status;
  const register = `loa-provision register${i.configArg}`;
  const down = i.unit && (i.unit.active === 'inactive' || i.unit.active === 'failed') ? i.unit : undefined;
  // Between two runs of a failing agent: whatever birth the broker holds, no agent runs.
  const restarting = i.unit?.sub === 'auto-restart';
  if (st?.online === true && !down && !restarting) {
    const hb = i.heartbeat && i.heartbeat.bootId === st.bootId ? i.heartbeat : null;
    const hbAt = hb ? Date.parse(String(hb.ts)) : NaN;
    const uptimeS = Number(hb?.uptimeS);
    const startedAt = Number.isFinite(hbAt) && Number.isFinite(uptimeS) ? hbAt - uptimeS * 1000 : null;
    const birthAt = Date.parse(String(st.ts));
    const periodMs = (Number(st.heartbeatS) > 0 ? Number(st.heartbeatS) : 30) * 1000;
    const silentMs = Number.isFinite(hbAt) ? i.now - hbAt : NaN;
    if (silentMs > SILENT_PERIODS * periodMs)
      return {
        kind: 'wait',
        note: `the broker holds a birth of bootId ${String(st.bootId)} (${String(st.ts)}), but no heartbeat for ${Math.round(silentMs / 1000)} s: that agent is gone; waiting for a new birth`,
      };
    const since = startedAt ?? birthAt;
    // No slack: the agent reads its configuration before it starts counting its uptime, so
    // an agent that runs with this file started after it was written; one that started a
    // moment before runs with the old one, and a restart costs the technician little.
    const withConfig = since >= i.configWrittenAt;
    if (i.any || withConfig)
      return {
        kind: 'online',
        bootId: String(st.bootId),
        agentVersion: String(st.agentVersion ?? '?'),
        startedAt,
        birthAt: String(st.ts),
        withConfig,
      };
    return {
      kind: 'act',
      problem: `the agent running now (bootId ${String(st.bootId)}) ${startedAt !== null ? 'started' : 'connected'} at ${iso(since)}, before the configuration was written (${iso(i.configWrittenAt)}): it runs with the previous one`,
      todo: `sudo systemctl restart loa-agent, then ${register} again`,
    };
  }
  if (down) {
    const failed = down.active === 'failed';
    return {
      kind: 'act',
      problem: `loa-agent is not running (systemd: ${unitText(down)})`,
      todo: !failed
        ? `sudo systemctl start loa-agent, then ${register} again`
        : down.exitStatus === 78
          ? `it refused its configuration: sudo loa-provision check${i.configArg} says why; fix it, then sudo systemctl restart loa-agent and ${register} again`
          : `see why: sudo loa-provision logs -n 50; then sudo systemctl restart loa-agent and ${register} again`,
    };
  }
  const sd = i.unit ? `; systemd: ${unitText(i.unit)}` : '';
  if (restarting)
    return {
      kind: 'wait',
      note: `systemd is restarting loa-agent after a failure (${unitText(i.unit!)}): waiting for its birth; if this lasts, see why: sudo loa-provision logs -n 50`,
    };
  if (st?.online === false)
    return {
      kind: 'wait',
      note: `the broker's last status is offline (${String(st.reason ?? '?')}${st.ts ? ` at ${String(st.ts)}` : ''}, bootId ${String(st.bootId)}${sd}): waiting for the agent's birth`,
    };
  return {
    kind: 'wait',
    note: `the broker holds no status of ${i.deviceId} yet (the agent has not reached it with this device id${sd}): waiting for its birth`,
  };
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : '?';
}
