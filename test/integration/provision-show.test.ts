// `loa-provision show` on the box the field test found (issue 30 item 3): `init --yes`
// without a trusted key, the real agent running, the centre's signed schedule arriving.
// The agent refuses it; show says the box trusts no key and lists the refusal with its
// reason and message, read from the agent's journal (here: the agent's own standard
// output through the journalctl seam, which is what journald keeps of it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DEFAULT_ROOT as ROOT, deviceTopic, groupTopic } from '../../contract/index.js';
import type { Journal } from '../../provisioning/journal.js';
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { makeKey, scheduleDoc, sign } from '../helpers/signer.js';
import { tempDir } from '../helpers/tmp.js';
import { Watcher } from '../helpers/watcher.js';
import { runCli } from './provision-rig.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.close();
});

/** journalctl -u loa-agent -o cat, as journald would answer it: the agent's lines as it wrote them. */
function journalOf(agent: AgentProcess): { journal: Journal; calls: string[][] } {
  const calls: string[][] = [];
  const journal: Journal = (args) => {
    calls.push(args);
    const lines = agent.output().split('\n').filter(Boolean);
    return {
      lines: (async function* () {
        yield* lines;
      })(),
      done: Promise.resolve({ code: 0, stderr: '' }),
      stop() {},
    };
  };
  return { journal, calls };
}

test(
  'a box without a trusted key refuses the centre; show says it trusts none and lists the refusal',
  { timeout: 120_000 },
  async () => {
    const dir = tempDir('show-refused');
    const config = join(dir, 'etc/agent.json');
    const init = await runCli([
      'init',
      '--yes',
      '--config',
      config,
      '--device-id',
      'show-box-1',
      '--groups',
      'all,c26734',
      '--broker',
      broker.url,
      ...(broker.supportsV5 ? [] : ['--mqtt-version', '3.1.1']),
      '--board',
      'sim',
      '--state-dir',
      join(dir, 'state'),
      '--cache-dir',
      join(dir, 'cache'),
      '--audio-output',
      'paced',
    ]);
    assert.equal(init.code, 0, init.out + init.err);
    const agent = spawnAgent(['--config', config]);
    const centre = await Watcher.connect(broker.url, [deviceTopic(ROOT, 'show-box-1', 'events')]);
    try {
      await agent.waitForLog(/birth published/, 20_000);
      // The demo centre's key, which this box was never given.
      const jws = await sign(scheduleDoc(), makeKey('demo-centre'));
      await centre.client.publishAsync(groupTopic(ROOT, 'c26734', 'schedule'), jws, { qos: 1, retain: true });
      await agent.waitForLog(/"code":"SCHEDULE_REJECTED"/, 20_000);
      // Its event reached the centre, so the outbox no longer holds it: the journal is what remembers.
      await centre.waitFor((m) => m.json<{ type: string }>().type === 'schedule.rejected', 10_000, 'the refusal event');

      const j = journalOf(agent);
      const s = await runCli(['show', '--config', config, '--timeout', '5'], { journal: j.journal, timeZone: 'UTC' });
      assert.equal(s.code, 0, s.out + s.err);
      assert.deepEqual(j.calls[0]!.slice(0, 5), ['-u', 'loa-agent.service', '-o', 'cat', '--no-pager']);
      assert.match(s.out, /trusted keys +none: ALL schedules and commands REFUSED/);
      assert.match(s.out, /Refused lately \(the last 1, oldest first\):/);
      assert.match(
        s.out,
        /^ {2}\d\d-\d\d \d\d:\d\d:\d\d {2}schedule unknown-key: .*demo-centre.* \(\S+\)$/m,
        "time, reason and the agent's message",
      );

      const js = await runCli(['show', '--config', config, '--json', '--timeout', '5'], { journal: j.journal });
      const parsed = JSON.parse(js.out) as { refusals: { items: { what: string; reason: string; at: string }[] } };
      assert.equal(parsed.refusals.items.length, 1);
      assert.equal(parsed.refusals.items[0]!.reason, 'unknown-key');
      assert.ok(Date.parse(parsed.refusals.items[0]!.at) <= Date.now());

      // And check says what show shows: this box cannot obey.
      const c = await runCli(['check', '--config', config], { runRoot: tempDir('run'), account: null });
      assert.equal(c.code, 1, c.out);
      assert.match(c.out, /\[FAIL\] trusted keys +none: every schedule and every command will be refused/);
    } finally {
      await centre.close();
      await agent.kill9();
    }
  },
);
