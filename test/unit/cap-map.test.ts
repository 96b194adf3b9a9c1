// CAP → loa decisions (noc/cap/map.ts) and the mapping file (noc/cap/mapping.ts): pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapAlert, defaultPriority, pickInfos, type CancelAction, type PlayAction } from '../../noc/cap/map.js';
import { readMapping, inPolygon, distanceKm, type Mapping } from '../../noc/cap/mapping.js';
import type { CapAlert } from '../../noc/cap/alert.js';
import { validateCap } from '../../noc/cap/validate.js';
import { MAPPING_JSON, capTime, capXml, type TestAlert } from '../helpers/cap.js';

const mapping = (): Mapping => {
  const m = readMapping(MAPPING_JSON);
  assert.ok(m.ok, m.ok ? '' : m.problems.join('\n'));
  return m.mapping;
};
const NOW = Date.parse('2026-11-27T07:10:00Z');
function alertOf(a: TestAlert): CapAlert {
  const v = validateCap(capXml({ sent: capTime(NOW - 60_000), ...a }));
  assert.ok(v.ok, v.ok ? '' : v.problems.join('\n'));
  return v.alert;
}

test('an Actual alert with a geocode: a play to the mapped groups, priority from severity and urgency, repeat until expires', () => {
  const r = mapAlert(alertOf({ infos: [{ expires: capTime(NOW + 3 * 3_600_000) }] }), mapping(), NOW);
  assert.equal(r.actions.length, 1);
  const p = r.actions[0] as PlayAction;
  assert.equal(p.kind, 'play');
  assert.deepEqual(p.groups, ['c26734']);
  assert.equal(p.priority, 100);
  assert.deepEqual(p.repeat, { everyS: 1800, until: new Date(NOW + 3 * 3_600_000).toISOString() });
  assert.equal(p.expiresAt, new Date(NOW + 3 * 3_600_000).toISOString());
  assert.equal(p.capRef.msgType, 'Alert');
  assert.match(p.id, /^cap-[0-9a-f]{16}$/);
  assert.ok('tts' in p.audio, 'no audio resource: synthesised');
  assert.ok(
    r.lines.some((l) => /info\[0\] -> group c26734 \(area "Xã Thạnh Lộc": geocode VN-ADM3=26734\)/.test(l)),
    r.lines.join('\n'),
  );
  assert.ok(r.lines.some((l) => /priority 100 \(Extreme and Immediate: emergency\)/.test(l)));
});

test('priority classes: Extreme+Immediate 100, Extreme or Severe 75, else 50; an event rule overrides', () => {
  assert.equal(defaultPriority({ severity: 'Extreme', urgency: 'Immediate' }).priority, 100);
  assert.equal(defaultPriority({ severity: 'Extreme', urgency: 'Expected' }).priority, 75);
  assert.equal(defaultPriority({ severity: 'Severe', urgency: 'Immediate' }).priority, 75);
  assert.equal(defaultPriority({ severity: 'Moderate', urgency: 'Immediate' }).priority, 50);
  const r = mapAlert(alertOf({ infos: [{ event: 'Sóng thần', severity: 'Moderate' }] }), mapping(), NOW);
  const p = r.actions[0] as PlayAction;
  assert.equal(p.priority, 100);
  assert.equal(p.volume, 100);
  assert.deepEqual(p.repeat, { everyS: 1200, count: 6 }, 'no expires: the rule count');
  assert.equal(p.expiresAt, new Date(NOW + 24 * 3_600_000).toISOString(), 'a command lives at most 24 h');
});

test('a polygon or circle reaches the groups whose point is inside it', () => {
  const square = '10.8,106.6 10.9,106.6 10.9,106.7 10.8,106.7 10.8,106.6';
  assert.equal(
    inPolygon(
      [10.87, 106.68],
      square.split(' ').map((p) => p.split(',').map(Number) as [number, number]),
    ),
    true,
  );
  assert.ok(Math.abs(distanceKm([10.87, 106.68], [10.77, 106.7]) - 11.3) < 0.3);
  const r = mapAlert(alertOf({ infos: [{ areas: [{ desc: 'Vùng ven sông', polygons: [square] }] }] }), mapping(), NOW);
  assert.deepEqual((r.actions[0] as PlayAction).groups, ['c26734']);
  const c = mapAlert(
    alertOf({ infos: [{ areas: [{ desc: 'Hà Nội', circles: ['21.02,105.83 10'] }] }] }),
    mapping(),
    NOW,
  );
  assert.deepEqual((c.actions[0] as PlayAction).groups, ['c99999']);
});

test('Exercise and Test go only to exercise groups; Actual never to a group marked actual:false', () => {
  const area = [{ geocodes: [['VN-ADM2', '761']] as [string, string][], circles: ['10.77,106.70 1'] }];
  const ex = mapAlert(alertOf({ status: 'Exercise', infos: [{ areas: area }] }), mapping(), NOW);
  assert.deepEqual((ex.actions[0] as PlayAction).groups, ['lab']);
  assert.ok(
    ex.lines.some((l) => /not group c26734 .*status Exercise goes only to groups with "exercise": true/.test(l)),
    ex.lines.join('\n'),
  );
  const t = mapAlert(alertOf({ status: 'Test', infos: [{ areas: area }] }), mapping(), NOW);
  assert.deepEqual((t.actions[0] as PlayAction).groups, ['lab']);
  const act = mapAlert(alertOf({ infos: [{ areas: area }] }), mapping(), NOW);
  assert.deepEqual((act.actions[0] as PlayAction).groups, ['c26734', 'c26737']);
  assert.ok(act.lines.some((l) => /not group lab .*"actual": false/.test(l)));
});

test('Draft and System are ignored with a reason; so are Ack and Error', () => {
  for (const status of ['Draft', 'System']) {
    const r = mapAlert(alertOf({ status }), mapping(), NOW);
    assert.equal(r.actions.length, 0);
    assert.ok(r.lines.some((l) => new RegExp(`ignored: status ${status}`).test(l)));
  }
  const ack = mapAlert(alertOf({ msgType: 'Ack', references: 'a,b,2026-11-27T14:00:00+07:00' }), mapping(), NOW);
  assert.equal(ack.actions.length, 0);
  assert.ok(ack.lines.some((l) => /ignored: msgType Ack/.test(l)));
});

test('Restricted and Private alerts are not broadcast unless the mapping lists their scope', () => {
  const r = mapAlert(alertOf({ scope: 'Restricted' }), mapping(), NOW);
  assert.equal(r.actions.length, 0);
  assert.ok(
    r.lines.some((l) =>
      /ignored: scope Restricted \(restricted: Cơ quan chức năng\); loudspeakers are heard by everyone/.test(l),
    ),
    r.lines.join('\n'),
  );
  const m = readMapping({ ...MAPPING_JSON, scopes: ['Public', 'Restricted'] });
  assert.ok(m.ok);
  assert.equal(mapAlert(alertOf({ scope: 'Restricted' }), m.mapping, NOW).actions.length, 1);
  assert.match(
    (readMapping({ ...MAPPING_JSON, scopes: ['Everyone'] }) as { problems: string[] }).problems.join(),
    /scopes: must be a non-empty list/,
  );
});

test('an expired alert is not sent, and says so; nor is an old one without expires', () => {
  const r = mapAlert(alertOf({ infos: [{ expires: capTime(NOW - 1000) }] }), mapping(), NOW);
  assert.equal(r.actions.length, 0);
  assert.ok(
    r.lines.some((l) => /not sent: expired at/.test(l)),
    r.lines.join('\n'),
  );
  const old = mapAlert(alertOf({ sent: capTime(NOW - 25 * 3_600_000) }), mapping(), NOW);
  assert.equal(old.actions.length, 0);
  assert.ok(
    old.lines.some((l) => /not sent: no expires, and sent .*, more than 24 h ago \(stale\)/.test(l)),
    old.lines.join('\n'),
  );
  const oldButValid = mapAlert(
    alertOf({ sent: capTime(NOW - 25 * 3_600_000), infos: [{ expires: capTime(NOW + 3_600_000) }] }),
    mapping(),
    NOW,
  );
  assert.equal(oldButValid.actions.length, 1, 'an old alert still in force by its expires is sent');
});

test('Update: a cancel of each referenced alert to the groups it went to (only those), then the new play; Cancel: the cancels only', () => {
  const old = 'canhbao@kttv.gov.vn,VN-KTTV-2026-0001,2026-11-27T13:00:00+07:00';
  const known = (id: string) => (id === 'VN-KTTV-2026-0001' ? { groups: ['c26737'] } : undefined);
  const up = mapAlert(
    alertOf({ identifier: 'VN-KTTV-2026-0002', msgType: 'Update', references: old }),
    mapping(),
    NOW,
    known,
  );
  assert.deepEqual(
    up.actions.map((a) => a.kind),
    ['cancel', 'play'],
  );
  const c = up.actions[0] as CancelAction;
  assert.equal(c.capId, 'VN-KTTV-2026-0001');
  assert.deepEqual(c.groups, ['c26737'], 'where the old one went, and nowhere else');
  assert.deepEqual(up.actions[1]!.groups, ['c26734'], 'the new play goes to its own areas');
  assert.equal(c.capRef.msgType, 'Update');
  assert.ok(
    up.lines.some((l) => /replaces canhbao@kttv.gov.vn,VN-KTTV-2026-0001,.* \(sent to c26737 from here\)/.test(l)),
    up.lines.join('\n'),
  );

  const cancel = mapAlert(
    alertOf({ identifier: 'VN-KTTV-2026-0003', msgType: 'Cancel', references: old, infos: [] }),
    mapping(),
    NOW,
    known,
  );
  assert.deepEqual(
    cancel.actions.map((a) => a.kind),
    ['cancel'],
  );
  assert.deepEqual(cancel.actions[0]!.groups, ['c26737']);
});

test('issue [3/8]: an unsigned Cancel (or Update) of an alert never actioned here is reported and not sent; a signed one reaches its own areas, never every group', () => {
  const ghost = 'canhbao@kttv.gov.vn,VN-KTTV-2026-0009,2026-11-27T13:00:00+07:00';
  const unsigned = mapAlert(
    alertOf({ identifier: 'VN-KTTV-2026-0004', msgType: 'Cancel', references: ghost }),
    mapping(),
    NOW,
  );
  assert.deepEqual(unsigned.actions, [], 'it would have pre-empted the real alert when it came');
  assert.ok(
    unsigned.lines.some((l) =>
      /cancel of canhbao@kttv\.gov\.vn,VN-KTTV-2026-0009,.*: not sent: not actioned here, and an unsigned Cancel cancels only what this centre sent/.test(
        l,
      ),
    ),
    unsigned.lines.join('\n'),
  );
  const upd = mapAlert(
    alertOf({ identifier: 'VN-KTTV-2026-0005', msgType: 'Update', references: ghost }),
    mapping(),
    NOW,
  );
  assert.deepEqual(
    upd.actions.map((a) => a.kind),
    ['play'],
    'the update itself still plays; it cancels nothing',
  );
  const signed = mapAlert(
    alertOf({ identifier: 'VN-KTTV-2026-0006', msgType: 'Cancel', references: ghost }),
    mapping(),
    NOW,
    undefined,
    { signed: true },
  );
  assert.deepEqual(
    signed.actions.map((a) => [a.kind, a.groups]),
    [['cancel', ['c26734']]],
    'its own areas, not the whole mapping',
  );
});

test("issue [3/8]: an alert whose area maps to no group is a failure naming the geocodes and the mapping's keys", () => {
  const r = mapAlert(alertOf({ infos: [{ areas: [{ geocodes: [['VN-ADMIN', '26734']] }] }] }), mapping(), NOW);
  assert.deepEqual(r.actions, []);
  assert.equal(r.unmatched.length, 1);
  assert.match(
    r.unmatched[0]!,
    /no area maps to a group: "Xã Thạnh Lộc" \(VN-ADMIN=26734\); the mapping's geocodes: VN-ADM3 \(2 values: 26734, 26737\); VN-ADM2/,
  );
  const cancel = mapAlert(
    alertOf({
      msgType: 'Cancel',
      references: 'a,b,2026-11-27T13:00:00+07:00',
      infos: [{ areas: [{ geocodes: [['VN-ADMIN', '1']] }] }],
    }),
    mapping(),
    NOW,
  );
  assert.deepEqual(cancel.unmatched, [], 'a Cancel goes by its references, not its areas');
});

test('the preferred language is picked; an audio resource is used instead of speech', () => {
  const a = alertOf({
    infos: [
      { language: 'en-US', event: 'Storm', headline: 'Storm warning' },
      { language: 'vi-VN', resources: [{ uri: 'https://cdn.example.vn/bao.mp3' }] },
    ],
  });
  assert.deepEqual(
    pickInfos(a.infos, ['vi', 'en']).map((i) => i.language),
    ['vi-VN'],
  );
  const r = mapAlert(a, mapping(), NOW);
  assert.equal(r.actions.length, 1);
  const p = r.actions[0] as PlayAction;
  assert.ok('resource' in p.audio && p.audio.resource.uri === 'https://cdn.example.vn/bao.mp3');
  assert.deepEqual(
    pickInfos(a.infos, ['en']).map((i) => i.language),
    ['en-US'],
  );
});

test('the same alert always maps to the same command id (a box runs it once)', () => {
  const a = alertOf({});
  assert.equal(mapAlert(a, mapping(), NOW).actions[0]!.id, mapAlert(a, mapping(), NOW + 5000).actions[0]!.id);
});

test('mapping file problems are each named by path', () => {
  const m = readMapping({
    geocodes: { 'VN-ADM3': { '1': ['Bad Group'], '2': [] } },
    groups: { lab: { exercise: 'yes', point: [200, 1] } },
    events: { x: { everyS: 5 } },
    extra: 1,
  });
  assert.equal(m.ok, false);
  const p = (m as { problems: string[] }).problems.join('\n');
  for (const re of [
    /extra: unknown field/,
    /geocodes\.VN-ADM3\.1\[0\]: "Bad Group" is not a group name/,
    /geocodes\.VN-ADM3\.2: must be a non-empty list/,
    /groups\.lab\.exercise: must be true or false/,
    /groups\.lab\.point: must be \[latitude, longitude\]/,
    /events\.x\.everyS: must be a whole number 60\.\.86400/,
  ])
    assert.match(p, re);
});

test("a rule's everyS may go down to the fleet's schedule.minRepeatS (noc cap --min-repeat-s), not below", () => {
  const rules = (everyS: number) => ({ ...MAPPING_JSON, events: { x: { everyS } } });
  assert.equal(readMapping(rules(5), 5).ok, true);
  assert.match(
    (readMapping(rules(4), 5) as { problems: string[] }).problems.join(),
    /events\.x\.everyS: must be a whole number 5\.\.86400/,
  );
  assert.equal(readMapping(rules(5)).ok, false, 'the default is the contract minimum, 60 s');
});
