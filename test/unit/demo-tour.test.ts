// The demo's tour of the centre as text, and the demo's port from LOA_DEMO_PORT: the
// integration test (noc-tour) runs the printed commands against a real demo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoPort, nocLauncher, tour } from '../../demo/demo.js';
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
