// The wire contract's one topic module (contract/topics.ts) against the literal
// topics of docs/protocol.md §1 and §8: the box, noc, loa-provision and the demo all
// build and parse their topics with it, so this is where a wrong one is caught.
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { test } from 'node:test';
import {
  PUBLISH_OPTS,
  allDevicesFilter,
  deviceFilter,
  deviceTopic,
  fleetFilter,
  groupTopic,
  parseDeviceTopic,
  parseTopic,
  publishTo,
  sharedFilter,
  signDoc,
  topicsFor,
  type Outbound,
} from '../../contract/index.js';
import { KeyRing, verifySchedule } from '../../contract/verify.js';
import { scheduleDoc } from '../helpers/signer.js';

test('every topic of docs/protocol.md §1 and §8, built', () => {
  assert.deepEqual(topicsFor('loa/v1', 'vn-01', ['all', 'c26734']), {
    deviceSchedule: 'loa/v1/d/vn-01/schedule',
    groupSchedules: ['loa/v1/g/all/schedule', 'loa/v1/g/c26734/schedule'],
    deviceCmd: 'loa/v1/d/vn-01/cmd',
    groupCmds: ['loa/v1/g/all/cmd', 'loa/v1/g/c26734/cmd'],
    status: 'loa/v1/d/vn-01/status',
    heartbeat: 'loa/v1/d/vn-01/heartbeat',
    events: 'loa/v1/d/vn-01/events',
    cmdResult: 'loa/v1/d/vn-01/cmd/result',
    register: 'loa/v1/d/vn-01/register',
    check: 'loa/v1/d/vn-01/check',
  });
  assert.equal(deviceTopic('x/y', 'b1', 'cmd/result'), 'x/y/d/b1/cmd/result');
  assert.equal(groupTopic('x/y', 'p79', 'cmd'), 'x/y/g/p79/cmd');
  assert.equal(fleetFilter('loa/v1', 'heartbeat'), 'loa/v1/d/+/heartbeat');
  assert.equal(allDevicesFilter('loa/v1'), 'loa/v1/d/#');
  assert.equal(deviceFilter('loa/v1', 'vn-01'), 'loa/v1/d/vn-01/#');
  assert.equal(sharedFilter('loa/v1/d/+/events', 'noc'), '$share/noc/loa/v1/d/+/events');
  assert.equal(sharedFilter('loa/v1/d/+/events', undefined), 'loa/v1/d/+/events');
});

test('parseTopic reads the device or group and the leaf back, and nothing else', () => {
  assert.deepEqual(parseTopic('loa/v1', 'loa/v1/d/vn-01/cmd/result'), {
    kind: 'device',
    deviceId: 'vn-01',
    leaf: 'cmd/result',
  });
  assert.deepEqual(parseTopic('loa/v1', 'loa/v1/d/vn-01/register'), {
    kind: 'device',
    deviceId: 'vn-01',
    leaf: 'register',
  });
  assert.deepEqual(parseTopic('loa/v1', 'loa/v1/g/c26734/schedule'), {
    kind: 'group',
    group: 'c26734',
    leaf: 'schedule',
  });
  assert.deepEqual(parseDeviceTopic('loa/v1', 'loa/v1/d/vn-01/status'), { deviceId: 'vn-01', leaf: 'status' });
  for (const t of [
    'loa/v2/d/vn-01/status',
    'loa/v1/d/VN/status',
    'loa/v1/d//status',
    'loa/v1/d/vn-01',
    'loa/v1/d/vn-01/other',
    'loa/v1/g/all/status',
    'loa/v1/x/vn-01/status',
  ]) {
    assert.equal(parseTopic('loa/v1', t), undefined, t);
  }
  assert.equal(parseDeviceTopic('loa/v1', 'loa/v1/g/all/cmd'), undefined);
});

test('publishTo sends each kind with the QoS and retain flag of §1 and §8, JSON or a JWS as is', async () => {
  const sent: { topic: string; payload: string; opts: { qos: number; retain: boolean } }[] = [];
  const client = {
    publishAsync: async (topic: string, payload: string, opts: { qos: 0 | 1; retain: boolean }) =>
      void sent.push({ topic, payload, opts }),
  };
  const hb = { ts: 't' } as unknown as Outbound['heartbeat']['payload'];
  await publishTo(client, 'heartbeat', 'loa/v1/d/b/heartbeat', hb);
  await publishTo(client, 'schedule', 'loa/v1/g/all/schedule', 'a.b.c');
  assert.deepEqual(sent, [
    { topic: 'loa/v1/d/b/heartbeat', payload: '{"ts":"t"}', opts: { qos: 0, retain: true } },
    { topic: 'loa/v1/g/all/schedule', payload: 'a.b.c', opts: { qos: 1, retain: true } },
  ]);
  assert.deepEqual(
    Object.fromEntries(Object.entries(PUBLISH_OPTS).map(([k, o]) => [k, `${o.qos}${o.retain ? 'r' : ''}`])),
    {
      schedule: '1r',
      cmd: '1',
      status: '1r',
      heartbeat: '0r',
      events: '1',
      cmdResult: '1',
      register: '1r',
      check: '1r',
    },
  );
});

test('signDoc makes a compact Ed25519 JWS the box accepts, in canonical base64url', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const doc = scheduleDoc({ target: { devices: ['vn-01'] } });
  const jws = signDoc(doc, { key: privateKey, kid: 'centre' }, 'loa-schedule+json');
  const [h, p, s] = jws.split('.');
  assert.deepEqual(JSON.parse(Buffer.from(h!, 'base64url').toString()), {
    alg: 'EdDSA',
    kid: 'centre',
    typ: 'loa-schedule+json',
  });
  assert.equal(Buffer.from(p!, 'base64url').toString(), JSON.stringify(doc));
  assert.ok(verify(null, Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s!, 'base64url')));
  assert.doesNotMatch(jws, /[=+/]/);
  const v = verifySchedule(jws, new KeyRing([{ kid: 'centre', publicKey: publicKey.export({ format: 'jwk' }).x! }]), {
    deviceId: 'vn-01',
    groups: [],
    now: Date.now(),
    maxBytes: 262_144,
    acceptedVersion: () => undefined,
  });
  assert.equal(v.ok, true, JSON.stringify(v));
  assert.throws(
    () =>
      signDoc(
        doc,
        { key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, kid: 'k' },
        'loa-schedule+json',
      ),
    /Ed25519/,
  );
});
