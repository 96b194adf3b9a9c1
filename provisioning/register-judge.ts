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
import { msg, type Text } from './text.js';

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
  | { kind: 'act'; problem: Text; todo: Text }
  /** The agent may be starting (or nothing can tell): wait for its birth, saying what the broker holds. */
  | { kind: 'wait'; note: Text };

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
        note: msg('reg.wait.silent', { bootId: String(st.bootId), ts: String(st.ts), s: Math.round(silentMs / 1000) }),
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
      problem: msg(startedAt !== null ? 'reg.old.started' : 'reg.old.connected', {
        bootId: String(st.bootId),
        at: iso(since),
        written: iso(i.configWrittenAt),
      }),
      todo: msg('reg.old.todo', { register }),
    };
  }
  if (down) {
    const failed = down.active === 'failed';
    return {
      kind: 'act',
      problem: msg('reg.down', { unit: unitText(down) }),
      todo: !failed
        ? msg('reg.down.start', { register })
        : down.exitStatus === 78
          ? msg('reg.down.config', { config: i.configArg, register })
          : msg('reg.down.crashed', { register }),
    };
  }
  const sd = i.unit ? `; systemd: ${unitText(i.unit)}` : '';
  if (restarting)
    return {
      kind: 'wait',
      note: msg('reg.wait.restarting', { unit: unitText(i.unit!) }),
    };
  if (st?.online === false)
    return {
      kind: 'wait',
      note: msg('reg.wait.offline', {
        reason: String(st.reason ?? '?'),
        at: st.ts ? msg('reg.at', { ts: String(st.ts) }) : '',
        bootId: String(st.bootId),
        sd,
      }),
    };
  return {
    kind: 'wait',
    note: msg('reg.wait.none', { deviceId: i.deviceId, sd }),
  };
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : '?';
}
