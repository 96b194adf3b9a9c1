// The health watchdog feeding a real systemd notification socket, without a running
// systemd: pings while healthy, withheld while the scheduler stalls or the event loop is
// blocked, then resumed. The unit files and install.sh: systemd.test.ts.
//
// Needs systemd-notify (Debian package systemd) and python3; skips with the reason where
// one is missing, and fails under CI=true.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createNotifier } from '../../agent/adapters/sd-notify.js';
import { systemClock } from '../../agent/adapters/clock.js';
import { HealthWatchdog, eventLoopLagProbe, progressProbe } from '../../agent/runtime/health.js';
import { notifyReceiverUnavailable, startNotifyReceiver } from '../helpers/notify-receiver.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const log = pino({ level: 'silent' });
const noReceiver = notifyReceiverUnavailable();
if (noReceiver && process.env.CI === 'true') throw new Error(noReceiver);

test(
  'the health watchdog pings the socket while healthy, stops while the scheduler stalls, resumes',
  { skip: noReceiver ?? false },
  async (t: TestContext) => {
    const rx = await startNotifyReceiver(tempDir('sd-health'));
    t.after(() => rx.close());
    const notifier = createNotifier({ env: { ...process.env, NOTIFY_SOCKET: rx.path }, log });
    // A stand-in scheduler: it makes progress every 50 ms until told to stall.
    let lastTick = performance.now();
    let stalled = false;
    const ticker = setInterval(() => {
      if (!stalled) lastTick = performance.now();
    }, 50);
    t.after(() => clearInterval(ticker));
    let probeCalls = 0;
    const wd = new HealthWatchdog({
      notifier,
      intervalMs: 200,
      probes: [
        progressProbe({
          name: 'scheduler',
          lastProgressMono: () => {
            probeCalls++;
            return lastTick;
          },
          maxAgeMs: 600,
          clock: systemClock,
        }),
      ],
      summary: () => (stalled ? 'idle (stalled)' : 'idle'),
      clock: systemClock,
      log,
    });
    wd.start();
    t.after(() => wd.stop());

    // Healthy: pings keep coming (10 a second nominally; 3 in 2 s is plenty on a busy box).
    await rx.waitFor((m) => m.lines.includes('WATCHDOG=1'), 10_000);
    const healthyFrom = rx.messages.length;
    const pingsSince = (from: number) => rx.messages.slice(from).filter((m) => m.lines.includes('WATCHDOG=1')).length;
    await until(() => pingsSince(healthyFrom) >= 3, 2000, '3 pings').catch(() => undefined);
    const healthyPings = pingsSince(healthyFrom);
    assert.ok(healthyPings >= 3, `${healthyPings} pings in 2 s while healthy`);
    assert.ok(rx.messages.some((m) => m.lines.includes('STATUS=idle')));

    stalled = true;
    const sick = await rx.waitFor(
      (m) => m.lines.some((l) => l.startsWith('STATUS=UNHEALTHY: scheduler: no progress')),
      10_000,
      healthyFrom,
    );
    const sickAt = rx.messages.indexOf(sick);
    const callsBefore = probeCalls;
    // Three checks after the first unhealthy one, each of which withholds the ping.
    await until(() => probeCalls - callsBefore >= 3, 2000, '3 checks while stalled').catch(() => undefined);
    assert.ok(probeCalls - callsBefore >= 3, `the watchdog kept checking (${probeCalls - callsBefore} checks)`);
    const during = rx.messages.slice(sickAt + 1);
    assert.equal(
      during.filter((m) => m.lines.includes('WATCHDOG=1')).length,
      0,
      JSON.stringify(during.map((m) => m.data)),
    );

    stalled = false;
    const resumedFrom = rx.messages.length;
    await rx.waitFor((m) => m.lines.includes('WATCHDOG=1'), 10_000, resumedFrom);
    await rx.waitFor((m) => m.lines.includes('STATUS=idle'), 10_000, resumedFrom);
  },
);

test('a blocked event loop withholds the next ping, then pinging resumes', async (t: TestContext) => {
  const calls: { what: string; at: number }[] = [];
  const notifier = {
    watchdog: () => (calls.push({ what: 'WATCHDOG=1', at: performance.now() }), Promise.resolve()),
    status: (s: string) => (calls.push({ what: `STATUS=${s}`, at: performance.now() }), Promise.resolve()),
  };
  const wd = new HealthWatchdog({
    notifier,
    intervalMs: 200,
    probes: [eventLoopLagProbe({ maxLagMs: 400, sampleMs: 50, clock: systemClock })],
    log,
    clock: systemClock,
  });
  wd.start();
  t.after(() => wd.stop());
  await until(() => calls.some((c) => c.what === 'WATCHDOG=1'), 1000, 'a first ping').catch(() => undefined);
  assert.ok(calls.some((c) => c.what === 'WATCHDOG=1'));

  const busyUntil = performance.now() + 1500;
  while (performance.now() < busyUntil) {
    // a synchronous loop: no timer can run
  }
  const unblocked = performance.now();
  const since = () => calls.filter((c) => c.at >= unblocked);
  // The first check after the block, then a ping once the loop is free.
  await until(() => since().some((c) => c.what === 'WATCHDOG=1'), 2000, 'a ping after the block').catch(
    () => undefined,
  );
  const after = since();
  assert.ok(after.length >= 2, JSON.stringify(after));
  assert.match(
    after[0]!.what,
    /^STATUS=UNHEALTHY: event-loop: lagged \d+ ms \(limit 400 ms\)$/,
    'the first check after the block does not ping',
  );
  assert.ok(
    after.some((c) => c.what === 'WATCHDOG=1'),
    'pings resume once the loop is free',
  );
});
