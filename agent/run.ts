// The agent running: the lifecycle of one process around the composed Agent (compose/):
// systemd's notify and watchdog, SIGTERM/SIGINT, the `restart` and `reboot` commands, the
// clean-stop mark for the launcher. loa-agent (main.ts) and the demo (demo/main.ts) both
// run the agent through runAgent.
import { mkdirSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.js';
import { EXIT, errorCode } from './errors.js';
import type { Logger } from './log.js';
import { redact } from './domain/redact.js';
import { Agent } from './compose/agent.js';
import { createNotifier } from './adapters/sd-notify.js';
import { systemClock } from './adapters/clock.js';
import { HealthWatchdog, eventLoopLagProbe, linkLoopProbe, progressProbe } from './runtime/health.js';

export interface RunOptions {
  config: Config;
  log: Logger;
  /** The file the config came from (the `config` command rewrites it); absent for the demo's. */
  configPath?: string;
  /** Run after the agent stopped (the demo's broker and centre). */
  afterStop?: () => Promise<void>;
}

/** Run the agent until SIGTERM/SIGINT or a lifecycle command; resolves to the exit code. */
export async function runAgent(o: RunOptions): Promise<number> {
  const { config, log } = o;

  const crash = (err: unknown) => {
    log.fatal({ code: errorCode(err), err }, 'uncaught error; exiting so systemd restarts the agent');
    process.exit(EXIT.SOFTWARE);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);

  // Before anything spawns children (mpg123, gpioset): they must not inherit NOTIFY_SOCKET.
  const notifier = createNotifier({ log: log.child({ mod: 'systemd' }), unsetEnvironment: true });
  const agent = new Agent({
    config,
    log,
    onLifecycle: (action) => lifecycle(action),
    underSystemd: notifier.enabled || process.env.INVOCATION_ID !== undefined,
    ...(o.configPath !== undefined ? { configPath: o.configPath } : {}),
  });
  const health = healthWatchdog(notifier, agent, config, log);
  const exit = deferred<number>();
  let stopping = false;
  const shutdown = (why: string, code: number = EXIT.OK) => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'stopping');
    void notifier.stopping(`stopping (${why})`);
    health?.stop();
    agent
      .stop()
      .then(() => o.afterStop?.())
      .then(() => notifier.flush())
      .then(
        () => {
          markCleanStop(log);
          exit.resolve(code);
        },
        (err: unknown) => {
          log.error({ code: errorCode(err), err }, 'error while stopping');
          exit.resolve(EXIT.SOFTWARE);
        },
      );
  };
  /** A `restart` or `reboot` command the agent answered (or an update's restart into the new release). */
  function lifecycle(action: 'restart' | 'reboot'): void {
    if (action === 'restart') return shutdown('restart command', EXIT.TEMPFAIL);
    // reboot: silence first, then ask loa-reboot.path (a root-less unit whose service
    // reboots the host); systemd stops us, amp off, as part of the reboot.
    void agent.playback.stopAll('stopped').then(() => {
      try {
        const dir = process.env.RUNTIME_DIRECTORY ?? '/run/loa';
        mkdirSync(dir, { recursive: true });
        writeFileSync(
          join(dir, 'reboot-request.tmp'),
          `reboot requested by a signed command at ${new Date().toISOString()}\n`,
        );
        renameSync(join(dir, 'reboot-request.tmp'), join(dir, 'reboot-request'));
        log.warn({ dir }, 'reboot requested');
      } catch (err) {
        log.error({ code: 'INTERNAL', err }, 'reboot request could not be written; restarting the agent instead');
        shutdown('reboot command (fallback: restart)', EXIT.TEMPFAIL);
      }
    });
  }

  await agent.start();
  // A restart asked for during start (an update resumed at start switches at once) is
  // already stopping the agent: nothing more to announce or watch.
  if (!stopping) {
    await notifier.ready(agent.summaryLine());
    health?.start();
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return await exit.promise;
}

/**
 * The watchdog is fed only while the event loop, the scheduler and the MQTT loop all
 * make progress; checking at a quarter of WatchdogSec, three bad checks in a row restart us.
 * None without systemd's watchdog.
 */
function healthWatchdog(
  notifier: ReturnType<typeof createNotifier>,
  agent: Agent,
  config: Config,
  log: Logger,
): HealthWatchdog | null {
  const wd = notifier.watchdogIntervalMs();
  if (!notifier.enabled || wd === null) return null;
  return new HealthWatchdog({
    notifier,
    intervalMs: Math.floor(wd / 2),
    probes: [
      eventLoopLagProbe({ maxLagMs: 5000, clock: systemClock }),
      progressProbe({
        name: 'scheduler',
        lastProgressMono: () => agent.scheduler.lastWakeMono,
        maxAgeMs: 90_000,
        clock: systemClock,
      }),
      linkLoopProbe({
        loop: () => agent.link.loop,
        maxStepGapMs: Math.max(config.mqtt.reconnect.maxS, config.mqtt.connectTimeoutS) * 1000 + 60_000,
        clock: systemClock,
      }),
    ],
    summary: () => agent.summaryLine(),
    log: log.child({ mod: 'health' }),
    clock: systemClock,
  });
}

/** A promise and its resolve, apart (Promise.withResolvers, which Node 20 lacks). */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * A clean stop on probation (docs/ota.md §3): tell the launcher this end was no crash, so
 * a release restarted by systemd, a restart command or an update is not rolled back for it.
 */
function markCleanStop(log: { warn: (o: object, m: string) => void }): void {
  const ota = process.env.LOA_OTA_DIR;
  if (process.env.LOA_LAUNCHER !== '1' || !ota || !existsSync(join(ota, 'probation'))) return;
  try {
    writeFileSync(join(ota, 'clean'), `${new Date().toISOString()}\n`);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not mark the clean stop for the launcher');
  }
}

/** Exit with `code` once pino has flushed; a crash is written outside pino, redacted. */
export function exitWhenDone(run: Promise<number>, tool: string): void {
  run.then(
    (code) => {
      process.exitCode = code;
      // pino may still flush; let the event loop drain instead of process.exit().
      setTimeout(() => process.exit(code), 500).unref();
    },
    (err: unknown) => {
      // Outside pino, so redacted here: a crash inside a download may carry its URL.
      process.stderr.write(redact(`${tool}: fatal (${errorCode(err)}): ${(err as Error)?.stack ?? String(err)}\n`));
      process.exit(EXIT.SOFTWARE);
    },
  );
}
