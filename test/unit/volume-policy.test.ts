// Volume safety (docs/protocol.md §3 "Volume"): the pure level decision of
// domain/volume-policy.ts, and the runtime state of runtime/volume.ts on a manual clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  activeWindows,
  decideVolume,
  localMinute,
  playerVolume,
  safeStartMaster,
  volumeProfileSchema,
  type VolumeInputs,
  type VolumeProfile,
} from '../../agent/domain/volume-policy.js';
import { validateCommand } from '../../contract/command-doc.js';
import { parseConfig } from '../../agent/config.js';
import { VolumeControl, type VolumeStore } from '../../agent/runtime/volume.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { createLogger } from '../../agent/log.js';

const QUIET: VolumeProfile = {
  timezone: 'Asia/Ho_Chi_Minh',
  windows: [{ name: 'quiet-hours', from: '21:30', to: '06:00', normal: 30, priority: 60 }],
};
/** An instant given as local time in Vietnam (UTC+7, no daylight saving). */
const vn = (day: string, hm: string) => Date.parse(`${day}T${hm}:00+07:00`);
const decide = (over: Partial<VolumeInputs>) =>
  decideVolume({
    now: vn('2026-11-26', '12:00'),
    priority: 50,
    master: 100,
    safeStart: false,
    profile: QUIET,
    emergencyLevel: 100,
    ...over,
  });

test('a window crossing midnight: in from 21:30 (inclusive) to 06:00 (exclusive), across the date change', () => {
  const cases: [string, string, boolean][] = [
    ['2026-11-26', '21:29', false],
    ['2026-11-26', '21:30', true],
    ['2026-11-26', '23:59', true],
    ['2026-11-27', '00:00', true],
    ['2026-11-27', '05:59', true],
    ['2026-11-27', '06:00', false],
    ['2026-11-27', '12:00', false],
  ];
  for (const [day, hm, inside] of cases) {
    assert.equal(activeWindows(QUIET, vn(day, hm)).length === 1, inside, `${day} ${hm}`);
    assert.equal(activeWindows(QUIET, vn(day, hm) + 59_999).length === 1, inside, `${day} ${hm}:59.999`);
  }
  // A window within one day.
  const noon: VolumeProfile = {
    timezone: 'Asia/Ho_Chi_Minh',
    windows: [{ name: 'siesta', from: '11:30', to: '13:30', normal: 20, priority: 50 }],
  };
  assert.deepEqual(
    [vn('2026-11-26', '11:29'), vn('2026-11-26', '11:30'), vn('2026-11-26', '13:29'), vn('2026-11-26', '13:30')].map(
      (t) => activeWindows(noon, t).length,
    ),
    [0, 1, 1, 0],
  );
});

test("local time is the profile zone's: DST-free zones whole and half-hour, west of UTC, and a daylight-saving zone both seasons", () => {
  // 14:30 UTC is 21:30 in Vietnam (+7), 20:00 in India (+5:30), 09:30 in Bogotá (-5).
  const t = Date.parse('2026-11-26T14:30:00Z');
  assert.equal(localMinute('Asia/Ho_Chi_Minh', t), 21 * 60 + 30);
  assert.equal(localMinute('Asia/Kolkata', t), 20 * 60);
  assert.equal(localMinute('America/Bogota', t), 9 * 60 + 30);
  assert.equal(localMinute('UTC', t), 14 * 60 + 30);
  const at = (tz: string, iso: string) => activeWindows({ ...QUIET, timezone: tz }, Date.parse(iso)).length;
  assert.equal(at('Asia/Kolkata', '2026-11-26T16:00:00Z'), 1, '21:30 in India');
  assert.equal(at('Asia/Kolkata', '2026-11-26T15:59:00Z'), 0, '21:29 in India');
  assert.equal(at('America/Bogota', '2026-11-27T02:30:00Z'), 1, '21:30 in Bogotá, the next UTC day');
  // Berlin: 21:30 is 19:30 UTC in summer (+2), 20:30 UTC in winter (+1).
  assert.equal(at('Europe/Berlin', '2026-07-01T19:30:00Z'), 1);
  assert.equal(at('Europe/Berlin', '2026-12-01T19:30:00Z'), 0);
  assert.equal(at('Europe/Berlin', '2026-12-01T20:30:00Z'), 1);
});

test('where daylight saving exists the windows follow the wall clock: an edge in the skipped hour at the jump, one in the repeated hour crossed twice', () => {
  const berlin = (from: string, to: string): VolumeProfile => ({
    timezone: 'Europe/Berlin',
    windows: [{ name: 'w', from, to, normal: 30, priority: 60 }],
  });
  const inside = (p: VolumeProfile, iso: string) => activeWindows(p, Date.parse(iso)).length === 1;
  // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC). A window from 02:30 begins at the jump.
  const spring = berlin('02:30', '06:00');
  assert.equal(inside(spring, '2026-03-29T00:59:00Z'), false, '01:59 CET');
  assert.equal(inside(spring, '2026-03-29T01:00:00Z'), true, '03:00 CEST');
  // 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00 UTC). 02:30 happens twice.
  const autumn = berlin('02:30', '06:00');
  assert.deepEqual(
    ['2026-10-25T00:29:00Z', '2026-10-25T00:30:00Z', '2026-10-25T01:00:00Z', '2026-10-25T01:30:00Z'].map((t) =>
      inside(autumn, t),
    ),
    [false, true, false, true],
    '02:29 CEST out, 02:30 CEST in, 02:00 CET out again, 02:30 CET in',
  );
});

test('priority classes: normal below 75, priority 75 to 99, each with its cap; the master limits when it is lower', () => {
  const night = vn('2026-11-26', '23:00');
  for (const [priority, level] of [
    [0, 30],
    [50, 30],
    [74, 30],
    [75, 60],
    [99, 60],
  ] as const) {
    assert.deepEqual(
      decide({ now: night, priority }),
      { level, reason: 'quiet-hours', cap: level, window: 'quiet-hours' },
      `priority ${priority}`,
    );
  }
  // The master below the cap decides; the window is still named.
  assert.deepEqual(decide({ now: night, priority: 80, master: 40 }), {
    level: 40,
    cap: 60,
    reason: 'master',
    window: 'quiet-hours',
  });
  // A cap equal to the master: the master decides (the cap takes nothing away).
  assert.deepEqual(decide({ now: night, master: 30 }), { level: 30, cap: 30, reason: 'master', window: 'quiet-hours' });
  // Outside every window: the master, no cap.
  assert.deepEqual(decide({ master: 85 }), { level: 85, reason: 'master' });
});

test('overlapping windows: the lowest cap for the class wins and is named', () => {
  const profile: VolumeProfile = {
    timezone: 'Asia/Ho_Chi_Minh',
    windows: [
      { name: 'evening', from: '20:00', to: '23:00', normal: 50, priority: 40 },
      { name: 'quiet-hours', from: '21:30', to: '06:00', normal: 30, priority: 60 },
    ],
  };
  const t = vn('2026-11-26', '22:00');
  assert.deepEqual(decide({ now: t, profile }), { level: 30, cap: 30, reason: 'quiet-hours', window: 'quiet-hours' });
  assert.deepEqual(decide({ now: t, profile, priority: 80 }), {
    level: 40,
    cap: 40,
    reason: 'quiet-hours',
    window: 'evening',
  });
});

test('an emergency plays at the emergency level, whatever the profile, the master, the safe start or its own volume', () => {
  const night = vn('2026-11-26', '23:00');
  const d = decide({ now: night, priority: 100, master: 10, safeStart: true, emergencyLevel: 90 });
  assert.deepEqual(d, { level: 90, reason: 'emergency' });
  assert.equal(playerVolume(d, 20, 80), 72, '90 % of maxVolume 80, the item volume 20 ignored');
  // Normal content: level × item volume × maxVolume.
  assert.equal(playerVolume(decide({ now: night }), 50, 80), 12);
  assert.equal(playerVolume(decide({ master: 50 }), undefined, 100), 50);
});

test('safe start: the master in force after a start is never louder than before nor above the safe level', () => {
  assert.deepEqual(safeStartMaster(100, 50), { master: 50, safeStart: true });
  assert.deepEqual(safeStartMaster(80, 50), { master: 50, safeStart: true });
  assert.deepEqual(safeStartMaster(50, 50), { master: 50, safeStart: false });
  assert.deepEqual(safeStartMaster(20, 50), { master: 20, safeStart: false }, 'never raised to the safe level');
  assert.deepEqual(decide({ master: 50, safeStart: true }), { level: 50, reason: 'safe-start' });
  // Mid-quiet-hours: normal content is capped lower than the safe level, priority content is not.
  const night = vn('2026-11-26', '23:00');
  assert.deepEqual(decide({ now: night, master: 50, safeStart: true }), {
    level: 30,
    cap: 30,
    reason: 'quiet-hours',
    window: 'quiet-hours',
  });
  assert.deepEqual(decide({ now: night, priority: 75, master: 50, safeStart: true }), {
    level: 50,
    cap: 60,
    reason: 'safe-start',
    window: 'quiet-hours',
  });
});

test('profile validation: local times, a window of no length, zones; the command and the config take the same profile', () => {
  const bad = (windows: unknown[], timezone?: string) =>
    volumeProfileSchema.safeParse({ windows, ...(timezone ? { timezone } : {}) });
  const w = { name: 'q', from: '21:30', to: '06:00', normal: 30, priority: 60 };
  assert.equal(bad([w]).success, true);
  assert.equal(volumeProfileSchema.parse({ windows: [] }).timezone, 'Asia/Ho_Chi_Minh', 'the default zone');
  for (const x of [
    { ...w, from: '24:00' },
    { ...w, to: '6:00' },
    { ...w, to: '21:30' },
    { ...w, normal: 101 },
    { ...w, priority: -1 },
    { ...w, name: 'Quiet Hours' },
  ]) {
    assert.equal(bad([x]).success, false, JSON.stringify(x));
  }
  assert.equal(bad([w], 'Mars/Olympus').success, false);

  const cmd = (args: unknown) =>
    validateCommand({
      type: 'command',
      id: 'c1',
      issuedAt: '2026-11-26T10:00:00Z',
      expiresAt: '2026-11-26T10:10:00Z',
      target: { devices: ['b'] },
      action: 'volume-profile',
      args,
    });
  assert.equal(cmd({ profile: { windows: [w] } }).ok, true);
  assert.equal(cmd({ profile: null }).ok, true, 'null: back to the configured profile');
  const refused = cmd({ profile: { windows: [{ ...w, to: '21:30' }] } });
  assert.equal(refused.ok, false);
  assert.match((refused as { message: string }).message, /args\.profile\.windows\[0\]\.to: from and to must differ/);
  assert.equal(cmd({}).ok, false, 'profile is required (null to reset)');

  const base = { deviceId: 'b', mqtt: { url: 'mqtt://localhost' } };
  const c = parseConfig(base);
  assert.deepEqual([c.volume.safeLevel, c.volume.emergencyLevel, c.volume.profile.windows.length], [50, 100, 0]);
  assert.throws(
    () => parseConfig({ ...base, volume: { profile: { windows: [{ ...w, from: '25:00' }] } } }),
    /volume\.profile\.windows\[0\]\.from/,
  );
  assert.throws(() => parseConfig({ ...base, volume: { emergencyLevel: 0 } }), /volume\.emergencyLevel: 0 is below 1/);
});

// --- the runtime state ------------------------------------------------------------------

function memStore(master?: number, profile?: string): VolumeStore & { master?: number; profile?: string } {
  const s = {
    master,
    profile,
    volume: () => s.master ?? 100,
    setVolume: (l: number) => void (s.master = l),
    volumeProfile: () => s.profile,
    setVolumeProfile: (j: string | null) => void (s.profile = j ?? undefined),
  };
  return s;
}

const log = createLogger({ level: 'silent', pretty: false });
const control = (clock: ManualClock, store: VolumeStore, onChange = () => {}) =>
  new VolumeControl({
    clock,
    log,
    store,
    maxVolume: 80,
    safeLevel: 50,
    emergencyLevel: 100,
    configured: QUIET,
    onChange,
  });

test('VolumeControl: safe start from the persisted master, raised only by a volume command, lowered again by the next start', () => {
  const clock = new ManualClock({ now: vn('2026-11-26', '12:00') });
  const store = memStore(90);
  const v = control(clock, store);
  assert.equal(v.masterLevel(), 50);
  assert.deepEqual(v.decide(50), { level: 50, reason: 'safe-start' });
  assert.equal(store.master, 90, "the centre's level is kept, only not in force");
  v.setMaster(70);
  assert.deepEqual(v.decide(50), { level: 70, reason: 'master' });
  assert.equal(v.playerVolume({ priority: 50, volume: 50 }), 28, '70 % × 50 % × maxVolume 80');
  assert.equal(control(clock, store).masterLevel(), 50, 'the next start: safe again');
  assert.equal(control(clock, memStore(30)).masterLevel(), 30);
});

test('VolumeControl: a window boundary is a change (what plays follows it), checked at each local minute', async () => {
  const clock = new ManualClock({ now: vn('2026-11-26', '21:28') + 12_345 });
  let changes = 0;
  const v = control(clock, memStore(100), () => changes++);
  v.setMaster(100);
  changes = 0;
  v.start();
  clock.advance(60_000);
  assert.equal(changes, 0, '21:29: nothing changed');
  assert.equal(v.decide(50).reason, 'master');
  clock.advance(60_000);
  assert.equal(changes, 1, '21:30: quiet hours begin');
  assert.deepEqual(v.decide(50), { level: 30, cap: 30, reason: 'quiet-hours', window: 'quiet-hours' });
  assert.equal(v.playerVolume({ priority: 50, volume: undefined }), 24);
  clock.advance(8.5 * 3_600_000);
  assert.equal(changes, 2, '06:00: they end, and nothing else in between');
  v.stop();
  assert.equal(clock.pending, 0, 'stop() leaves no timer');
});

test('VolumeControl: a commanded profile is persisted and survives a restart; null goes back to the configured one; a bad stored one is ignored', () => {
  const clock = new ManualClock({ now: vn('2026-11-26', '23:00') });
  const store = memStore(100);
  const v = control(clock, store);
  const open: VolumeProfile = { timezone: 'Asia/Ho_Chi_Minh', windows: [] };
  assert.equal((v.setProfile(open) as { source: string }).source, 'command');
  assert.deepEqual(v.decide(50), { level: 50, reason: 'safe-start' });
  const again = control(clock, store);
  assert.deepEqual(again.profileInForce(), { source: 'command', profile: open });
  assert.equal((again.setProfile(null) as { source: string }).source, 'config');
  assert.equal(store.profile, undefined);
  assert.equal(control(clock, store).decide(50).reason, 'quiet-hours');
  const broken = control(clock, memStore(100, '{"windows":[{"name":"x","from":"99:00"}]}'));
  assert.deepEqual(broken.profileInForce(), { source: 'config', profile: QUIET });
});

test('VolumeControl v1.2: a volume-profile issued before the one in force is refused (out of order delivery), across a restart and after a null', () => {
  const clock = new ManualClock({ now: vn('2026-11-26', '23:00') });
  const store = memStore(100);
  const v = control(clock, store);
  const mute: VolumeProfile = {
    timezone: 'Asia/Ho_Chi_Minh',
    windows: [{ name: 'mute', from: '00:00', to: '23:59', normal: 0, priority: 0 }],
  };
  const open: VolumeProfile = { timezone: 'Asia/Ho_Chi_Minh', windows: [] };
  const t = clock.now();
  assert.equal((v.setProfile(open, t) as { source: string }).source, 'command');
  assert.deepEqual(
    v.setProfile(mute, t - 60_000),
    { olderThan: new Date(t).toISOString() },
    'the older, muting one is refused',
  );
  assert.deepEqual(v.profileInForce().profile, open);
  const restarted = control(clock, store);
  assert.deepEqual(
    restarted.setProfile(mute, t - 1),
    { olderThan: new Date(t).toISOString() },
    'the order survives a restart',
  );
  assert.equal((restarted.setProfile(null, t + 1000) as { source: string }).source, 'config');
  assert.deepEqual(
    control(clock, store).setProfile(mute, t + 500),
    { olderThan: new Date(t + 1000).toISOString() },
    'a null in force is ordered too',
  );
  assert.equal(
    (control(clock, store).setProfile(mute, t + 2000) as { source: string }).source,
    'command',
    'a newer one is taken',
  );
});
