// `noc send`: one command to a box or a group, and its result(s) (contract §4).
//
// The result subscription is made (and acknowledged) BEFORE the command is published:
// a box on a LAN answers in milliseconds, faster than a subscription made afterwards.
import type { MqttClient } from 'mqtt';
import { ACTIONS } from '../contract/command-doc.js';
import {
  CliError,
  errorMessage,
  EXIT,
  Failure,
  parseArgs,
  positionals,
  required,
  UsageError,
} from '../cli-kit/index.js';
import { DEFAULT_COMMAND_TTL_S, MAX_COMMAND_TTL_S, loadSigningKey, readJsonFile } from './docs.js';
import type { Io } from './io.js';
import { BROKER_HELP, BROKER_SPEC, brokerConfig, closeClient, connect } from './mqtt.js';
import { bindingOf, targetOf, topicFor, type Target } from './publish.js';
import { TTL_SPEC, prepareDoc, signPrepared } from './sign.js';
import { deviceTopic, fleetFilter, parseDeviceTopic, publishTo } from '../contract/index.js';

const SPEC = {
  ...BROKER_SPEC,
  device: { kind: 'string' },
  group: { kind: 'string' },
  action: { kind: 'string' },
  args: { kind: 'string' },
  key: { kind: 'string' },
  kid: { kind: 'string' },
  timeout: { kind: 'number', min: 0.1 },
  ttl: TTL_SPEC.ttl,
  json: { kind: 'boolean' },
} as const;

export const SEND_HELP = `noc send --broker URL (--device ID | --group G) --action A [--args JSON] --key k.pem
noc send <command.json> --broker URL (--device ID | --group G) --key k.pem

Build (or read), validate and sign a command, publish it on {root}/d/ID/cmd or
{root}/g/G/cmd, and wait for the result on {root}/d/+/cmd/result. The command's target
must list that device or group (contract v1.1: boxes refuse it otherwise); a command
file without a target gets it. Everything else the boxes refuse is refused before
signing, as by noc sign.

  --action A    ${ACTIONS.join(' | ')}
  --args JSON   the action's arguments, e.g. --args '{"level":60}' for volume
  --key FILE    Ed25519 private key (noc keys), or env NOC_KEY; --kid KID overrides its name
  --ttl S       the command expires S seconds after now (default ${DEFAULT_COMMAND_TTL_S}, at most
                ${MAX_COMMAND_TTL_S}: boxes refuse a command living longer than 24 h)
  --timeout S   how long to wait for results (default 30)
  --json        print results as JSON (one line per box)

A device answers once: exit 0 if ok:true, 1 if ok:false (error code and message shown),
3 if no result came within --timeout. A group collects results until --timeout (or until
every box its retained births list as online members has answered) and reports how many
answered: exit 0 if all that answered said ok, 1 if any refused, 3 if none answered.

${BROKER_HELP}`;

interface Result {
  deviceId: string;
  cmdId: string;
  ok: boolean;
  ts?: string;
  result?: unknown;
  error?: { code?: string; message?: string };
}

function buildCommand(opts: { action?: string; args?: string }, to: Target): Record<string, unknown> {
  const action = required(opts.action, '--action', 'ping');
  if (!(ACTIONS as readonly string[]).includes(action))
    throw new UsageError(`--action "${action}" is not one of ${ACTIONS.join(', ')}`);
  // The clock command has one form (contract v1.2 §2.2): --action clock alone sends it.
  let args: unknown = action === 'clock' ? { resetBound: true } : {};
  if (opts.args !== undefined) {
    try {
      args = JSON.parse(opts.args);
    } catch (err) {
      throw new UsageError(`--args is not JSON (${errorMessage(err)}), e.g. --args '{"level":60}'`);
    }
  }
  const target = to.device !== undefined ? { devices: [to.device] } : { groups: [to.group] };
  return { type: 'command', target, action, args };
}

function parseResult(topic: string, root: string, payload: Buffer): Result | undefined {
  const where = parseDeviceTopic(root, topic);
  if (!where || where.leaf !== 'cmd/result') return undefined;
  try {
    const r = JSON.parse(payload.toString('utf8')) as Omit<Result, 'deviceId'>;
    if (typeof r?.cmdId !== 'string' || typeof r.ok !== 'boolean') return undefined;
    return { deviceId: where.deviceId, ...r };
  } catch {
    return undefined;
  }
}

/** A ping's result is the whole birth and heartbeat (§4): in a readable line, the gist. */
function gist(result: unknown): string {
  const r = result as { birth?: Record<string, unknown>; heartbeat?: Record<string, unknown> } | undefined;
  if (!r?.birth || !r.heartbeat) return JSON.stringify(result ?? {});
  const hb = r.heartbeat;
  const docs = Array.isArray(hb.schedule)
    ? (hb.schedule as { id: string; version: number }[]).map((d) => `${d.id}@${d.version}`).join(' ')
    : '';
  const playing = hb.playing ? ` playing ${String((hb.playing as { itemId?: unknown }).itemId)},` : '';
  return `agent ${String(r.birth.agentVersion)}, boot ${String(r.birth.bootId)}, up ${String(hb.uptimeS)} s, ${String(hb.state)},${playing} volume ${String(hb.volume)}, outbox ${String(hb.outbox)}, schedule ${docs || '-'} (--json for all of it)`;
}

function line(r: Result, ms: number): string {
  if (r.ok) return `${r.deviceId}: ok in ${ms} ms ${gist(r.result)}`;
  return `${r.deviceId}: refused ${r.error?.code ?? '?'}: ${r.error?.message ?? ''} (${ms} ms)`;
}

export async function sendCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc send');
  if (help) return (io.out(SEND_HELP), 0);
  const cfg = brokerConfig(opts, process.env, io.err);
  const to = targetOf(opts.device, opts.group, 'send');
  const [file] = positionals(positional, ['<command.json>'], 'noc send', true);
  const key = loadSigningKey(required(opts.key ?? process.env.NOC_KEY, '--key', 'centre-2026.key.pem'), opts.kid);
  let raw: Record<string, unknown>;
  if (file) {
    if (opts.action || opts.args) throw new UsageError('give either a command file or --action/--args, not both');
    raw = readJsonFile(file) as Record<string, unknown>;
    if (raw && typeof raw === 'object' && raw.target === undefined) {
      raw = { ...raw, target: to.device !== undefined ? { devices: [to.device] } : { groups: [to.group] } };
      io.err(`filled in: target=${JSON.stringify(raw.target)}`);
    }
  } else raw = buildCommand(opts, to);
  const prepared = prepareDoc(raw, file ?? 'command', io, { now: Date.now(), ttlS: opts.ttl, binding: bindingOf(to) });
  if (prepared.kind !== 'command')
    throw new Failure(`${file}: is a ${prepared.kind}; noc send sends commands (use noc publish for schedules)`);
  const cmdId = String(prepared.doc.id);
  const jws = await signPrepared(prepared, key);
  const timeoutMs = (opts.timeout ?? 30) * 1000;

  const client = await connect(cfg);
  try {
    return await exchange(client, { root: cfg.root, to, cmdId, jws, timeoutMs, json: opts.json === true, io });
  } finally {
    await closeClient(client);
  }
}

interface Exchange {
  root: string;
  to: Target;
  cmdId: string;
  jws: string;
  timeoutMs: number;
  json: boolean;
  io: Io;
}

async function exchange(client: MqttClient, x: Exchange): Promise<number> {
  const { root, to, io } = x;
  const results = new Map<string, Result>();
  // Latest status per box (retained births and deaths): who is expected to answer.
  const online = new Map<string, { online: boolean; groups: string[]; reason?: string }>();
  let t0 = 0;
  let finish: () => void = () => {};
  const done = new Promise<void>((r) => (finish = r));
  const expected = () =>
    [...online].filter(([, s]) => s.online && to.group !== undefined && s.groups.includes(to.group)).map(([id]) => id);

  client.on('message', (topic, payload) => {
    const where = parseDeviceTopic(root, topic);
    if (where?.leaf === 'status') {
      try {
        const s = JSON.parse(payload.toString('utf8')) as { online?: boolean; groups?: unknown; reason?: string };
        const prev = online.get(where.deviceId);
        const groups = Array.isArray(s.groups) ? (s.groups as string[]) : (prev?.groups ?? []);
        online.set(where.deviceId, { online: s.online === true, groups, ...(s.reason ? { reason: s.reason } : {}) });
      } catch {
        /* a status that is not JSON tells nothing about who should answer */
      }
      return;
    }
    const r = parseResult(topic, root, payload);
    if (!r || r.cmdId !== x.cmdId || results.has(r.deviceId)) return;
    if (to.device !== undefined && r.deviceId !== to.device) return;
    results.set(r.deviceId, r);
    const ms = Math.round(performance.now() - t0);
    io.out(x.json ? JSON.stringify(r) : line(r, ms));
    if (to.device !== undefined) finish();
    else {
      const exp = expected();
      if (exp.length > 0 && exp.every((id) => results.has(id))) finish();
    }
  });

  const filters =
    to.device !== undefined
      ? [deviceTopic(root, to.device, 'cmd/result'), deviceTopic(root, to.device, 'status')]
      : [fleetFilter(root, 'cmd/result'), fleetFilter(root, 'status')];
  let granted;
  try {
    granted = await client.subscribeAsync(filters, { qos: 1 });
  } catch (err) {
    throw new Failure(`subscribe to ${filters.join(', ')} failed: ${errorMessage(err)}`);
  }
  const refused = granted.filter((g) => g.qos >= 0x80);
  if (refused.length)
    throw new Failure(
      `the broker refused the subscription to ${refused.map((g) => g.topic).join(', ')} (check its ACL); results could not be seen`,
    );
  // Retained births follow the SUBACK; give them a moment to say who the group's members are.
  if (to.group !== undefined) await new Promise((r) => setTimeout(r, 300));

  const topic = topicFor(root, to, 'cmd');
  t0 = performance.now();
  try {
    await publishTo(client, 'cmd', topic, x.jws);
  } catch (err) {
    throw new Failure(`publish to ${topic} refused: ${errorMessage(err)}`);
  }
  io.err(`sent command ${x.cmdId} -> ${topic}; waiting up to ${x.timeoutMs / 1000} s`);
  const timer = setTimeout(finish, x.timeoutMs);
  await done;
  clearTimeout(timer);

  if (to.device !== undefined) {
    const r = results.get(to.device);
    if (!r) {
      const s = online.get(to.device);
      const state = !s
        ? 'no status is retained for it (unknown box, or never connected)'
        : s.online
          ? 'its last status says online'
          : `its last status says offline (${s.reason ?? 'unknown reason'}); the broker delivers the command when it returns, if its session is kept`;
      throw new CliError(
        `no result for command ${x.cmdId} from ${to.device} within ${x.timeoutMs / 1000} s: ${state}`,
        EXIT.TIMEOUT,
      );
    }
    return r.ok ? EXIT.OK : EXIT.FAIL;
  }
  const exp = expected();
  const silent = exp.filter((id) => !results.has(id));
  const failed = [...results.values()].filter((r) => !r.ok).length;
  const summary = `group ${to.group}: ${results.size} answered (${results.size - failed} ok, ${failed} refused); ${exp.length} online member${exp.length === 1 ? '' : 's'} known from births${silent.length ? `, silent: ${silent.slice(0, 20).join(' ')}${silent.length > 20 ? ` and ${silent.length - 20} more` : ''}` : ''}`;
  if (x.json) io.err(summary);
  else io.out(summary);
  if (results.size === 0)
    throw new CliError(
      `no box of group ${to.group} answered command ${x.cmdId} within ${x.timeoutMs / 1000} s`,
      EXIT.TIMEOUT,
    );
  return failed > 0 ? EXIT.FAIL : EXIT.OK;
}
