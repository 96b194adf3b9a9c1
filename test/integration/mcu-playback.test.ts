// The agent with the `mcu` board (the rig: mcu-rig.ts), what plays through it: FM items
// tune the receiver and select the input once, signal loss falls back (or, without a
// fallback, tells the centre), an amplifier the board refuses fails the play with reason
// hardware. Real mpg123 with paced output and a local HTTP stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rig, occ, noAudio, streamUrl } from './mcu-rig.js';

test('FM: the item tunes the receiver, the heartbeat reports fm.rssi, a line fault names the occurrence, signal loss falls back', async () => {
  const r = await rig();
  r.agent.playback.fire(occ('vov1', { kind: 'fm', freqMHz: 100.0, fallback: { kind: 'line' } }, 20_000), 0);
  await r.centre.waitUntil(() => r.events('play.started')[0], 8000, 'fm play.started');
  assert.equal(r.sim.model.state().fmFreq, 10_000);
  assert.equal(r.sim.model.state().input, 'fm');
  const hb = await r.centre.waitUntil(
    () => r.heartbeats().find((h) => h.state === 'playing' && h.fm),
    8000,
    'heartbeat with fm',
  );
  assert.deepEqual(hb.fm, { freqMHz: 100, rssi: 45 });

  r.sim.model.line('short');
  const lf = await r.waitHw('hw.fault', 'line', 'line_short');
  assert.equal(lf.itemId, 'vov1');
  assert.equal(lf.docId, 'doc');
  assert.equal(typeof lf.occurrence, 'string');

  r.sim.model.fmSignal(true);
  await r.waitHw('hw.fault', 'fm', 'no_signal');
  const fo = await r.centre.waitUntil(() => r.events('play.failover')[0], 8000, 'play.failover to the fallback');
  assert.deepEqual({ from: fo.from, to: fo.to }, { from: 'fm', to: 'fallback:line' });
  await r.centre.waitUntil(
    () => (r.sim.model.state().input === 'line' ? true : undefined),
    5000,
    'input switched to line',
  );
  await r.agent.playback.stopAll('stopped');
  await r.close();
});

test('an ad-hoc FM play (not pre-warmed): the station is tuned before its input is selected and the amplifier opens', async () => {
  const r = await rig();
  const from = r.sim.model.log.length;
  r.agent.playback.fire(occ('adhoc-fm', { kind: 'fm', freqMHz: 101.5 }, 3000, { priority: 75 }), 0);
  await r.centre.waitUntil(() => r.events('play.started')[0], 8000, 'fm play.started');
  const log = r.sim.model.log.slice(from);
  const at = (p: (c: (typeof log)[number]) => boolean, what: string) => {
    const i = log.findIndex(p);
    assert.ok(i >= 0, `${what} sent: ${JSON.stringify(log)}`);
    return i;
  };
  const tune = at((c) => c.cmd === 'fm-tune' && c.freq === 10_150, 'FM_TUNE 101.5');
  const input = at((c) => c.cmd === 'select-input' && c.input === 'fm', 'SELECT_INPUT fm');
  const amp = at((c) => c.cmd === 'set-amp' && c.on, 'SET_AMP 1');
  assert.ok(
    tune < input && tune < amp,
    `tuned first (the previous station never on air): ${JSON.stringify(log.map((c) => c.cmd))}`,
  );
  await r.agent.playback.stopAll('stopped');
  await r.close();
});

test(
  'a stream whose amplifier the board refuses (fault latched): play.failed hardware, never play.started',
  { skip: noAudio },
  async () => {
    const r = await rig();
    r.sim.model.ampFault('overcurrent');
    await r.waitHw('hw.fault', 'amp', 'overcurrent');
    r.agent.playback.fire(occ('relay', { kind: 'stream', url: streamUrl }, 5000), 0);
    const failed = await r.centre.waitUntil(() => r.events('play.failed')[0], 10_000, 'play.failed');
    assert.equal(failed.reason, 'hardware');
    assert.match(String(failed.message), /refused to switch it on/);
    assert.equal(r.events('play.started').length, 0, 'no proof of play for audio into a refused amplifier');
    r.sim.model.ampFault(null);
    await r.close();
  },
);

test('FM signal loss without a fallback: the relay stays on FM and the fault tells the centre', async () => {
  const r = await rig();
  r.agent.playback.fire(occ('vov2', { kind: 'fm', freqMHz: 97.0 }, 20_000), 0);
  await r.centre.waitUntil(() => r.events('play.started')[0], 8000, 'fm play.started');
  r.sim.model.fmSignal(true);
  await r.waitHw('hw.fault', 'fm', 'no_signal');
  await new Promise((res) => setTimeout(res, 500));
  assert.equal(r.events('play.failover').length, 0);
  assert.equal(r.events('play.failed').length, 0);
  assert.equal(r.sim.model.state().input, 'fm');
  assert.equal(r.agent.playback.playing()?.itemId, 'vov2');
  await r.agent.playback.stopAll('stopped');
  await r.close();
});

test('an fm item whose amplifier the board refuses fails with reason hardware (no false play.started); hw_fault recovers with the fault', async () => {
  const r = await rig();
  r.sim.model.ampFault('overcurrent');
  await r.waitHw('hw.fault', 'amp', 'overcurrent');
  r.agent.playback.fire(occ('vov3', { kind: 'fm', freqMHz: 99.0 }, 20_000), 0);
  const failed = await r.centre.waitUntil(() => r.events('play.failed')[0], 8000, 'play.failed');
  assert.equal(failed.reason, 'hardware');
  assert.match(String(failed.message), /amplifier is off/);
  assert.equal(r.events('play.started').length, 0, 'no proof of play for audio that was not out');
  assert.equal(r.sim.model.state().amp, false);
  await r.waitHw('hw.fault', 'amp', 'hw_fault');
  r.sim.model.ampFault(null);
  await r.waitHw('hw.recovered', 'amp', 'overcurrent');
  const rec = await r.waitHw('hw.recovered', 'amp', 'hw_fault');
  assert.match(String(rec.message), /cleared/);
  await r.close();
});

test('an FM item: the input is selected once, at the warm-up, not again when the audio starts', async () => {
  const r = await rig();
  const o = occ('vov4', { kind: 'fm', freqMHz: 101.0 }, 2000);
  r.agent.playback.prepare(o);
  await r.centre.waitUntil(() => (r.sim.model.state().amp ? true : undefined), 5000, 'warm-up: amp on');
  const switches = r.sim.model.state().inputSwitches;
  r.agent.playback.fire(o, 0);
  await r.centre.waitUntil(() => r.events('play.started')[0], 8000, 'fm play.started');
  assert.equal(
    r.sim.model.state().inputSwitches,
    switches,
    'no second select (a muting firmware would clip the start)',
  );
  assert.equal(r.sim.model.log.filter((c) => c.cmd === 'select-input' && c.input === 'fm').length, 1);
  await r.agent.playback.stopAll('stopped');
  await r.close();
});
