// The notifier against a real AF_UNIX datagram socket (python3 plays systemd's end), and
// its rules: nothing without NOTIFY_SOCKET, one helper at a time, never a throw.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { createNotifier, watchdogInterval } from '../../agent/adapters/sd-notify.js';
import { notifyReceiverUnavailable, startNotifyReceiver } from '../helpers/notify-receiver.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import { ManualClock } from '../fakes/manual-clock.js';

const unavailable = notifyReceiverUnavailable();
if (unavailable && process.env.CI === 'true') throw new Error(unavailable);

function capturingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug', base: undefined },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { log, lines };
}

function script(dir: string, name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

test('watchdog interval is half of WATCHDOG_USEC, only for this PID and with a socket', () => {
  const s = { NOTIFY_SOCKET: '/run/systemd/notify' };
  assert.equal(watchdogInterval({ ...s, WATCHDOG_USEC: '30000000' }, 42), 15_000);
  assert.equal(watchdogInterval({ ...s, WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 15_000);
  assert.equal(
    watchdogInterval({ ...s, WATCHDOG_USEC: '30000000', WATCHDOG_PID: '43' }, 42),
    null,
    'meant for another process',
  );
  assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 42), null, 'no socket to ping');
  assert.equal(watchdogInterval(s, 42), null, 'no watchdog configured');
  for (const bad of ['', '0', '-5', '3e7', 'abc', '30s'])
    assert.equal(watchdogInterval({ ...s, WATCHDOG_USEC: bad }, 42), null, bad);
});

test('without NOTIFY_SOCKET nothing is sent and nothing is spawned', async () => {
  const dir = tempDir('notify-off');
  const marker = join(dir, 'ran');
  const bin = script(dir, 'notify', `touch ${marker}`);
  const { log, lines } = capturingLog();
  const n = createNotifier({ env: { WATCHDOG_USEC: '30000000' }, bin, log });
  assert.equal(n.enabled, false);
  assert.equal(n.watchdogIntervalMs(), null);
  await n.ready('x');
  await n.status('y');
  await n.watchdog();
  await n.stopping();
  await n.flush();
  // No wait needed: an enabled notifier resolves a call only once its helper has exited,
  // so a helper run for any of the calls above would have made the marker by now.
  assert.equal(existsSync(marker), false);
  assert.equal(lines.length, 0);
});

test('unsetEnvironment removes the variables from the environment children inherit', () => {
  const env: NodeJS.ProcessEnv = {
    NOTIFY_SOCKET: '/x',
    WATCHDOG_USEC: '1000000',
    WATCHDOG_PID: String(process.pid),
    KEEP: '1',
  };
  const n = createNotifier({ env, unsetEnvironment: true, log: capturingLog().log });
  assert.equal(n.enabled, true);
  assert.equal(n.watchdogIntervalMs(), 500);
  assert.deepEqual(env, { KEEP: '1' });
});

test(
  'READY, STATUS, WATCHDOG and STOPPING arrive on the socket',
  { skip: unavailable ?? false },
  async (t: TestContext) => {
    const rx = await startNotifyReceiver(tempDir('notify'));
    t.after(() => rx.close());
    const { log, lines } = capturingLog();
    const n = createNotifier({ env: { ...process.env, NOTIFY_SOCKET: rx.path }, log });
    assert.equal(n.enabled, true);

    const timed = async (p: Promise<void>) => {
      const t0 = performance.now();
      await p;
      return performance.now() - t0;
    };
    // systemd-notify waits for its barrier: the receiver closing the fd releases it at
    // once; an unreleased barrier would take 5 s.
    assert.ok((await timed(n.ready('starting up'))) < 4000);
    const ready = await rx.waitFor((m) => m.lines.includes('READY=1'), 5000);
    assert.ok(ready.lines.includes('STATUS=starting up'), ready.data);
    assert.ok(ready.lines.includes(`MAINPID=${process.pid}`), ready.data);

    // A newline in a status must not smuggle in another assignment.
    await n.status('idle\nREADY=1');
    const st = await rx.waitFor((m) => m.lines.some((l) => l.startsWith('STATUS=idle')), 5000);
    // systemd-notify >= 256 (Debian trixie) sends MAINPIDFDID= with --pid where the kernel has pidfd ids.
    assert.deepEqual(
      st.lines.filter((l) => !/^MAINPID(FDID)?=/.test(l)),
      ['STATUS=idle READY=1'],
    );

    assert.ok((await timed(n.watchdog())) < 4000);
    await rx.waitFor((m) => m.lines.includes('WATCHDOG=1'), 5000);
    await n.stopping('shutting down');
    const stop = await rx.waitFor((m) => m.lines.includes('STOPPING=1'), 5000);
    assert.ok(stop.lines.includes('STATUS=shutting down'), stop.data);
    assert.equal(lines.filter((l) => l.code === 'SD_NOTIFY').length, 0, JSON.stringify(lines));
  },
);

test('one helper at a time: calls made while it runs are merged, the latest STATUS wins', async () => {
  const dir = tempDir('notify-coalesce');
  const trace = join(dir, 'trace');
  const bin = script(
    dir,
    'notify',
    `echo "start" >> ${trace}; sleep 0.3; echo "args $*" >> ${trace}; echo "end" >> ${trace}`,
  );
  const n = createNotifier({ env: { NOTIFY_SOCKET: '/unused' }, bin, log: capturingLog().log });
  const started = () => (existsSync(trace) ? (readFileSync(trace, 'utf8').match(/^start$/gm)?.length ?? 0) : 0);
  const calls: Promise<void>[] = [];
  for (let i = 0; i < 12; i++) {
    calls.push(n.status(`status ${i}`));
    if (i % 3 === 0) calls.push(n.watchdog());
    // Every fourth call, wait until a further helper has started: the next calls come while it runs.
    if (i % 4 === 3) {
      const seen = started();
      await until(() => started() > seen, 10_000, 'the next helper to start');
    }
  }
  await Promise.all(calls);
  await n.flush();
  const rows = readFileSync(trace, 'utf8').trim().split('\n');
  // Overlapping helpers would interleave their lines.
  for (let i = 0; i < rows.length; i++) assert.match(rows[i]!, [/^start$/, /^args /, /^end$/][i % 3]!, rows.join('\n'));
  const runs = rows.filter((r) => r.startsWith('args '));
  assert.ok(runs.length >= 2 && runs.length < 12, `${runs.length} runs for 16 calls`);
  assert.match(runs.at(-1)!, /--status=status 11( |$)/);
  assert.ok(runs.every((r) => r.includes(`--pid=${process.pid}`)));
  assert.ok(runs.some((r) => r.includes('WATCHDOG=1')));
});

test('a missing helper never throws and is logged once', async () => {
  const { log, lines } = capturingLog();
  const n = createNotifier({ env: { NOTIFY_SOCKET: '/unused' }, bin: '/nonexistent/systemd-notify', log });
  await n.ready();
  await n.watchdog();
  await n.watchdog();
  const failures = lines.filter((l) => l.code === 'SD_NOTIFY');
  assert.equal(failures.length, 1, JSON.stringify(lines));
  assert.match(String(failures[0]!.err), /cannot run \/nonexistent\/systemd-notify/);
});

test('a failing helper is reported with its stderr; a hung one is killed', async () => {
  const dir = tempDir('notify-fail');
  const { log, lines } = capturingLog();
  const failing = createNotifier({
    env: { NOTIFY_SOCKET: '/unused' },
    bin: script(dir, 'fails', 'echo "No such socket" >&2; exit 1'),
    log,
  });
  await failing.watchdog();
  assert.match(String(lines.at(-1)?.err), /exited with 1: No such socket/);

  const clock = new ManualClock();
  const hung = createNotifier({
    env: { NOTIFY_SOCKET: '/unused' },
    bin: script(dir, 'hangs', 'exec sleep 30'),
    timeoutMs: 300,
    log,
    clock,
  });
  const t0 = performance.now();
  const sent = hung.watchdog();
  await until(() => clock.pending === 1, 5000, 'the helper to be started with its timeout');
  assert.equal(clock.pendingRef, 0, 'the timeout does not keep the process alive');
  clock.advance(299);
  assert.equal(clock.pending, 1, 'not killed before its timeout');
  clock.advance(1);
  await sent;
  assert.ok(performance.now() - t0 < 5000);
  assert.match(String(lines.at(-1)?.err), /did not finish within 300 ms/);
});
