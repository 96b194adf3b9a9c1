// `loa-provision check`: the on-site self-test. Each line is printed the moment its
// check ends (on a slow SSH link the technician sees progress, not a frozen screen),
// a ✗ always has a hint under it, and the run ends with the totals and the slowest step.
// The report goes to --json PATH, to <stateDir>/last-check.json (so the next technician
// or a remote shell finds it), and with --publish to {root}/d/{id}/check, retained.
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH, type Config } from '../agent/config.js';
import { deviceTopic, publishTo } from '../contract/index.js';
import { AGENT_VERSION } from '../contract/version.js';
import type { SimulatedBoard } from '../firmware-bridge/sim-port.js';
import { errorMessage, EXIT, parseArgs, positionals, secondsFlag, UsageError } from '../cli-kit/index.js';
import { closeClient, forceVersion, type Connected } from './broker.js';
import {
  brokerTarget,
  checkBroker,
  checkCertificate,
  checkConfig,
  checkDisk,
  checkDns,
  checkWritable,
  clockOutcome,
  clockStatus,
  execCommand,
  type ClockStatus,
  type Exec,
} from './checks.js';
import { agentAccount, atomicWrite, type Account } from './files.js';
import { hardwareChecks } from './hardware-checks.js';
import { trustOutcome } from './trust.js';
import type { Ui } from './io.js';
import { msg, type Text } from './text.js';
import {
  buildReport,
  printResult,
  result,
  skip,
  summaryLine,
  timed,
  withProgress,
  type CheckResult,
} from './report.js';

export const CHECK_HELP = `loa-provision check [--config ${DEFAULT_CONFIG_PATH}] [--tone] [--fm 100.0] [--json FILE] [--publish]

Self-test: config, trusted centre keys, clock, disk, state and cache directories,
device certificate, DNS, broker (TLS, credentials), then the IO board (microcontroller,
door, mains, battery, amplifier, speaker line, FM tuner) or the GPIO relays, and the
test tone.

  --tone          play the test chime through the amplifier (heard in the commune!)
  --volume PCT    its level, percent of audio.maxVolume (default 50)
  --tone-file F   another MP3 to play
  --rebaseline    with --tone: replace the commissioning level (the first --tone on a box
                  records it; later ones compare with it and keep it)
  --fm MHZ        frequency for the tuner test (default 100.0)
  --timeout S     broker and DNS timeout (default 20)
  --json FILE     also write the report there (always: <stateDir>/last-check.json)
  --publish       send the report to the centre: {root}/d/{id}/check, retained, QoS 1
  --client-id ID  MQTT client id for this tool (default <clientId>.provision)
  --mqtt-version 5|3.1.1  check with this protocol instead of the config's (default:
                  the config's; a broker that refuses 5 is tried with 3.1.1, and the
                  check fails, since the agent would be refused: it does not fall back)
  --ascii         [ok]/[FAIL] instead of ✓/✗
  --lang vi|en    the language of the lines (default: from LANG / LC_ALL, else English);
                  the report stays English

Stop the agent first for the hardware checks (sudo systemctl stop loa-agent): it holds
the IO board. Exit 0: all passed; 1: a check failed; 78: the config is invalid.`;

const OPTIONS = {
  config: { kind: 'string' },
  json: { kind: 'string' },
  publish: { kind: 'boolean' },
  fm: { kind: 'string' },
  tone: { kind: 'boolean' },
  volume: { kind: 'string' },
  'tone-file': { kind: 'string' },
  rebaseline: { kind: 'boolean' },
  timeout: { kind: 'string' },
  'client-id': { kind: 'string' },
  'mqtt-version': { kind: 'string' },
  ascii: { kind: 'boolean' },
} as const;

export interface CheckDeps {
  /** Where systemd-timesyncd's flag file lives (default /run). */
  runRoot?: string;
  exec?: Exec;
  /** The agent's user for the directory checks; null: do not check (default: `loa` when root). */
  account?: Account | null;
  simBoard?: () => SimulatedBoard;
  now?: () => Date;
}

export async function checkCommand(argv: string[], ui: Ui, deps: CheckDeps = {}): Promise<number> {
  const { opts: f, positional, help } = parseArgs(argv, OPTIONS, 'loa-provision check', { repeated: 'last' });
  positionals(positional, [], 'loa-provision check');
  if (help) {
    ui.out(CHECK_HELP);
    return EXIT.OK;
  }
  if (f['mqtt-version'] !== undefined && f['mqtt-version'] !== '5' && f['mqtt-version'] !== '3.1.1')
    throw new UsageError(ui.t('check.flag.mqttVersion', { v: f['mqtt-version'] }));
  const fmMHz = Number(f.fm ?? '100.0');
  if (!Number.isFinite(fmMHz) || fmMHz < 87.5 || fmMHz > 108)
    throw new UsageError(ui.t('check.flag.fm', { fm: String(f.fm) }));
  const volume = Number(f.volume ?? '50');
  if (f.rebaseline && !f.tone) throw new UsageError(ui.t('check.flag.rebaseline'));
  if (!Number.isFinite(volume) || volume < 0 || volume > 100)
    throw new UsageError(ui.t('check.flag.volume', { volume: String(f.volume) }));
  const timeoutMs = secondsFlag(f.timeout, 'timeout', 20) * 1000;
  const configPath = resolve(f.config ?? DEFAULT_CONFIG_PATH);
  const now = deps.now ?? (() => new Date());
  const started = now();
  const t0 = performance.now();
  const results: CheckResult[] = [];
  const emit = (r: CheckResult) => {
    results.push(r);
    printResult(ui, r);
  };

  ui.out(`loa-provision check ${configPath}`);
  const t = performance.now();
  const cfg = checkConfig(configPath);
  emit(result('config valid', cfg.outcome, performance.now() - t));
  for (const p of cfg.problems ?? []) ui.out(`       ${p}`);
  if (!cfg.config) {
    ui.out(ui.t('check.needConfig'));
    await finish(ui, results, { config: undefined, json: f.json, started, totalMs: performance.now() - t0 });
    return EXIT.CONFIG;
  }
  const c = cfg.config;
  // A box that can run but cannot obey: every schedule and emergency would be refused.
  const cfgArg = configPath === DEFAULT_CONFIG_PATH ? '' : ` --config ${configPath}`;
  emit(result('trusted keys', trustOutcome(c.trustedKeys, cfgArg), 0));
  const account = deps.account === null ? undefined : (deps.account ?? agentAccount());

  let clock: ClockStatus = { synced: null, source: '' };
  emit(
    await timed('clock synchronised', async () => {
      clock = await clockStatus({
        ...(deps.runRoot ? { runRoot: deps.runRoot } : {}),
        ...(deps.exec ? { exec: deps.exec } : {}),
      });
      return clockOutcome(clock, now());
    }),
  );
  emit(await timed('disk space', () => checkDisk(c)));
  emit(await timed('state directory', () => checkWritable(c.stateDir, account)));
  emit(await timed('cache directory', () => checkWritable(c.cacheDir, account)));
  emit(await timed('device certificate', () => checkCertificate(c, now(), dirname(configPath))));

  let connected: Connected | undefined;
  const bt = brokerTarget(c, f['client-id']);
  if (bt.target) bt.target = forceVersion(bt.target, f['mqtt-version']);
  if (!bt.target) {
    emit(result('broker reachable', bt.outcome!, 0));
  } else {
    const target = bt.target;
    let addresses: string[] | undefined;
    emit(
      await timed('DNS', async () => {
        const r = await checkDns(target, Math.min(timeoutMs, 10_000));
        addresses = r.addresses;
        return r.outcome;
      }),
    );
    emit(
      await timed('broker reachable', async () => {
        if (!addresses) return skip(msg('check.needsDns'));
        let notice: Text | undefined;
        const r = await withProgress(ui, msg('check.connecting', { host: target.host, port: target.port }), () =>
          checkBroker(target, { addresses, timeoutMs, clockSynced: clock.synced, onFallback: (l) => (notice = l) }),
        );
        if (notice) ui.err(ui.say(notice));
        connected = r.connected;
        return r.outcome;
      }),
    );
  }

  try {
    await hardwareChecks({
      config: c,
      ui,
      fmMHz,
      tone: f.tone === true,
      volume,
      rebaseline: f.rebaseline === true,
      now,
      ...(f['tone-file'] ? { toneFile: resolve(f['tone-file']) } : {}),
      ...(deps.simBoard ? { simBoard: deps.simBoard } : {}),
      emit,
    });
    const report = await finish(ui, results, { config: c, json: f.json, started, totalMs: performance.now() - t0 });
    const published = f.publish ? await publish(ui, c, connected, report) : true;
    if (c.hardware.board !== 'sim') {
      // The hardware checks ask for the agent to be stopped: do not leave the box silent.
      const active = await (deps.exec ?? execCommand)('systemctl', ['is-active', 'loa-agent']);
      if (active.stdout.trim() === 'inactive') ui.out(ui.t('check.agentStopped'));
    }
    return results.every((r) => r.ok) && published ? EXIT.OK : EXIT.FAIL;
  } finally {
    if (connected) await closeClient(connected.client);
  }
}

async function finish(
  ui: Ui,
  results: CheckResult[],
  o: { config: Config | undefined; json: string | undefined; started: Date; totalMs: number },
) {
  const report = buildReport(o.config?.deviceId ?? null, results, {
    ts: o.started,
    totalMs: o.totalMs,
    agentVersion: AGENT_VERSION,
  });
  ui.out('');
  ui.out(summaryLine(results, o.totalMs, ui.lang));
  const text = JSON.stringify(report, null, 2) + '\n';
  const targets = [
    ...(o.json ? [resolve(o.json)] : []),
    ...(o.config ? [join(o.config.stateDir, 'last-check.json')] : []),
  ];
  for (const path of targets) {
    try {
      atomicWrite(path, text, 0o644);
      ui.out(ui.t('check.report.written', { path }));
    } catch (err) {
      ui.out(ui.t('check.report.notWritten', { path, error: errorMessage(err) }));
    }
  }
  return report;
}

async function publish(
  ui: Ui,
  c: Config,
  connected: Connected | undefined,
  report: ReturnType<typeof buildReport>,
): Promise<boolean> {
  const topic = deviceTopic(c.topicRoot, c.deviceId, 'check');
  if (!connected) {
    ui.out(ui.t('check.report.unreachable', { topic }));
    return false;
  }
  try {
    await publishTo(connected.client, 'check', topic, report);
    ui.out(ui.t('check.report.published', { topic }));
    return true;
  } catch (err) {
    ui.out(ui.t('check.report.notPublished', { topic, error: errorMessage(err) }));
    return false;
  }
}
