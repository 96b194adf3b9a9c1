// `noc simulate`: N light boxes in one process, each with its own MQTT connection, for
// trying the centre's tools and sizing the broker without N Raspberry Pis.
import { readFileSync } from 'node:fs';
import { ID_RE } from '../contract/schedule-doc.js';
import { KEY_ROLES, KeyRing, type KeyRole, type TrustedKey } from '../contract/verify.js';
import { AGENT_VERSION } from '../contract/version.js';
import { errorMessage, Failure, parseArgs, positionals, required, UsageError } from '../cli-kit/index.js';
import { checkId } from './topics.js';
import { newCounters } from './fleet-box-report.js';
import { SimBox } from './fleet-box.js';
import type { Io } from './io.js';
import { BROKER_HELP, BROKER_SPEC, brokerConfig, settleVersion } from './mqtt.js';
import { stopSignal } from './signals.js';
import { ARCHES } from './release-manifest.js';

const SPEC = {
  ...BROKER_SPEC,
  boxes: { kind: 'number', min: 1 },
  heartbeat: { kind: 'number', min: 0.05 },
  groups: { kind: 'string' },
  trust: { kind: 'list' },
  'trust-file': { kind: 'string' },
  prefix: { kind: 'string' },
  ramp: { kind: 'number', min: 1 },
  'play-every': { kind: 'number', min: 0 },
  'session-expiry': { kind: 'number', min: 0 },
  stats: { kind: 'number', min: 0.1 },
  duration: { kind: 'number', min: 0.1 },
  arch: { kind: 'string' },
  'agent-version': { kind: 'string' },
  'update-rollback': { kind: 'string' },
  'update-step': { kind: 'number', min: 0.01 },
} as const;

export const SIMULATE_HELP = `noc simulate --broker URL --boxes N [--heartbeat 30] [--groups g1,g2] [--trust kid=publicKey ...]

Run N simulated boxes in this process, each with its own MQTT connection: retained birth
on connect (new bootId per run) and retained last will (contract §5), a retained heartbeat
every period with a jittered start (§6), events with epoch/seq (a play.started/finished
pair now and then, §7, its end with the output an IO board measured sounding, §9) and
one result per command (§4), verified with the agent's own checks against the trusted
keys. Ctrl-C publishes each box's clean death and exits.

  --boxes N           how many (ids PREFIX0001 ...)
  --prefix P          device id prefix (default sim-)
  --groups g1,g2      groups every box belongs to (default all)
  --heartbeat S       heartbeat period in seconds (default 30; fractions to compress time)
  --trust kid=KEY     a trusted public key (as noc keys prints it); repeat for several
  --trust-file F      trusted keys from a JSON list [{"kid","publicKey","roles"?}] (the agent's trustedKeys)
  --ramp R            connections per second while starting (default 200)
  --play-every S      mean seconds between simulated plays per box (default 600, 0 = none)
  --session-expiry S  MQTT 5 session expiry of each box (default 300: a simulation
                      should not leave a fleet of sessions in the broker for days)
  --stats S           every S seconds, a JSON line of counters on standard error
  --duration S        stop after S seconds

OTA (docs/ota.md), for trying noc rollout: an update command signed by a key the
trust list gives the role release is answered as a box does (result queued, then
update.started, update.installed, a restart on trial with the new agentVersion, then
update.committed, or a restart on the old version and update.rolledback).
  --arch A            the arch every box's birth names (default arm64)
  --agent-version V   the version the boxes run at start (default ${AGENT_VERSION}-sim)
  --update-rollback L boxes (comma-separated ids) whose new version "exits at start": rolled back
  --update-step S     seconds per simulated step (install, then trial; default 1)

${BROKER_HELP}`;

export function parseTrust(list: readonly string[], file: string | undefined): TrustedKey[] {
  const keys: TrustedKey[] = [];
  for (const t of list) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new UsageError(`--trust "${t}" must be kid=publicKey (the JSON noc keys prints has both)`);
    keys.push({ kid: t.slice(0, eq), publicKey: t.slice(eq + 1) });
  }
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Failure(`--trust-file ${file}: ${errorMessage(err)}`);
    }
    const arr = Array.isArray(parsed) ? parsed : [parsed];
    for (const k of arr as { kid?: unknown; publicKey?: unknown; roles?: unknown }[]) {
      if (
        k?.roles !== undefined &&
        (!Array.isArray(k.roles) ||
          k.roles.length === 0 ||
          k.roles.some((r) => !(KEY_ROLES as readonly unknown[]).includes(r)))
      ) {
        throw new UsageError(
          `--trust-file ${file}: key ${String(k.kid)}: roles ${JSON.stringify(k.roles)} is not a list of ${KEY_ROLES.join(', ')}`,
        );
      }
      keys.push({
        kid: String(k?.kid),
        publicKey: String(k?.publicKey),
        ...(k?.roles ? { roles: k.roles as KeyRole[] } : {}),
      });
    }
  }
  for (const k of keys) {
    if (!ID_RE.test(k.kid)) throw new UsageError(`trusted key id "${k.kid}" is not valid (expected ${ID_RE.source})`);
    if (!/^[A-Za-z0-9_-]{43}$/.test(k.publicKey))
      throw new UsageError(
        `trusted key ${k.kid}: "${k.publicKey}" is not a raw Ed25519 public key (43 base64url characters, as noc keys prints)`,
      );
  }
  return keys;
}

export async function simulateCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc simulate');
  if (help) return (io.out(SIMULATE_HELP), 0);
  positionals(positional, [], 'noc simulate');
  const given = brokerConfig(opts, process.env, io.err);
  const n = Math.floor(required(opts.boxes, '--boxes', '100'));
  const prefix = opts.prefix ?? 'sim-';
  const groups = (opts.groups ?? 'all')
    .split(',')
    .filter(Boolean)
    .map((g) => checkId(g, '--groups'));
  const trusted = parseTrust(opts.trust ?? [], opts['trust-file']);
  if (trusted.length === 0) io.err('noc simulate: no --trust key: every command will be refused as unknown-key');
  const keys = new KeyRing(trusted);
  const rollback = new Set((opts['update-rollback'] ?? '').split(',').filter(Boolean));
  const arch = opts.arch ?? 'arm64';
  if (!(ARCHES as readonly string[]).includes(arch))
    throw new UsageError(`--arch ${arch}: expected ${ARCHES.join(', ')}`);
  const width = Math.max(4, String(n).length);
  const ids = Array.from({ length: n }, (_, i) =>
    checkId(`${prefix}${String(i + 1).padStart(width, '0')}`, '--prefix'),
  );
  // One connection finds the protocol the broker speaks (5, else 3.1.1): every box then uses it.
  const cfg = await settleVersion(given);
  const counters = newCounters();
  const heartbeatMs = (opts.heartbeat ?? 30) * 1000;
  const boxes = ids.map(
    (deviceId) =>
      new SimBox({
        url: cfg.url,
        mqtt: cfg.options,
        root: cfg.root,
        deviceId,
        groups,
        heartbeatMs,
        playEveryMs: (opts['play-every'] ?? 600) * 1000,
        sessionExpiryS: opts['session-expiry'] ?? 300,
        keys,
        counters,
        agentVersion: opts['agent-version'] ?? `${AGENT_VERSION}-sim`,
        arch,
        updateOutcome: (id) => (rollback.has(id) ? 'rollback' : 'commit'),
        updateStepMs: (opts['update-step'] ?? 1) * 1000,
      }),
  );

  let stopped = false;
  const signal = stopSignal(opts.duration);
  const stop = signal.done.then((why) => {
    stopped = true;
    return why;
  });
  // Ramp: `ramp` connections per second, in 20 ms slices, so the broker is not hammered.
  const ramp = opts.ramp ?? 200;
  const t0 = performance.now();
  let failures = 0;
  let firstError = '';
  const starting: Promise<void>[] = [];
  for (let i = 0; i < boxes.length && !stopped; i++) {
    const due = t0 + (i / ramp) * 1000;
    const wait = due - performance.now();
    if (wait > 20) await new Promise((r) => setTimeout(r, wait));
    starting.push(
      boxes[i]!.start().catch((err: unknown) => {
        firstError ||= errorMessage(err);
        // The box keeps retrying (mqtt.js reconnects); say it once per box, at most five times.
        if (failures++ < 5) io.err(`noc simulate: ${ids[i]} cannot connect (retrying): ${errorMessage(err)}`);
      }),
    );
    // Nothing at all connects: the broker is wrong, not busy. Stop early with one line.
    if (i === Math.min(boxes.length, 20) - 1) {
      await Promise.race([Promise.all(starting), stop]);
      if (failures === starting.length) {
        signal.dispose();
        await Promise.all(boxes.slice(0, i + 1).map((b) => b.stop(500)));
        throw new Failure(`cannot connect to ${cfg.url}: ${firstError}`);
      }
    }
  }
  await Promise.race([Promise.all(starting), stop]);
  if (!stopped)
    io.err(
      `ready: ${counters.connected} of ${n} boxes connected in ${((performance.now() - t0) / 1000).toFixed(1)} s (heartbeat ${heartbeatMs / 1000} s, ${((n / heartbeatMs) * 1000).toFixed(1)} heartbeats/s)`,
    );

  let statsTimer: NodeJS.Timeout | undefined;
  if (opts.stats) {
    let last = { t: performance.now(), ...counters };
    statsTimer = setInterval(() => {
      const t = performance.now();
      const dt = (t - last.t) / 1000;
      const sent = counters.heartbeats + counters.events + counters.births + counters.results;
      const lastSent = last.heartbeats + last.events + last.births + last.results;
      io.err(JSON.stringify({ stats: true, ...counters, sent, perS: Math.round((sent - lastSent) / dt) }));
      last = { t, ...counters };
    }, opts.stats * 1000);
  }
  await stop;
  clearInterval(statsTimer);
  // Clean deaths, a few hundred at a time (each waits for its PUBACK).
  for (let i = 0; i < boxes.length; i += 500) await Promise.all(boxes.slice(i, i + 500).map((b) => b.stop()));
  io.err(`noc simulate: ${n} boxes stopped (clean deaths published)`);
  return failures === n ? 1 : 0;
}
