// The fake link against the Link contract (the same one MqttLink passes with Mosquitto in
// test/integration/mqtt-link.test.ts), and the parts only a fake has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkContract } from '../contract/link.contract.js';
import { FakeLink } from '../fakes/fake-link.js';
import { topicMatches } from '../../agent/adapters/mqtt-link.js';

linkContract('fake', async () => {
  const link = new FakeLink();
  return {
    link,
    publish: async (topic, payload, opts) => link.inject(topic, payload, opts),
    received: (filter) =>
      link.published
        .filter((m) => topicMatches(filter, m.topic))
        .map((m) => ({ topic: m.topic, payload: m.payload.toString('utf8'), retain: m.retain })),
    outage: async () => link.goOffline(),
    restore: async () => link.goOnline(),
    close: () => link.stop(),
    settleMs: 5,
  };
});

test('fake: what the centre sends while the box is offline waits in the session and arrives after up', async () => {
  const link = new FakeLink({ online: false });
  const got: string[] = [];
  const ups: boolean[] = [];
  link.on('up', ({ sessionPresent }) => ups.push(sessionPresent));
  link.subscribe(['d/box/cmd'], (_t, p) => got.push(p.toString()));
  link.start();
  await Promise.resolve();
  assert.equal(link.connected, false);
  link.goOnline();
  await new Promise((r) => setImmediate(r));
  link.goOffline();
  link.inject('d/box/cmd', 'while away');
  link.inject('d/other/cmd', 'not for this box');
  link.goOnline();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ups, [false, true]);
  assert.deepEqual(got, ['while away']);
});

test('fake: held acknowledgements keep publish pending; an outage rejects them; json() reads what was published', async () => {
  const link = new FakeLink();
  link.start();
  await new Promise((r) => setImmediate(r));
  link.holdAcks();
  let done = false;
  const a = link.publish('d/box/cmd/result', '{"cmdId":"a"}', { qos: 1, retain: false }).then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false);
  assert.equal(link.published.length, 0, 'not at the broker until acknowledged');
  link.releaseAcks();
  await a;
  assert.deepEqual(link.json('d/+/cmd/result'), [{ cmdId: 'a' }]);
  link.holdAcks();
  const b = link.publish('d/box/cmd/result', '{"cmdId":"b"}', { qos: 1, retain: false });
  link.goOffline();
  await assert.rejects(b, (e: Error & { code?: string }) => e.code === 'MQTT_PUBLISH');
  assert.equal(link.json('d/+/cmd/result').length, 1);
});
