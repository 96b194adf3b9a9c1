// systemd service notifications (sd_notify(3): READY=1, STATUS=, WATCHDOG=1, STOPPING=1)
// without a native module.
//
// - Node cannot send on an AF_UNIX datagram socket, so every message is one run of
//   systemd-notify(1) (about 17 ms, FINDINGS.md). Since systemd 246 it ends each message
//   with a barrier: it waits until the manager has processed the message, so it never
//   exits before systemd looked up the sender's PID (the race that made systemd drop
//   messages from short-lived helpers).
// - Unprivileged, the datagram's sender is the helper's PID, not ours: the unit needs
//   NotifyAccess=all. `--pid=<our pid>` adds MAINPID=<our pid>, which keeps systemd's
//   idea of the main process on the agent whatever process the message came from.
// - At most one helper at a time. What is asked while one runs is merged into the next
//   message (the latest STATUS wins), so a wedged helper cannot pile up processes; a
//   helper that outlives `timeoutMs` is killed (its barrier alone gives up after 5 s).
// - Never throws and never rejects. A failure is logged once per distinct reason, and
//   once more when sending works again.
// - Without NOTIFY_SOCKET (not run by systemd: a terminal, `npm start`, tests) it is a
//   no-op with `enabled: false` and spawns nothing.
import { spawn } from 'node:child_process';
import type { Logger } from '../log.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';

export interface Notifier {
  /** NOTIFY_SOCKET was set: messages are sent. */
  readonly enabled: boolean;
  /** READY=1 (and STATUS= if given): start-up is complete. */
  ready(status?: string): Promise<void>;
  /** STATUS=<one line>, shown by `systemctl status`. */
  status(text: string): Promise<void>;
  /** WATCHDOG=1: the keep-alive ping. */
  watchdog(): Promise<void>;
  /** STOPPING=1 (and STATUS= if given): shutdown has begun. */
  stopping(status?: string): Promise<void>;
  /** Longest time between two watchdog pings (half of WATCHDOG_USEC), or null when systemd expects none. */
  watchdogIntervalMs(): number | null;
  /** Resolves when nothing is queued or being sent. */
  flush(): Promise<void>;
}

export interface NotifierOptions {
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** default 'systemd-notify' (looked up in PATH) */
  bin?: string;
  /** The agent's PID: WATCHDOG_PID must match it, and it is sent as MAINPID; default process.pid. */
  pid?: number;
  /** A helper still running after this long is killed; default 10 s. */
  timeoutMs?: number;
  /**
   * Remove NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from `env` once read, so the
   * processes the agent starts (mpg123, gpioset) do not inherit them: with
   * NotifyAccess=all anything in the cgroup that pings would feed the watchdog for us.
   */
  unsetEnvironment?: boolean;
  log: Logger;
  /** The helper's timeout runs on this clock (default the system clock; tests step a ManualClock). */
  clock?: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
}

/** The longest STATUS= we send; systemctl status shows one line. */
const STATUS_MAX = 200;

interface Batch {
  assignments: Map<string, string>;
  done: (() => void)[];
}

export function createNotifier(o: NotifierOptions): Notifier {
  const env = o.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  const pid = o.pid ?? process.pid;
  const intervalMs = watchdogInterval(env, pid);
  const childEnv: NodeJS.ProcessEnv = { ...env };
  if (o.unsetEnvironment) {
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
  }
  if (!socket) return disabledNotifier();

  const bin = o.bin ?? 'systemd-notify';
  const timeoutMs = o.timeoutMs ?? 10_000;
  const clock = o.clock ?? systemClock;
  let next: Batch = { assignments: new Map(), done: [] };
  let busy = false; // a helper runs, or a send is scheduled for the next turn of the loop
  let idleWaiters: (() => void)[] = [];
  let lastFailure = '';

  const queue = (key: string, value: string): Promise<void> =>
    new Promise((resolve) => {
      next.assignments.set(key, value);
      next.done.push(resolve);
      if (!busy) {
        busy = true;
        // Calls made in the same turn (WATCHDOG=1 and STATUS= of one health tick) share one helper.
        setImmediate(sendNext);
      }
    });

  function sendNext(): void {
    if (next.assignments.size === 0) {
      busy = false;
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
      return;
    }
    const batch = next;
    next = { assignments: new Map(), done: [] };
    void runHelper(batch.assignments).then((failure) => {
      if (failure !== null && failure !== lastFailure) {
        o.log.warn(
          { code: 'SD_NOTIFY', err: failure, sent: [...batch.assignments.keys()] },
          'systemd notification failed',
        );
      } else if (failure === null && lastFailure !== '') {
        o.log.info({ code: 'SD_NOTIFY' }, 'systemd notifications are delivered again');
      }
      lastFailure = failure ?? '';
      for (const d of batch.done) d();
      sendNext();
    });
  }

  /** Resolves with null on success, else why not. */
  function runHelper(assignments: Map<string, string>): Promise<string | null> {
    const args = [`--pid=${pid}`];
    for (const [k, v] of assignments) {
      if (k === 'READY') args.push('--ready');
      else if (k === 'STATUS') args.push(`--status=${v}`);
      else args.push(`${k}=${v}`);
    }
    return new Promise((resolve) => {
      let settled = false;
      let stderr = '';
      // let: finish() may run (spawn failed) before the timer is armed, and reads it.
      // eslint-disable-next-line prefer-const
      let timer: TimerHandle | undefined;
      const finish = (failure: string | null) => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        resolve(failure);
      };
      let child;
      try {
        child = spawn(bin, args, { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (err) {
        finish(`cannot run ${bin}: ${(err as Error).message}`);
        return;
      }
      timer = clock.setTimeout(
        () => {
          child.kill('SIGKILL');
          finish(`${bin} did not finish within ${timeoutMs} ms`);
        },
        timeoutMs,
        { unref: true },
      );
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (s: string) => {
        if (stderr.length < 500) stderr += s;
      });
      child.on('error', (err) => finish(`cannot run ${bin}: ${err.message}`));
      child.on('close', (code, signal) => {
        if (code === 0) finish(null);
        else finish(`${bin} exited with ${code ?? signal}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
      });
    });
  }

  return {
    enabled: true,
    ready: (status) => {
      if (status !== undefined) void queue('STATUS', oneLine(status));
      return queue('READY', '1');
    },
    status: (text) => queue('STATUS', oneLine(text)),
    watchdog: () => queue('WATCHDOG', '1'),
    stopping: (status) => {
      if (status !== undefined) void queue('STATUS', oneLine(status));
      return queue('STOPPING', '1');
    },
    watchdogIntervalMs: () => intervalMs,
    flush: () => (busy ? new Promise<void>((resolve) => idleWaiters.push(resolve)) : Promise.resolve()),
  };
}

/**
 * As sd_watchdog_enabled(3): WATCHDOG_USEC set, and WATCHDOG_PID (if set) is us. Half
 * the timeout is the latest a ping may go out with room for a slow helper; null without
 * NOTIFY_SOCKET (pings would go nowhere) or when the variables are unusable.
 */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number = process.pid): number | null {
  if (!env.NOTIFY_SOCKET) return null;
  const usecText = env.WATCHDOG_USEC;
  if (usecText === undefined || !/^\d+$/.test(usecText)) return null;
  const usec = Number(usecText);
  if (!Number.isSafeInteger(usec) || usec <= 0) return null;
  const wpid = env.WATCHDOG_PID;
  if (wpid !== undefined && wpid !== '' && Number(wpid) !== pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

/** A STATUS= value on one line: a newline would start another assignment (READY=1, say). */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it removes
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > STATUS_MAX ? `${flat.slice(0, STATUS_MAX - 1)}…` : flat;
}

function disabledNotifier(): Notifier {
  const done = () => Promise.resolve();
  return {
    enabled: false,
    ready: done,
    status: done,
    watchdog: done,
    stopping: done,
    watchdogIntervalMs: () => null,
    flush: done,
  };
}
