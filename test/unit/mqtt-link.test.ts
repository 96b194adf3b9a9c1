// MqttLink's reconnection loop on the manual clock: with no broker at all (a closed local
// port), each retry waits exactly the backoff the policy gives, and not a millisecond
// less, because the link arms its timers on the injected clock. (Against a real broker,
// with real time: test/integration/mqtt-link.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MqttLink } from '../../agent/adapters/mqtt-link.js';
import { createLogger } from '../../agent/log.js';
import { freePort } from '../helpers/broker.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { until } from '../helpers/wait.js';

test('no broker: retries wait exactly the jittered, doubling backoff on the injected clock; stop() leaves no timer', async () => {
  const port = await freePort(); // nothing listens: every attempt is refused at once
  const clock = new ManualClock({ mono: 0 });
  const link = new MqttLink({
    url: `mqtt://127.0.0.1:${port}`,
    clientId: 'backoff-unit',
    insecureSkipVerify: false,
    version: '3.1.1',
    keepaliveS: 30,
    sessionExpiryS: 3600,
    connectTimeoutS: 5,
    backoff: { minMs: 1000, maxMs: 4000 },
    random: () => 0.5, // the middle of each jitter range: 500, 1000, 2000, 2000 ms
    will: { topic: 't/status', payload: '{}' },
    log: createLogger({ level: 'silent', pretty: false }),
    clock,
  });
  let downs = 0;
  link.on('down', () => downs++);
  link.start();
  try {
    await until(() => downs === 1, 5000, 'the first refusal');
    assert.equal(link.loop.state, 'retrying');
    assert.equal(link.loop.sinceMono, 0);
    for (const [i, delay] of [500, 1000, 2000, 2000].entries()) {
      assert.equal(clock.msUntilNext(), delay, `retry ${i + 1} is armed for ${delay} ms`);
      clock.advance(delay - 1);
      await clock.tickAsync(0); // I/O settles; the manual clock does not move
      assert.equal(clock.msUntilNext(), 1, 'the retry is still armed');
      assert.equal(downs, i + 1, `no attempt before ${delay} ms`);
      clock.advance(1);
      await until(() => downs === i + 2, 5000, `attempt ${i + 2}`);
      assert.equal(link.loop.sinceMono, clock.monoMs(), 'the loop moved at the attempt');
    }
  } finally {
    await link.stop();
  }
  assert.equal(clock.pending, 0, 'stop() cleared the reconnect timer');
});
