// Issue 16 end to end: CAP 1.2 messages (Vietnamese and English) through `noc cap`
// (in-process, with a mapping file and --state, media served over HTTP from --media-dir)
// to three real agent processes on a real Mosquitto, each playing with mpg123 at real-time
// rate. Boxes of communes 26734 and 26737 are in the alerts' area; the third (commune 26740,
// also the "lab" group marked for exercises) is not. The boxes run schedule.minRepeatS 5
// and `noc cap --min-repeat-s 5`, so a real 5 s cadence is measured here. Quiet hours are
// test/integration/volume.test.ts's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { audioTools, makeTone } from '../helpers/audio.js';
import { capTime, capXml, type TestAlert, type TestInfo } from '../helpers/cap.js';
import { sha1, startCapFleet, type CapBox, type CapFleet } from '../helpers/cap-fleet.js';
import { spawnSync } from 'node:child_process';
import { DEFAULT_ROOT } from '../helpers/watcher.js';

const EVERY_S = 5;
const SENDER = 'canhbao@kttv.gov.vn';
const MAPPING = {
  languages: ['vi', 'en'],
  geocodes: { 'VN-ADM3': { '26734': ['c26734'], '26737': ['c26737'], '26740': ['c26740', 'lab'] } },
  groups: { c26734: {}, c26737: {}, c26740: {}, lab: { exercise: true, actual: false } },
  events: { 'Lũ quét': { priority: 100, everyS: EVERY_S, count: 100 }, '*': { count: 1 } },
};
const AREA = {
  desc: 'Xã Thạnh Lộc, Xã An Phú Đông',
  geocodes: [
    ['VN-ADM3', '26734'],
    ['VN-ADM3', '26737'],
  ] as [string, string][],
};

const tools = audioTools();
const espeak = spawnSync('espeak-ng', ['--version'], { stdio: 'ignore' }).error === undefined;
const skip = !(tools.mpg123 && tools.sox && tools.lame && espeak)
  ? 'needs mpg123, sox, lame and espeak-ng (apt-get install mpg123 sox lame espeak-ng)'
  : false;
if (skip && process.env.CI === 'true') throw new Error(`${skip}; CI must be able to run it`);

let broker: TestBroker | undefined;
let fleet: CapFleet;
let inArea: CapBox[];
let outside: CapBox;
const tones: Record<string, Buffer> = {};

before(async () => {
  if (skip) return;
  for (const [name, freq] of [
    ['lu', 440],
    ['lu2', 880],
  ] as const) {
    tones[name] = readFileSync(makeTone({ seconds: 1, freq, kbps: 64 }));
  }
  broker = await startBroker();
  fleet = await startCapFleet(broker, {
    mapping: MAPPING,
    minRepeatS: EVERY_S,
    boxes: [
      { name: 'b26734', groups: ['c26734'] },
      { name: 'b26737', groups: ['c26737'] },
      { name: 'b26740', groups: ['c26740', 'lab'] },
    ],
  });
  for (const [name, body] of Object.entries(tones)) fleet.serve(`/audio/${name}.mp3`, body);
  inArea = fleet.boxes.slice(0, 2);
  outside = fleet.boxes[2]!;
});
after(async () => {
  try {
    if (fleet) await fleet.close();
  } finally {
    await broker?.close();
  }
});

const audio = (name: string, over: Partial<{ digest: string }> = {}): TestInfo['resources'] => [
  {
    desc: 'Bản tin cảnh báo lũ quét',
    uri: `${fleet.base}/audio/${name}.mp3`,
    size: tones[name]!.length,
    digest: over.digest ?? sha1(tones[name]!),
  },
];
const flood = (
  identifier: string,
  over: TestAlert = {},
  info: TestInfo = {},
): TestAlert & { identifier: string; sent: string } => ({
  identifier,
  sender: SENDER,
  sent: capTime(Date.now() - 1000),
  infos: [{ event: 'Lũ quét', headline: 'Cảnh báo lũ quét khẩn cấp', resources: audio('lu'), areas: [AREA], ...info }],
  ...over,
});
const ref = (a: { identifier: string; sent: string }) => `${SENDER},${a.identifier},${a.sent}`;
/** The id of the command `noc cap` printed as published for `kind`. */
const publishedId = (out: string, kind: 'play' | 'cancel'): string => {
  const m = new RegExp(`^published ${kind} (\\S+) ->`, 'm').exec(out);
  assert.ok(m, `no ${kind} published:\n${out}`);
  return m[1]!;
};
const audioOut = (e: Record<string, unknown>) => Date.parse(String(e.occurrence)) + Number(e.lateMs);
const waitPlays = (box: CapBox, capId: string, n: number, ms = 60_000) =>
  fleet.watcher.waitUntil(
    () => (fleet.events(box, 'play.started', capId).length >= n ? true : undefined),
    ms,
    `${box.deviceId}: ${n} plays of ${capId}`,
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function cancelled(box: CapBox, cancelId: string, capId: string): Promise<number> {
  const r = await fleet.result(box, cancelId, 20_000);
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.ok(
    Number((r.result as { cancelled: number }).cancelled) >= 1,
    `${box.deviceId}: ${JSON.stringify(r)} cancelled nothing of ${capId}`,
  );
  return Date.parse(String(r.ts));
}

/** After a cancel: no play of `capId` starts later; one that was playing ended with reason cancelled. */
async function stoppedFor(box: CapBox, capId: string, at: number): Promise<void> {
  await sleep(2 * EVERY_S * 1000 + 2000);
  const later = fleet.events(box, 'play.started', capId).filter((e) => Date.parse(e.ts) > at);
  assert.deepEqual(later, [], `${box.deviceId}: ${capId} played after its cancel`);
  for (const e of fleet.events(box, 'play.interrupted', capId)) assert.equal(e.reason, 'cancelled', JSON.stringify(e));
  const started = fleet.events(box, 'play.started', capId).length;
  const ended = fleet
    .events(box, undefined, capId)
    .filter((e) => ['play.finished', 'play.interrupted'].includes(e.type)).length;
  assert.equal(ended, started, `${box.deviceId}: every play of ${capId} ended`);
}

test(
  'an alert with an audio resource plays on the two boxes of its area and not the third, repeats every 5 s within ±5 s, and a CAP Cancel stops it',
  { skip, timeout: 180_000 },
  async (t) => {
    const a = flood('VN-KTTV-E2E-0001');
    const r = await fleet.cap('alert', capXml(a));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SHA-1 [0-9a-f]{40} matches the CAP digest/);
    const cmdId = publishedId(r.out, 'play');
    for (const b of inArea) await waitPlays(b, a.identifier, 3);
    for (const b of inArea) {
      const plays = fleet.events(b, 'play.started', a.identifier);
      assert.deepEqual(
        plays.slice(0, 3).map((p) => [p.repeat, p.cmdId]),
        [
          [1, cmdId],
          [2, cmdId],
          [3, cmdId],
        ],
      );
      assert.equal(plays[0]!.priority, 100);
      const [p1, p2, p3] = plays.map(audioOut);
      const errs = [p2! - p1!, p3! - p2!].map((d) => d - EVERY_S * 1000);
      t.diagnostic(
        `${b.deviceId}: audio out of repeats 1→2, 2→3 apart by ${EVERY_S} s ${errs.map((e) => `${e >= 0 ? '+' : ''}${e} ms`).join(', ')}`,
      );
      assert.ok(
        errs.every((e) => Math.abs(e) <= 5000),
        `cadence within ±5 s: ${errs.join(', ')}`,
      );
    }
    assert.deepEqual(fleet.events(outside, undefined, a.identifier), [], 'the box outside the area plays nothing');

    const c = await fleet.cap(
      'cancel',
      capXml({ identifier: 'VN-KTTV-E2E-0001-HUY', sender: SENDER, msgType: 'Cancel', references: ref(a), infos: [] }),
    );
    assert.equal(c.code, 0, c.out);
    const cancelId = publishedId(c.out, 'cancel');
    const at = await Promise.all(inArea.map((b) => cancelled(b, cancelId, a.identifier)));
    await Promise.all(inArea.map((b, i) => stoppedFor(b, a.identifier, at[i]!)));
    assert.deepEqual(fleet.events(outside, undefined, a.identifier), []);
  },
);

test(
  'an Update replaces the alert it references: its series is cancelled and the new one plays; a Cancel of the Update stops that',
  { skip, timeout: 180_000 },
  async () => {
    const a = flood('VN-KTTV-E2E-0002');
    assert.equal((await fleet.cap('update-1', capXml(a))).code, 0);
    for (const b of inArea) await waitPlays(b, a.identifier, 1);
    const u = flood(
      'VN-KTTV-E2E-0003',
      { msgType: 'Update', references: ref(a) },
      { headline: 'Cập nhật: lũ quét lan rộng', resources: audio('lu2') },
    );
    const r = await fleet.cap('update-2', capXml(u));
    assert.equal(r.code, 0, r.out);
    const cancelId = publishedId(r.out, 'cancel');
    const at = await Promise.all(inArea.map((b) => cancelled(b, cancelId, a.identifier)));
    for (const b of inArea) await waitPlays(b, u.identifier, 2);
    await Promise.all(inArea.map((b, i) => stoppedFor(b, a.identifier, at[i]!)));
    for (const b of inArea) {
      const news = fleet.events(b, 'play.started', u.identifier);
      assert.ok(news.length >= 3, `${b.deviceId}: the update's series goes on (${news.length} plays)`);
      assert.ok(news.every((e) => e.capId === u.identifier && Date.parse(e.ts) >= at[fleet.boxes.indexOf(b)]!));
    }
    assert.deepEqual(fleet.events(outside, undefined, u.identifier), []);
    const c = await fleet.cap(
      'update-3',
      capXml({ identifier: 'VN-KTTV-E2E-0003-HUY', sender: SENDER, msgType: 'Cancel', references: ref(u), infos: [] }),
    );
    const cid = publishedId(c.out, 'cancel');
    const at2 = await Promise.all(inArea.map((b) => cancelled(b, cid, u.identifier)));
    await Promise.all(inArea.map((b, i) => stoppedFor(b, u.identifier, at2[i]!)));
  },
);

test(
  'an Exercise reaches only the group marked for exercises, whatever its area says',
  { skip, timeout: 120_000 },
  async () => {
    const ex = flood(
      'VN-KTTV-E2E-DT01',
      { status: 'Exercise' },
      { event: 'Diễn tập', areas: [{ desc: 'Ba xã', geocodes: [...AREA.geocodes, ['VN-ADM3', '26740']] }] },
    );
    const r = await fleet.cap('exercise', capXml(ex));
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(
      [...r.out.matchAll(/^published play \S+ -> (\S+)/gm)].map((m) => m[1]),
      [`${DEFAULT_ROOT}/g/lab/cmd`],
    );
    await fleet.watcher.waitFor(
      (m) => m.topic === outside.topics.events && m.json().capId === ex.identifier && m.json().type === 'play.finished',
      30_000,
      'the exercise played on the lab box',
    );
    await fleet.watcher.sync(); // what a box of the area played with it (as soon as the lab box) is here by now
    for (const b of inArea)
      assert.deepEqual(fleet.events(b, undefined, ex.identifier), [], `${b.deviceId} is not an exercise group`);
  },
);

test(
  'an expired alert and one whose audio does not match its digest: nothing published, nothing played',
  { skip, timeout: 120_000 },
  async () => {
    const before = fleet.published().length;
    const exp = flood('VN-KTTV-E2E-HH01', {}, { expires: capTime(Date.now() - 60_000) });
    const e = await fleet.cap('expired', capXml(exp));
    assert.equal(e.code, 0, e.out);
    assert.match(e.out, /not sent: expired at/);
    const bad = flood('VN-KTTV-E2E-SAI1', {}, { resources: audio('lu', { digest: '0'.repeat(40) }) });
    const d = await fleet.cap('bad-digest', capXml(bad));
    assert.equal(d.code, 1, d.out);
    assert.match(d.out, /digest mismatch: CAP says SHA-1 0{40}/);
    await fleet.watcher.sync(); // whatever `noc cap` published before it returned is here by now
    assert.equal(fleet.published().length, before, 'no command reached any group topic');
    for (const b of fleet.boxes)
      for (const id of [exp.identifier, bad.identifier]) assert.deepEqual(fleet.events(b, undefined, id), []);
  },
);

test(
  'a text-only English alert is synthesised (espeak-ng + lame) at the centre and played by the boxes of its area',
  { skip, timeout: 120_000 },
  async () => {
    const tx: TestAlert & { identifier: string; sent: string } = {
      identifier: 'VN-KTTV-E2E-EN01',
      sender: SENDER,
      sent: capTime(Date.now() - 1000),
      infos: [
        {
          language: 'en-US',
          event: 'Heavy rain',
          severity: 'Severe',
          urgency: 'Expected',
          headline: 'Heavy rain warning',
          description: 'Rainfall of 150 millimetres is expected tonight.',
          instruction: 'Stay away from rivers and streams.',
          areas: [AREA],
        },
      ],
    };
    const r = await fleet.cap('text-only', capXml(tx));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /synthesised \d+ ms of speech in \d+ ms/);
    for (const b of inArea) {
      const end = await fleet.watcher.waitFor(
        (m) => m.topic === b.topics.events && m.json().capId === tx.identifier && m.json().type !== 'play.started',
        60_000,
        `${b.deviceId}: end of the spoken alert`,
      );
      assert.equal(end.json().type, 'play.finished', JSON.stringify(end.json()));
      const started = fleet.events(b, 'play.started', tx.identifier);
      assert.equal(started.length, 1);
      assert.equal(started[0]!.priority, 75, 'Severe: priority 75');
      // mpg123 paced plays it at real-time rate: the spoken text lasted seconds, not milliseconds.
      assert.ok(Date.parse(String(end.json().ts)) - Date.parse(started[0]!.ts) > 2000, 'the speech really played');
    }
    assert.deepEqual(fleet.events(outside, undefined, tx.identifier), []);
  },
);
