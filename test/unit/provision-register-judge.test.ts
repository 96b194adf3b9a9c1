// register's verdict (issue 30 item 3), as data: the birth of an agent started after the
// configuration was written is the answer, whenever it was published; an agent older
// than the configuration, or stopped by systemd, is a thing to do now; only an agent
// that may be on its way is waited for. And systemd's `show` output read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUnitShow, unitText, type UnitState } from '../../provisioning/agent-unit.js';
import { judgePresence, type PresenceInput } from '../../provisioning/register-judge.js';
import { say, type Text } from '../../provisioning/text.js';

/** What the report, the JSON and the tests read: the English of a Text. */
const en = (t: Text) => say('en', t);

const T = { timeout: 10_000 };
// Every time from the run's clock.
const now = Date.now();
const iso = (ms: number) => new Date(ms).toISOString();
const configWrittenAt = now - 600_000; // init ran 10 min ago

const birth = (ts: number, bootId = 'boot-1') => ({
  online: true,
  ts: iso(ts),
  bootId,
  agentVersion: '0.2.0',
  heartbeatS: 30,
});
const heartbeat = (ts: number, uptimeS: number, bootId = 'boot-1') => ({ ts: iso(ts), bootId, uptimeS });
const active: UnitState = { active: 'active', sub: 'running', result: 'success', exitStatus: 0 };

function judge(p: Partial<PresenceInput>) {
  return judgePresence({
    status: null,
    heartbeat: null,
    configWrittenAt,
    now,
    any: false,
    deviceId: 'vn-1',
    configArg: '',
    ...p,
  });
}

test(
  'the documented order: the agent started after init, birth retained long before register: online at once',
  T,
  () => {
    // Started 5 min ago (after the config), its birth then, a heartbeat 10 s ago.
    const v = judge({ status: birth(now - 300_000), heartbeat: heartbeat(now - 10_000, 290), unit: active });
    assert.equal(v.kind, 'online');
    assert.ok(v.kind === 'online' && v.withConfig && v.startedAt === now - 300_000);
    // No systemd at all: the same.
    assert.equal(judge({ status: birth(now - 300_000), heartbeat: heartbeat(now - 10_000, 290) }).kind, 'online');
    // Before its first heartbeat: the birth's time (after the config) will do.
    assert.equal(judge({ status: birth(now - 2000) }).kind, 'online');
  },
);

test('an agent older than the configuration: restart it, at once, whatever its birth says', T, () => {
  // Started an hour ago; a reconnection re-sent its birth a minute ago (after the config).
  const v = judge({ status: birth(now - 60_000), heartbeat: heartbeat(now - 5000, 3595) });
  assert.equal(v.kind, 'act');
  assert.ok(v.kind === 'act');
  assert.match(
    en(v.problem),
    /the agent running now \(bootId boot-1\) started at .*, before the configuration was written \(.*\): it runs with the previous one/,
  );
  assert.equal(en(v.todo), 'sudo systemctl restart loa-agent, then loa-provision register again');
  // No heartbeat yet, a birth from before the config.
  const b = judge({ status: birth(now - 3_600_000), configArg: ' --config /etc/x.json' });
  assert.ok(
    b.kind === 'act' && /connected at/.test(en(b.problem)) && /register --config \/etc\/x\.json again/.test(en(b.todo)),
  );
  // --any takes it, and says so.
  const any = judge({ status: birth(now - 60_000), heartbeat: heartbeat(now - 5000, 3595), any: true });
  assert.ok(any.kind === 'online' && !any.withConfig);
  // A heartbeat of another boot does not date this one.
  assert.equal(judge({ status: birth(now - 2000, 'boot-2'), heartbeat: heartbeat(now - 5000, 3595) }).kind, 'online');
});

test(
  'stopped or failed under systemd: what to do, at once; restarting or unknown: wait, saying what the broker holds',
  T,
  () => {
    const stopped = judge({
      status: { online: false, bootId: 'b', reason: 'shutdown', ts: iso(now - 60_000) },
      unit: { active: 'inactive', sub: 'dead', result: 'success', exitStatus: 0 },
    });
    assert.ok(stopped.kind === 'act');
    assert.deepEqual(
      { ...stopped, problem: en(stopped.problem), todo: en(stopped.todo) },
      {
        kind: 'act',
        problem: 'loa-agent is not running (systemd: inactive)',
        todo: 'sudo systemctl start loa-agent, then loa-provision register again',
      },
    );
    const refused = judge({ unit: { active: 'failed', sub: 'failed', result: 'exit-code', exitStatus: 78 } });
    assert.ok(refused.kind === 'act');
    assert.match(en(refused.problem), /systemd: failed \(exit-code, status 78\)/);
    assert.match(en(refused.todo), /refused its configuration: sudo loa-provision check says why/);
    // A birth the will has not replaced yet, but systemd says the agent is gone.
    const crashed = judge({
      status: birth(now - 2000),
      unit: { active: 'failed', sub: 'failed', result: 'signal', exitStatus: 9 },
    });
    assert.ok(crashed.kind === 'act' && /loa-provision logs -n 50/.test(en(crashed.todo)));
    const restarting = judge({
      status: birth(now - 2000),
      unit: { active: 'activating', sub: 'auto-restart', result: 'exit-code', exitStatus: 70 },
    });
    assert.ok(restarting.kind === 'wait' && /restarting loa-agent after a failure/.test(en(restarting.note)));

    const none = judge({});
    assert.ok(none.kind === 'wait' && /holds no status of vn-1 yet/.test(en(none.note)));
    const off = judge({ status: { online: false, bootId: 'b', reason: 'lost' }, unit: active });
    assert.ok(
      off.kind === 'wait' &&
        /last status is offline \(lost, bootId b; systemd: active \(running\)\)/.test(en(off.note)),
    );
    // Heartbeats stopped 10 min ago (3 periods is 90 s): that agent is gone, the will not sent yet.
    const silent = judge({ status: birth(now - 3_600_000), heartbeat: heartbeat(now - 600_000, 10) });
    assert.ok(silent.kind === 'wait' && /no heartbeat for 600 s/.test(en(silent.note)));
  },
);

test("systemctl show: the unit's state, or undefined when it is not installed", T, () => {
  const u = parseUnitShow(
    'LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\nExecMainStatus=78\n',
  );
  assert.deepEqual(u, { active: 'failed', sub: 'failed', result: 'exit-code', exitStatus: 78 });
  assert.equal(unitText(u!), 'failed (exit-code, status 78)');
  assert.equal(parseUnitShow('LoadState=not-found\nActiveState=inactive\n'), undefined);
  assert.equal(parseUnitShow(''), undefined);
  assert.equal(unitText({ active: 'inactive', sub: 'dead', result: 'success', exitStatus: 0 }), 'inactive');
});
