// `noc rollout`: a signed release (noc release) to a group of boxes, in stages, over
// MQTT. The rules (who, in which stage, what counts as done or failed, when to stop) are
// pure, in rollout-plan.ts; this file connects, watches the fleet (watch-model.ts: the
// retained births give each box's version, arch and trial), sends one signed `update`
// command per box (docs/ota.md) and prints what happens.
//
// Everything is subscribed (and acknowledged) before the first command goes out: a box
// on a LAN answers faster than a subscription made afterwards.
import { createPublicKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
import { COMMAND_TYP, deviceTopic, fleetFilter, parseDeviceTopic, publishTo, signDoc } from '../contract/index.js';
import type { TrustedKey } from '../contract/verify.js';
import { loadSigningKey, type SigningKey } from './docs.js';
import type { Io } from './io.js';
import { downgradeRefusal } from '../contract/versions.js';
import { BROKER_HELP, BROKER_SPEC, brokerConfig, closeClient, connect } from './mqtt.js';
import { updateArgs, verifyManifest, type Arch, type Manifest } from './release-manifest.js';
import {
  Stage,
  parseDuration,
  parseShare,
  planRollout,
  versionTable,
  type FleetBox,
  type Transition,
} from './rollout-plan.js';
import { stopSignal } from './signals.js';
import { parseTrust } from './simulate.js';
import { checkId } from './topics.js';
import { FleetModel } from './watch-model.js';
import type { Json } from './watch-row.js';

const SPEC = {
  ...BROKER_SPEC,
  manifest: { kind: 'string' },
  trusted: { kind: 'string' },
  group: { kind: 'string' },
  key: { kind: 'string' },
  kid: { kind: 'string' },
  first: { kind: 'string' },
  'stop-at': { kind: 'string' },
  'stage-timeout': { kind: 'string' },
  'wait-s': { kind: 'number', min: 0, max: 86_400 },
  'trial-s': { kind: 'number', min: 30, max: 1800 },
  ttl: { kind: 'number', min: 60, max: 86_400 },
  settle: { kind: 'number', min: 0 },
  'dry-run': { kind: 'boolean' },
  'allow-downgrade': { kind: 'boolean' },
} as const;

export const ROLLOUT_HELP = `noc rollout --broker URL --manifest release.jws --trusted keys.json --group G --key release.key.pem [--kid KID]
            [--first 10%] [--stop-at 20%] [--stage-timeout 15m] [--wait-s 3600] [--trial-s 180] [--allow-downgrade] [--dry-run]

Update a group to the release a manifest names (noc release), in two stages: first
--first of the boxes to update (at least one), chosen stably by sha256 of the device id
(the same boxes go first on every run), then the rest. Boxes to update: the group's
online (not stale) boxes not on the version, whose birth names an arch the release has; the others
are listed with the reason. Each gets an update command for its arch (with the delta
when it runs the delta's base), signed with --key, which the boxes must trust with the
role release. A box's outcome: update.committed (ok); a refusal, update.failed or
update.rolledback (failed); no news for --stage-timeout (timed out: failed). A stage
whose failed share exceeds --stop-at stops the rollout at once (exit 1). The version
table of the group is printed at the start and at the end. Running it again resumes:
boxes already on the version are left alone.

  --manifest FILE       the signed release manifest
  --trusted FILE        trusted keys [{"kid","publicKey","roles"}]: the manifest must be
                        signed by a key with the role release, and --key must be one
  --group G             the group to update
  --first S             share of the first stage (10%, 0.1; default 10%)
  --stop-at S           stop when more than this share of a stage fails (default 20%)
  --stage-timeout D     a box silent this long (no update event, no heartbeat showing the
                        job) times out: 90s, 15m, 1h (default 15m)
  --wait-s S            how long a box may wait for a quiet window (default 3600)
  --trial-s S           the trial deadline on the box (default 180, 30..1800)
  --ttl S               the command expires S seconds after it is sent (default 600)
  --settle S            seconds to read the retained births before planning (default 2)
  --allow-downgrade     also send to boxes on a newer version, with args.allowDowngrade
                        (without it they are skipped: boxes refuse an older release)
  --dry-run             print the table and the plan, send nothing

${BROKER_HELP}`;

/** The release key must be one the boxes trust with the role release: checked before anything is sent. */
function checkReleaseKey(key: SigningKey, trusted: readonly TrustedKey[], file: string): void {
  const t = trusted.find((k) => k.kid === key.kid);
  if (!t) throw new Failure(`--key: kid ${key.kid} is not in ${file}: boxes would refuse every update as unknown-key`);
  if (!t.roles?.includes('release'))
    throw new Failure(
      `--key: ${key.kid} is not trusted with the role release in ${file} (roles: ${(t.roles ?? ['schedule', 'command']).join(', ')}): boxes would refuse every update`,
    );
  if (createPublicKey(key.key).export({ format: 'jwk' }).x !== t.publicKey)
    throw new Failure(`--key: the private key does not match the public key of ${key.kid} in ${file}`);
}

function share(v: string | undefined, dflt: number, flag: string): number {
  if (v === undefined) return dflt;
  const s = parseShare(v);
  if (s === null) throw new UsageError(`${flag} ${v}: expected a share such as 10% or 0.1`);
  return s;
}

function fleetOf(model: FleetModel, now: number): FleetBox[] {
  // A stale box (silent for three heartbeat periods, no death seen) would only time out and count against its stage.
  return model.rows(now).map((r) => ({
    deviceId: r.deviceId,
    online: r.status === 'online',
    presence: r.status === 'stale' ? `stale (silent ${r.silentS ?? '?'} s)` : r.status,
    groups: r.groups,
    agentVersion: r.agentVersion,
    arch: r.arch,
    trial: r.trial,
  }));
}

function membersOf(model: FleetModel, group: string): FleetBox[] {
  return fleetOf(model, Date.now()).filter((b) => b.groups.includes(group));
}

function printTable(io: Io, title: string, members: readonly FleetBox[]): void {
  io.out(title);
  io.out(`  ${'version'.padEnd(20)} ${'boxes'.padStart(6)} ${'online'.padStart(6)} ${'trial'.padStart(6)}`);
  for (const r of versionTable(members))
    io.out(
      `  ${r.version.padEnd(20)} ${String(r.boxes).padStart(6)} ${String(r.online).padStart(6)} ${String(r.trial).padStart(6)}`,
    );
  if (members.length === 0) io.out('  (no box of the group is known)');
}

const clock = () => new Date().toISOString().slice(11, 19);

export async function rolloutCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc rollout');
  if (help) return (io.out(ROLLOUT_HELP), 0);
  positionals(positional, [], 'noc rollout');
  const cfg = brokerConfig(opts, process.env, io.err);
  const group = checkId(required(opts.group, '--group', 'c26734'), '--group');
  const trustedFile = required(opts.trusted, '--trusted', 'keys.json');
  const trusted = parseTrust([], trustedFile);
  const manifestFile = required(opts.manifest, '--manifest', 'release-1.2.0.jws');
  let jws: string;
  try {
    jws = readFileSync(manifestFile, 'utf8');
  } catch (err) {
    throw new Failure(`--manifest ${manifestFile}: ${errorMessage(err)}`);
  }
  const { manifest: m, kid } = verifyManifest(jws, trusted, manifestFile);
  const key = loadSigningKey(required(opts.key, '--key', 'release-2026.key.pem'), opts.kid);
  checkReleaseKey(key, trusted, trustedFile);
  const first = share(opts.first, 0.1, '--first');
  const stopAt = share(opts['stop-at'], 0.2, '--stop-at');
  const silenceMs = parseDuration(opts['stage-timeout'] ?? '15m');
  if (silenceMs === null || silenceMs <= 0)
    throw new UsageError(`--stage-timeout ${opts['stage-timeout']}: expected a duration such as 90s, 15m or 1h`);
  const waitS = opts['wait-s'] ?? 3600;
  const trialS = opts['trial-s'] ?? 180;
  const ttlS = opts.ttl ?? 600;
  io.err(
    `release ${m.version} (${Object.keys(m.artifacts).join(', ')}), manifest signed by ${kid}, issued ${m.issuedAt}`,
  );

  const stop = stopSignal();
  let stage: Stage | undefined;
  const report = (ts: Transition[]) => {
    for (const t of ts)
      io.out(`${clock()} ${t.deviceId}: ${t.outcome ? `${t.outcome.toUpperCase()} ` : ''}${t.detail}`);
  };
  const model = new FleetModel({
    root: cfg.root,
    observe: (o) => {
      if (!stage) return;
      if (o.leaf === 'events' && o.fresh) report(stage.event(o.deviceId, o.msg, o.now));
      if (o.leaf !== 'events' && !o.retained && workingOn(o.msg.update, m.version)) stage.progress(o.deviceId, o.now);
    },
  });
  const client = await connect(cfg, {}, (c) =>
    c.on('message', (topic, payload, packet) => {
      const now = Date.now();
      const where = parseDeviceTopic(cfg.root, topic);
      if (where?.leaf === 'cmd/result') {
        if (!stage) return;
        try {
          report(stage.result(where.deviceId, JSON.parse(payload.toString('utf8')) as Json, now));
        } catch {
          /* not JSON: not an answer to us */
        }
        return;
      }
      model.apply(topic, payload, now, { retain: packet.retain });
    }),
  );
  try {
    const filters = (['status', 'heartbeat', 'events', 'cmd/result'] as const).map((leaf) =>
      fleetFilter(cfg.root, leaf),
    );
    const granted = await client.subscribeAsync(filters, { qos: 1 }).catch((err: unknown) => {
      throw new Failure(`subscribe to ${filters.join(', ')} failed: ${errorMessage(err)}`);
    });
    const refused = granted.filter((g) => g.qos >= 0x80);
    if (refused.length)
      throw new Failure(
        `the broker refused the subscription to ${refused.map((g) => g.topic).join(', ')} (check its ACL)`,
      );
    await new Promise((r) => setTimeout(r, (opts.settle ?? 2) * 1000));

    const plan = planRollout(fleetOf(model, Date.now()), {
      group,
      version: m.version,
      arches: Object.keys(m.artifacts),
      firstShare: first,
      allowDowngrade: opts['allow-downgrade'] === true,
    });
    printTable(io, `group ${group} before the rollout of ${m.version}:`, plan.members);
    for (const s of plan.skipped) io.out(`  skipped ${s.deviceId}: ${s.reason}`);
    const todo = plan.stages.flat().length;
    io.out(
      `${plan.current.length} already on ${m.version}, ${plan.skipped.length} skipped, ${todo} to update: ${plan.stages.map((s, i) => `stage ${i + 1} ${s.length}`).join(', ') || 'nothing'}`,
    );
    if (opts['dry-run']) {
      plan.stages.forEach((s, i) => io.out(`stage ${i + 1}: ${s.join(' ')}`));
      return EXIT.OK;
    }
    const byId = new Map(plan.members.map((b) => [b.deviceId, b]));
    for (const [i, ids] of plan.stages.entries()) {
      stage = new Stage({ version: m.version, silenceMs, maxMs: (waitS + trialS) * 1000 + 2 * silenceMs, stopAt });
      io.out(`${clock()} stage ${i + 1} of ${plan.stages.length}: ${ids.length} box${ids.length === 1 ? '' : 'es'}`);
      for (const id of ids) {
        const b = byId.get(id)!;
        const cmd = updateCommand(m, b, { waitS, trialS, ttlS, allowDowngrade: opts['allow-downgrade'] === true });
        stage.sent(id, cmd.id, Date.now());
        io.out(
          `${clock()} ${id}: sent update ${cmd.id} (${b.arch}, ${b.agentVersion} -> ${m.version}${'delta' in cmd.args ? ', delta' : ''})`,
        );
        await publishTo(client, 'cmd', deviceTopic(cfg.root, id, 'cmd'), signDoc(cmd, key, COMMAND_TYP)).catch(
          (err: unknown) => {
            throw new Failure(`publish to ${deviceTopic(cfg.root, id, 'cmd')} refused: ${errorMessage(err)}`);
          },
        );
      }
      const v = await decided(stage, report, stop.done);
      // Both taken now, with the verdict: boxes still reporting meanwhile change neither.
      const c = stage.counts();
      const pendingIds = stage.pending();
      io.out(
        `${clock()} stage ${i + 1}: ${c.ok} ok, ${c.failed} failed, ${c.timeout} timed out, ${c.pending} pending: ${v.why}`,
      );
      if (v.decision !== 'continue') {
        await new Promise((r) => setTimeout(r, 500));
        printTable(io, `group ${group} now:`, membersOf(model, group));
        if (v.decision === 'interrupted')
          throw new CliError(
            `interrupted in stage ${i + 1}; the ${c.pending} box(es) already sent carry on by themselves`,
            130,
          );
        throw new CliError(
          `stopped after stage ${i + 1} of ${plan.stages.length}: ${v.why}${c.pending ? `; still pending: ${pendingIds.slice(0, 20).join(' ')}` : ''}`,
          EXIT.FAIL,
        );
      }
    }
    await new Promise((r) => setTimeout(r, Math.min(2000, (opts.settle ?? 2) * 1000)));
    printTable(io, `group ${group} after the rollout of ${m.version}:`, membersOf(model, group));
    return EXIT.OK;
  } finally {
    stop.dispose();
    await closeClient(client);
  }
}

/** An update field (birth or heartbeat) that shows the box working on this version. */
function workingOn(update: unknown, version: string): boolean {
  const u = update as { pending?: { version?: unknown }; trial?: { version?: unknown } } | null | undefined;
  return u?.pending?.version === version || u?.trial?.version === version;
}

function updateCommand(
  m: Manifest,
  b: FleetBox,
  o: { waitS: number; trialS: number; ttlS: number; allowDowngrade: boolean },
) {
  const now = Date.now();
  const args = updateArgs(m, b.arch as Arch, b.agentVersion, o)!;
  // Only where it is one: a box on an older version needs no permission to go up.
  if (o.allowDowngrade && b.agentVersion !== null && downgradeRefusal(m.version, b.agentVersion, false))
    args.allowDowngrade = true;
  return {
    type: 'command',
    id: randomUUID(),
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + o.ttlS * 1000).toISOString(),
    target: { devices: [b.deviceId] },
    action: 'update',
    args,
  };
}

/** Ticks the stage every second until it is decided (or Ctrl-C). */
async function decided(
  stage: Stage,
  report: (t: Transition[]) => void,
  interrupted: Promise<unknown>,
): Promise<{ decision: 'continue' | 'stop' | 'interrupted'; why: string }> {
  let stopped = false;
  void interrupted.then(() => (stopped = true));
  for (;;) {
    report(stage.tick(Date.now()));
    const v = stage.verdict();
    if (v.decision !== 'wait') return v as { decision: 'continue' | 'stop'; why: string };
    if (stopped) return { decision: 'interrupted', why: v.why };
    await new Promise((r) => setTimeout(r, 200));
  }
}
