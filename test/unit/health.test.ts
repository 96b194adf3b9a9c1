// HealthWatchdog and its probes with a stepped clock and a recording notifier: which
// ticks ping, what STATUS says, and when each probe calls a state unhealthy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import {
  HealthWatchdog,
  eventLoopLagProbe,
  linkLoopProbe,
  progressProbe,
  type Probe,
} from '../../agent/runtime/health.js';
import type { LinkLoopState } from '../../agent/adapters/mqtt-link.js';
import { ManualClock } from '../fakes/manual-clock.js';

const log = pino({ level: 'silent' });

function recorder() {
  const calls: string[] = [];
  return {
    calls,
    notifier: {
      watchdog: () => {
        calls.push('WATCHDOG=1');
        return Promise.resolve();
      },
      status: (s: string) => {
        calls.push(`STATUS=${s}`);
        return Promise.resolve();
      },
    },
  };
}

test('pings each interval while healthy, none while a probe is not, STATUS only on change', () => {
  const clock = new ManualClock();
  const { calls, notifier } = recorder();
  let why: string | null = null;
  let summary = 'idle, 1 schedule';
  const probe: Probe = { name: 'scheduler', check: () => why };
  const wd = new HealthWatchdog({ notifier, intervalMs: 1000, probes: [probe], summary: () => summary, log, clock });
  wd.start();
  clock.advance(1000);
  clock.advance(1000);
  assert.deepEqual(calls.splice(0), ['WATCHDOG=1', 'STATUS=idle, 1 schedule', 'WATCHDOG=1', 'WATCHDOG=1']);

  why = 'no progress for 95 s (limit 90 s)';
  clock.advance(1000);
  clock.advance(1000);
  clock.advance(1000);
  assert.deepEqual(calls.splice(0), ['STATUS=UNHEALTHY: scheduler: no progress for 95 s (limit 90 s)']);
  assert.deepEqual(wd.check(), { healthy: false, problems: ['scheduler: no progress for 95 s (limit 90 s)'] });

  why = null;
  summary = 'playing morning-news';
  clock.advance(1000);
  assert.deepEqual(calls.splice(0), ['WATCHDOG=1', 'STATUS=playing morning-news']);
  assert.equal(wd.pingCount, 4);

  wd.stop();
  clock.advance(5000);
  assert.deepEqual(calls, []);
});

test('a probe that throws is unhealthy; a summary that throws still pings', () => {
  const clock = new ManualClock();
  const { calls, notifier } = recorder();
  let explode = true;
  const probe: Probe = {
    name: 'mqtt',
    check: () => {
      if (explode) throw new Error('boom');
      return null;
    },
  };
  const wd = new HealthWatchdog({
    notifier,
    intervalMs: 1000,
    probes: [probe],
    summary: () => {
      throw new Error('no db');
    },
    log,
    clock,
  });
  wd.start();
  assert.deepEqual(calls.splice(0), ['STATUS=UNHEALTHY: mqtt: probe failed: boom']);
  explode = false;
  clock.advance(1000);
  assert.deepEqual(calls.splice(0), ['WATCHDOG=1', 'STATUS=running (status summary failed: no db)']);
  wd.stop();
});

test('progress probe: healthy before the first progress, unhealthy past the limit', () => {
  const clock = new ManualClock();
  let last: number | undefined;
  const p = progressProbe({ name: 'scheduler', lastProgressMono: () => last, maxAgeMs: 90_000, clock });
  assert.equal(p.check(), null, 'not started');
  last = clock.monoMs();
  clock.advance(90_000);
  assert.equal(p.check(), null, 'at the limit');
  clock.advance(5_000);
  assert.equal(p.check(), 'no progress for 95 s (limit 90 s)');
  last = clock.monoMs();
  assert.equal(p.check(), null);
});

test('link loop probe: offline and retrying is fine, a loop that stopped moving is not', () => {
  const clock = new ManualClock();
  let s: LinkLoopState | undefined;
  const p = linkLoopProbe({ loop: () => s, maxStepGapMs: 360_000, clock });
  assert.equal(p.check(), null, 'no link');
  s = { state: 'up', sinceMono: clock.monoMs() };
  clock.advance(10 * 86_400_000);
  assert.equal(p.check(), null, 'connected for days');
  s = { state: 'retrying', sinceMono: clock.monoMs() };
  clock.advance(300_000);
  assert.equal(p.check(), null, 'waiting out the backoff');
  s = { state: 'retrying', sinceMono: clock.monoMs() };
  clock.advance(360_001);
  assert.equal(p.check(), 'reconnect loop stuck: no attempt for 360 s (limit 360 s)');
  s = { state: 'idle', sinceMono: 0 };
  assert.equal(p.check(), null, 'stopping');
});

test('event-loop lag probe: sees a late timer, and a sample overdue at check time', () => {
  const clock = new ManualClock();
  const p = eventLoopLagProbe({ maxLagMs: 5000, sampleMs: 500, clock });
  assert.equal(p.check(), null, 'not started');
  p.start!();
  clock.advance(500);
  assert.equal(p.check(), null, 'on time');

  // The loop was busy for 7 s: the sample timer runs 6.5 s late.
  clock.block(7000);
  clock.advance(0);
  assert.equal(p.check(), 'lagged 6500 ms (limit 5000 ms)');
  assert.equal(p.check(), null, 'a new window after each check');

  // Busy again, and the check runs before the sampler does.
  clock.block(8000);
  assert.equal(p.check(), 'lagged 7500 ms (limit 5000 ms)');
  p.stop!();
});
