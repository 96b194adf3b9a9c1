// The demo's tour of the centre as text, what the demo says you will hear, Enter printing
// the tour again, and the demo's port from LOA_DEMO_PORT: the integration tests (noc-tour,
// demo) run the printed commands against a real demo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { demoPort } from '../../demo/demo.js';
import { afterDemo, isForeground, nocLauncher, onEnter, tour } from '../../demo/tour.js';
import { soundPlan } from '../../demo/sound.js';
import { tempDir } from '../helpers/tmp.js';

test('LOA_DEMO_PORT: unset is 1883, 0 any free port, anything else refused', () => {
  assert.equal(demoPort({}), 1883);
  assert.equal(demoPort({ LOA_DEMO_PORT: '' }), 1883);
  assert.equal(demoPort({ LOA_DEMO_PORT: '0' }), 0);
  assert.equal(demoPort({ LOA_DEMO_PORT: '18830' }), 18830);
  for (const bad of ['x', '-1', '65536', '1.5'])
    assert.throws(() => demoPort({ LOA_DEMO_PORT: bad }), /LOA_DEMO_PORT .* is not a TCP port/);
});

test('the launcher names the checkout: npx --prefix with dist/, the sources through npm without', () => {
  const root = tempDir('tour root');
  assert.equal(
    nocLauncher(root),
    `npm --prefix '${root}' run -s noc --`,
    'a path with a space is quoted for the shell',
  );
  mkdirSync(join(root, 'dist/noc'), { recursive: true });
  writeFileSync(join(root, 'dist/noc/cli.js'), '');
  assert.equal(nocLauncher(root), `npx --prefix '${root}' noc`);
});

test('the tour: three commands with the real port, key and paths, and dates in Vietnam', () => {
  const text = tour({
    noc: 'npx --prefix /src/loa noc',
    brokerUrl: 'mqtt://127.0.0.1:41234',
    deviceId: 'demo-box-01',
    keyFile: '/tmp/loa-demo-a/demo-centre.key.pem',
    warningFile: "/tmp/it's here/emergency-play.json",
    eventsDb: '/tmp/loa-demo-a/events.sqlite',
    heartbeatS: 10,
    now: Date.parse('2026-11-27T18:30:00Z'), // 01:30 on the 28th in Asia/Ho_Chi_Minh
  });
  const cmds = text.split('\n').filter((l) => l.startsWith('  npx '));
  assert.deepEqual(cmds, [
    '  npx --prefix /src/loa noc watch --broker mqtt://127.0.0.1:41234',
    `  npx --prefix /src/loa noc send '/tmp/it'\\''s here/emergency-play.json' --broker mqtt://127.0.0.1:41234 --device demo-box-01 --key /tmp/loa-demo-a/demo-centre.key.pem`,
    '  npx --prefix /src/loa noc events export --db /tmp/loa-demo-a/events.sqlite --from 2026-11-28 --to 2026-11-29 --out proof-of-play.csv',
  ]);
  assert.match(text, /10 s period its birth announces/);
});

test('the tour ends with what you will hear, Enter when it is read, and that Ctrl-C keeps the archive', () => {
  const facts = {
    noc: 'npx --prefix /src/loa noc',
    brokerUrl: 'mqtt://127.0.0.1:1883',
    deviceId: 'demo-box-01',
    keyFile: '/tmp/d/demo-centre.key.pem',
    warningFile: '/tmp/d/emergency-play.json',
    eventsDb: '/tmp/d/events.sqlite',
    heartbeatS: 10,
  };
  const plain = tour(facts);
  assert.match(plain, /── The box is up\. .*"A tour of the centre"/);
  assert.match(plain, /^ {2}Ctrl-C stops the demo and keeps the archive for the export$/m);
  assert.doesNotMatch(plain, /Enter/, 'no promise of Enter when standard input is not read');
  const full = tour({ ...facts, sound: 'sound: none here (no sound card)', enter: true, heading: 'Again' });
  assert.match(full, /^── Again ──$/m);
  assert.match(full, /^ {2}sound: none here \(no sound card\)$/m);
  assert.match(full, /^ {2}Enter prints these commands again; Ctrl-C stops/m);
});

test('after Ctrl-C: where the archive is, the export as the tour printed it, and how to remove it', () => {
  const now = Date.parse('2026-11-27T18:30:00Z'); // the 28th in Vietnam
  const text = afterDemo({
    noc: 'npx --prefix /src/loa noc',
    eventsDb: '/tmp/d x/events.sqlite',
    dir: '/tmp/d x',
    now,
  });
  const exportCmd = tour({
    noc: 'npx --prefix /src/loa noc',
    brokerUrl: 'mqtt://127.0.0.1:1883',
    deviceId: 'demo-box-01',
    keyFile: 'k',
    warningFile: 'w',
    eventsDb: '/tmp/d x/events.sqlite',
    heartbeatS: 10,
    now,
  })
    .split('\n')
    .find((l) => l.includes('events export'));
  assert.match(text, /The centre's archive is kept: \/tmp\/d x\/events\.sqlite/);
  assert.ok(exportCmd && text.includes(`${exportCmd}\n`), text);
  assert.match(text, /--from 2026-11-28 --to 2026-11-29/);
  assert.match(text, /^ {2}rm -r '\/tmp\/d x'$/m);
});

test('what you will hear: the chime with a card and mpg123; nothing, and why, otherwise', () => {
  const card = ' 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n';
  const heard = soundPlan({ cards: card, devSnd: true, mpg123: true });
  assert.equal(heard.output, 'alsa');
  assert.equal(heard.audible, true);
  assert.match(heard.text, /── What you will hear ──/);
  assert.match(heard.text, /sound card, ALSA device "default":\n {2}the morning bulletin about 12 s/);
  assert.match(heard.text, /Never heard, on any machine: the FM relay/);

  const cases: [Parameters<typeof soundPlan>[0], 'alsa' | 'paced', RegExp, RegExp][] = [
    [{ cards: undefined, devSnd: false, mpg123: true }, 'paced', /no \/proc\/asound\/cards/, /no sound card/],
    [{ cards: '--- no soundcards ---\n', devSnd: true, mpg123: true }, 'paced', /lists none/, /no sound card/],
    [{ cards: card, devSnd: false, mpg123: true }, 'paced', /\/dev\/snd is missing/, /no sound card/],
    [{ cards: card, devSnd: true, mpg123: false }, 'alsa', /apt-get install mpg123.*stand-in/, /no mpg123/],
  ];
  for (const [probe, output, why, summary] of cases) {
    const p = soundPlan(probe);
    assert.equal(p.audible, false, JSON.stringify(probe));
    assert.equal(p.output, output, JSON.stringify(probe));
    assert.match(p.text, /── You will hear nothing ──/);
    assert.match(p.text, why);
    assert.match(p.text, /The log and the centre's events say what would have played and when/);
    assert.match(p.summary, summary);
  }
});

test('Enter prints the tour again: one call per line, none after stop() or the end of input', async () => {
  const input = new PassThrough();
  let calls = 0;
  const stop = onEnter(input, () => calls++);
  assert.ok(stop);
  input.write('\n');
  input.write('x\n\n');
  assert.equal(calls, 3);
  stop();
  input.write('\n');
  assert.equal(calls, 3, 'nothing after stop()');

  const ended = new PassThrough();
  let after = 0;
  onEnter(ended, () => after++);
  const end = new Promise((resolve) => ended.once('end', resolve));
  ended.end('\n\n');
  await end;
  assert.equal(after, 2);
  assert.equal(ended.listenerCount('data'), 0, 'the reading stopped at the end of input');
});

test('a terminal in the background is not read (SIGTTIN would stop the demo)', () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true });
  assert.equal(
    onEnter(
      tty,
      () => undefined,
      () => false,
    ),
    undefined,
  );
  const stop = onEnter(
    tty,
    () => undefined,
    () => true,
  );
  assert.ok(stop);
  stop();
  // /proc/self/stat: pid (comm) state ppid pgrp session tty_nr tpgid; a comm with ") " in it.
  assert.equal(
    isForeground(() => '42 (a) b) S 1 42 42 34816 42 4194560'),
    true,
  );
  assert.equal(
    isForeground(() => '42 (node) S 1 42 42 34816 77 4194560'),
    false,
  );
  assert.equal(
    isForeground(() => '42 (node) S 1 42 42 0 -1 4194560'),
    false,
    'no terminal',
  );
  assert.equal(
    isForeground(() => {
      throw new Error('ENOENT');
    }),
    false,
  );
});

test('the export covers every day of the demo: from the day it started to the day after now (in Vietnam)', () => {
  const since = Date.parse('2026-11-27T16:59:30Z'); // 23:59:30 on the 27th in Asia/Ho_Chi_Minh
  const now = Date.parse('2026-11-27T17:01:00Z'); // 00:01 on the 28th
  const o = { noc: 'noc', eventsDb: '/tmp/d/events.sqlite', dir: '/tmp/d', since, now };
  assert.match(afterDemo(o), /--from 2026-11-27 --to 2026-11-29 /);
  const facts = {
    ...o,
    brokerUrl: 'mqtt://127.0.0.1:1883',
    deviceId: 'd',
    keyFile: 'k',
    warningFile: 'w',
    heartbeatS: 10,
  };
  assert.match(tour(facts), /--from 2026-11-27 --to 2026-11-29 /);
  assert.match(tour({ ...facts, since: undefined }), /--from 2026-11-28 --to 2026-11-29 /);
});
