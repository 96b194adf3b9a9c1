// Proof of sound at the centre (contract v1.2 §9, issue 29 item 4): what `noc exporter`
// prints of a box's measured output. The level of the last measured play, never a 0 for
// a box that cannot measure; silent plays and silent seconds; dead-air moves; emergencies
// that sounded nowhere; every counter from 0 once the box has shown that it measures.
// Times come from the run's clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExporterModel } from '../../noc/exporter-model.js';
import { BOX, METRIC_NAMES } from '../../noc/exporter-metrics.js';
import { renderMetrics, type ExporterHealth } from '../../noc/exporter-render.js';
import { soundFact } from '../../noc/exporter-sound.js';
import { DEFAULT_ROOT as ROOT, deviceTopic } from '../../contract/index.js';

const T0 = Date.now();
const iso = (ms: number) => new Date(ms).toISOString();
const t = (id: string, leaf: 'status' | 'events') => deviceTopic(ROOT, id, leaf);
const birth = (bootId: string) =>
  JSON.stringify({ online: true, ts: iso(T0), bootId, epoch: 'e1', agentVersion: '1.2.0', groups: ['all'] });
const play = { itemId: 'news', docId: 'daily', docVersion: 1, occurrence: iso(T0), lateMs: 3, source: 'file' };
let seq = 0;
const ev = (type: string, fields: Record<string, unknown> = {}, s = ++seq) =>
  JSON.stringify({ epoch: 'e1', seq: s, ts: iso(T0), type, priority: 50, ...play, ...fields });
const health: ExporterHealth = {
  connected: true,
  mode: 'box',
  share: '',
  scrapes: 1,
  lastRenderS: 0.01,
  loopDelayP99S: 0.001,
  startedAt: T0,
};

function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

const SOUND = [
  'loa_box_output_level_db',
  'loa_box_output_measured_plays_total',
  'loa_box_output_silent_plays_total',
  'loa_box_output_silent_seconds_total',
  'loa_box_plays_degraded_total',
  'loa_box_emergency_no_output_total',
];
/** The proof-of-sound series of one box, "name{labels}" -> value. */
const soundOf = (s: Map<string, number>, device: string) =>
  new Map([...s].filter(([k]) => SOUND.some((n) => k.startsWith(`${n}{device="${device}"`))));

test('a measuring box: the level of its last measured play, silent plays and seconds; re-sends count once', () => {
  const m = new ExporterModel({ root: ROOT });
  m.apply(t('b1', 'status'), birth('boot-1'), T0, true);
  m.apply(t('b1', 'events'), ev('play.started'), T0);
  const quiet = ev('play.finished', { playedMs: 60_000, output: { measured: true, levelDb: -8.5, silentMs: 0 } });
  m.apply(t('b1', 'events'), quiet, T0);
  m.apply(t('b1', 'events'), quiet, T0 + 1); // at-least-once: the same event again
  m.apply(
    t('b1', 'events'),
    ev('play.interrupted', {
      reason: 'preempted',
      playedMs: 30_000,
      output: { measured: true, levelDb: -41.2, silentMs: 12_500 },
    }),
    T0 + 2,
  );
  m.apply(
    t('b1', 'events'),
    ev('play.finished', { playedMs: 20_000, output: { measured: true, levelDb: -6, silentMs: 1_000 } }),
    T0 + 3,
  );
  // Measured under half of the play: the level stays the last one measured.
  m.apply(t('b1', 'events'), ev('play.finished', { playedMs: 9_000, output: { measured: false } }), T0 + 4);
  const s = samples(renderMetrics(m, T0 + 5, health));
  assert.deepEqual(
    soundOf(s, 'b1'),
    new Map([
      ['loa_box_output_level_db{device="b1"}', -6],
      ['loa_box_output_measured_plays_total{device="b1"}', 3],
      ['loa_box_output_silent_plays_total{device="b1"}', 2],
      ['loa_box_output_silent_seconds_total{device="b1"}', 13.5],
      ['loa_box_plays_degraded_total{device="b1",reason="dead-air"}', 0],
      ['loa_box_plays_degraded_total{device="b1",reason="no-output"}', 0],
      ['loa_box_emergency_no_output_total{device="b1"}', 0],
    ]),
  );
  // The plays count as plays too, as before.
  assert.equal(s.get('loa_box_plays_total{device="b1",outcome="finished",reason=""}'), 3);
});

test('a box that cannot measure, or an older one that sends no output: no level and no proof-of-sound series, never a 0', () => {
  const m = new ExporterModel({ root: ROOT });
  m.apply(t('gpio', 'status'), birth('boot-g'), T0, true);
  m.apply(t('gpio', 'events'), ev('play.finished', { playedMs: 60_000, output: { measured: false } }), T0);
  m.apply(t('old', 'status'), birth('boot-o'), T0, true);
  m.apply(t('old', 'events'), ev('play.finished', { playedMs: 60_000 }), T0);
  // Fields that are not numbers are not a measurement of 0 either.
  m.apply(t('odd', 'status'), birth('boot-x'), T0, true);
  m.apply(t('odd', 'events'), ev('play.finished', { output: { measured: true, levelDb: 'loud', silentMs: null } }), T0);
  const s = samples(renderMetrics(m, T0 + 1, health));
  assert.deepEqual(soundOf(s, 'gpio'), new Map());
  assert.deepEqual(soundOf(s, 'old'), new Map());
  assert.equal(s.get('loa_box_plays_total{device="old",outcome="finished",reason=""}'), 1);
  assert.equal(s.get('loa_box_output_level_db{device="odd"}'), undefined, 'no level where none was sent');
  assert.equal(s.get('loa_box_output_measured_plays_total{device="odd"}'), 1);
  assert.equal(s.get('loa_box_output_silent_seconds_total{device="odd"}'), 0);
});

test('dead-air moves by reason, emergencies that failed no-output, an output fault raised and recovered', () => {
  const m = new ExporterModel({ root: ROOT, maxBoxSeries: 3 });
  m.apply(t('b1', 'status'), birth('boot-1'), T0, true);
  const relay = { source: 'stream', priority: 40 };
  for (let i = 0; i < 2; i++)
    m.apply(
      t('b1', 'events'),
      ev('play.degraded', { ...relay, from: `https://s${i}.example.vn/a`, to: 'fallback:file', reason: 'dead-air' }),
      T0,
    );
  // An emergency that sounded nowhere counts; a lower priority's no-output and another failure do not.
  m.apply(t('b1', 'events'), ev('play.failed', { priority: 100, reason: 'no-output', message: 'x' }), T0);
  m.apply(t('b1', 'events'), ev('play.failed', { priority: 50, reason: 'no-output', message: 'x' }), T0);
  m.apply(t('b1', 'events'), ev('play.failed', { priority: 100, reason: 'media', message: 'x' }), T0);
  let s = samples(renderMetrics(m, T0 + 1, health));
  assert.equal(s.get('loa_box_plays_degraded_total{device="b1",reason="dead-air"}'), 2);
  assert.equal(s.get('loa_box_plays_degraded_total{device="b1",reason="no-output"}'), 0);
  assert.equal(s.get('loa_box_emergency_no_output_total{device="b1"}'), 1);
  assert.equal(s.get('loa_box_output_level_db{device="b1"}'), undefined, 'no play measured yet: no level');
  assert.equal(s.get('loa_box_plays_total{device="b1",outcome="failed",reason="no-output"}'), 2);
  // A reason outside the contract is a label set under the per-box bound (3: two play labels, this one).
  for (const reason of ['made-up-1', 'made-up-2'])
    m.apply(t('b1', 'events'), ev('play.degraded', { ...relay, from: 'a', to: 'b', reason }), T0);
  s = samples(renderMetrics(m, T0 + 1, health));
  assert.equal(s.get('loa_box_plays_degraded_total{device="b1",reason="made-up-1"}'), 1);
  assert.equal(s.get('loa_box_plays_degraded_total{device="b1",reason="made-up-2"}'), undefined);
  assert.equal(s.get('loa_exporter_dropped_total{reason="box_series"}'), 1);

  // hw.fault output alone shows the board measures: the counters appear at 0; the fault is active until recovered.
  m.apply(t('b2', 'status'), birth('boot-2'), T0, true);
  const fault = { component: 'output', code: 'no_output', message: 'the speaker line silent for 5 s' };
  m.apply(t('b2', 'events'), ev('hw.fault', fault), T0);
  s = samples(renderMetrics(m, T0 + 1, health));
  assert.equal(s.get('loa_box_faults_active{device="b2",component="output"}'), 1);
  assert.equal(s.get('loa_box_hw_faults_total{device="b2",component="output"}'), 1);
  assert.equal(s.get('loa_box_output_silent_plays_total{device="b2"}'), 0);
  assert.equal(s.get('loa_box_emergency_no_output_total{device="b2"}'), 0);
  m.apply(t('b2', 'events'), ev('hw.recovered', fault), T0 + 2);
  s = samples(renderMetrics(m, T0 + 3, health));
  assert.equal(s.get('loa_box_faults_active{device="b2",component="output"}'), undefined);
  // A line fault (an idle impedance test an older board also runs) says nothing of the output.
  m.apply(t('b3', 'status'), birth('boot-3'), T0, true);
  m.apply(t('b3', 'events'), ev('hw.fault', { component: 'line', code: 'line_open', message: 'open' }), T0);
  assert.deepEqual(soundOf(samples(renderMetrics(m, T0 + 1, health)), 'b3'), new Map());
});

test('soundFact: what each event says of the output', () => {
  assert.deepEqual(soundFact({ type: 'play.finished', output: { measured: true, levelDb: -3, silentMs: -5 } }), {
    kind: 'measured',
    levelDb: -3,
    silentMs: 0,
  });
  assert.equal(soundFact({ type: 'play.finished', output: { measured: 'yes', levelDb: -3 } }), null);
  assert.equal(soundFact({ type: 'play.started', output: { measured: true, levelDb: -3, silentMs: 0 } }), null);
  assert.deepEqual(soundFact({ type: 'play.degraded' }), { kind: 'degraded', reason: 'unknown' });
  assert.deepEqual(soundFact({ type: 'play.failed', reason: 'no-output' }), { kind: 'no-output', priority: null });
  assert.equal(soundFact({ type: 'hw.fault', component: 'amp' }), null);
});

test('the proof-of-sound families: declared, typed, counters named _total, printed in base units', () => {
  for (const name of SOUND) {
    assert.ok(METRIC_NAMES.has(name), name);
    assert.equal(BOX[name]![0] === 'counter', name.endsWith('_total'), name);
  }
  const m = new ExporterModel({ root: ROOT });
  m.apply(t('b1', 'status'), birth('boot-1'), T0, true);
  m.apply(t('b1', 'events'), ev('play.finished', { output: { measured: true, levelDb: -7, silentMs: 250 } }), T0);
  const text = renderMetrics(m, T0 + 1, health);
  for (const name of SOUND) assert.match(text, new RegExp(`^# TYPE ${name} (gauge|counter)$`, 'm'));
  assert.match(text, /^loa_box_output_silent_seconds_total\{device="b1"\} 0\.25$/m);
});
